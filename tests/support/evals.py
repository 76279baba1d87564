"""What the real-evaluation tests share: the tests' own NeMo Evaluator framework (tests/evalfw),
an environment in which nemo-evaluator finds it, and configs whose tasks run it."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.support.cli import REPO, run_cli

EVALFW = REPO / "tests" / "evalfw"
IMAGE = "evalfw.local/nimctl-echo:1"  # a stand-in image name: these jobs run as processes
# Offline (no telemetry), and a harness stopped by its time limit is given 2 s, not 30, to end.
TASK_ENV = {
    "PYTHONPATH": str(EVALFW),
    "NEMO_EVALUATOR_TELEMETRY_LEVEL": "0",
    "NEMO_EVALUATOR_SHUTDOWN_TIMEOUT_SECONDS": "2",
}


def with_tools(env: dict[str, str]) -> dict[str, str]:
    """``env`` with this interpreter's bin directory (nemo-evaluator) first on PATH."""
    tools = os.path.dirname(sys.executable)
    return {**env, "PATH": os.pathsep.join([tools, env.get("PATH", os.defpath)])}


def echo_tasks(sleep_timeout: int = 3) -> list[dict[str, Any]]:
    """Three harness tasks of the test framework: one that scores, one whose harness fails, one
    that outlives its time limit."""
    common = {"container": IMAGE, "env_vars": dict(TASK_ENV)}
    return [
        {
            "name": "nimctl_echo.echo",
            **common,
            "nemo_evaluator_config": {"config": {"params": {"limit_samples": 6, "max_new_tokens": 19}}},
        },
        {"name": "nimctl_echo.fail", **common},
        {
            "name": "nimctl_echo.sleep",
            **common,
            "timeout": sleep_timeout,
            "nemo_evaluator_config": {"config": {"params": {"extra": {"sleep_s": 120}}}},
        },
    ]


def write_config(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def results_json(invocation: str, env: dict[str, str], cwd: Path | None = None) -> dict[str, dict[str, Any]]:
    """``nimctl results ID --json``, by job address."""
    shown = run_cli(["results", invocation, "--json"], env, cwd=cwd)
    assert shown.out, shown.text
    return {item["address"]: item for item in json.loads(shown.out)["results"]}


def accuracy(item: dict[str, Any]) -> float:
    return item["tasks"]["echo"]["metrics"]["exact_word"]["scores"]["accuracy"]["value"]
