"""Shared helpers for the benchmark scripts: the emulator, config generation, timing, results.

Every script runs the real ``nimctl`` command line in a subprocess (as a user would) against the
Lepton emulator served from this process on 127.0.0.1, and prints medians of several runs. Nothing
here calls a non-loopback address.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
SEED = REPO / "examples" / "lepton_nim_seed_example.yaml"
ENDPOINT_TOKEN = "bench-endpoint-token"  # the emulator accepts any token; never a real one
TASKS = ("lm-evaluation-harness.ifeval", "gsm8k", "simple_evals.gpqa_diamond")

STACK_TEMPLATE = """\
defaults:
  - execution: lepton/default
  - deployment: nim
  - _self_
execution:
  output_dir: results/{name}
deployment:
  image: nvcr.io/nim/meta/llama-3.1-8b-instruct:1.8.6
  served_model_name: meta/llama-3.1-8b-instruct
  lepton_config:
    resource_shape: gpu.1xh200
    min_replicas: 1
    max_replicas: 1
    api_tokens:
      - value_from:
          token_name_ref: ENDPOINT_API_KEY
evaluation:
  tasks:
{tasks}
"""


K_TEMPLATE = """\
defaults:
  - execution: lepton/default
  - deployment: nim
  - _self_
deployment:
  image: nvcr.io/nim/meta/llama-3.1-8b-instruct:1.8.6
  served_model_name: meta/llama-3.1-8b-instruct
  lepton_config:
    endpoint_name: {endpoint}
    resource_shape: gpu.1xh200
    api_tokens:
      - value_from:
          token_name_ref: ENDPOINT_API_KEY
evaluation:
  tasks:
{tasks}
"""


def k_tasks_config(path: Path, k: int, *, endpoint: str) -> Path:
    """One stack with K evaluation tasks on one endpoint: bundled harness tasks first (their specs
    carry the run config and the runner script, like real ones), then plain container tasks."""
    from nimctl.stack.tasks import task_table

    harness = sorted(row.qualified for row in task_table().harness_rows())
    lines = []
    for i in range(k):
        if i < len(harness):
            lines.append(f"    - name: {harness[i]}")
        else:
            lines += [
                f"    - name: custom-{i:03d}",
                "      container: python:3.11-slim",
                "      command: [python, -c, \"print('ok')\"]",
            ]
    path.write_text(K_TEMPLATE.format(endpoint=endpoint, tasks="\n".join(lines)))
    return path


def nimctl_argv() -> list[str]:
    """The installed console script when it sits next to this interpreter (what users run)."""
    script = Path(sys.executable).with_name("nimctl")
    return [str(script)] if script.exists() else [sys.executable, "-m", "nimctl"]


def user_env(**extra: str) -> dict[str, str]:
    """The environment a user's shell would have: bytecode caching on (a developer shell often sets
    PYTHONDONTWRITEBYTECODE, which makes every start-up recompile nimctl), no stray nimctl/Lepton
    settings, no colour."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LEPTON_", "NIMCTL_")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    env["NO_COLOR"] = "1"
    env.update(extra)
    return env


def write_stacks(directory: Path, count: int, tasks: Sequence[str] = TASKS) -> Path:
    """``count`` stack files (one endpoint and ``len(tasks)`` jobs each) in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    task_lines = "\n".join(f"    - name: {t}" for t in tasks)
    for i in range(count):
        name = f"stack-{i:04d}"
        (directory / f"{name}.yaml").write_text(STACK_TEMPLATE.format(name=name, tasks=task_lines))
    return directory


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "load_average": load_average(),
    }


@contextmanager
def emulator(**options: Any) -> Iterator[Any]:
    """The Lepton emulator on 127.0.0.1 in this process, with the ``ENDPOINT_API_KEY`` secret set."""
    from nimctl.offline.emulator.options import EmulatorOptions
    from nimctl.offline.emulator.server import EmulatorServer

    server = EmulatorServer(EmulatorOptions(**options)).start()
    try:
        import requests

        requests.post(
            f"{server.url}/usersecrets",
            headers={"Authorization": f"Bearer {server.token}"},
            json=[{"name": "ENDPOINT_API_KEY", "value": ENDPOINT_TOKEN}],
            timeout=10,
        ).raise_for_status()
        yield server
    finally:
        server.stop()


def emulator_env(server: Any, workdir: Path, **extra: str) -> dict[str, str]:
    cache = workdir / "lepton-cache"
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "latest_version_check").write_text(str(time.time()))  # `lep` never calls PyPI
    env = user_env(**server.env())
    env.update(
        {
            "LEPTON_CACHE_DIR": str(cache),
            "NIMCTL_STATE": str(workdir / "state" / "nimctl.state.json"),
            "ENDPOINT_API_KEY": ENDPOINT_TOKEN,
        }
    )
    env.update(extra)
    return env


def request_counts(server: Any) -> dict[str, int]:
    """``METHOD route-kind`` -> count, e.g. ``GET /deployments``, ``GET /jobs`` (pages counted)."""
    counts: Counter[str] = Counter()
    for record in server.requests:
        parts = record.route.strip("/").split("/")
        kind = "/" + parts[0]
        if len(parts) > 1:
            kind += "/{id}"  # one object's name or id
        if len(parts) > 2:
            kind += "/" + "/".join(parts[2:])
        counts[f"{record.method} {kind}"] += 1
    return dict(sorted(counts.items()))


def run(
    argv: Sequence[str], env: dict[str, str], *, cwd: Path | None = None, timeout: float = 3600, check: bool = True
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """(wall seconds, completed process) for one command."""
    started = time.perf_counter()
    proc = subprocess.run(
        list(argv), env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    wall = time.perf_counter() - started
    if check and proc.returncode not in (0, 2):
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return wall, proc


def save(name: str, data: dict[str, Any]) -> Path:
    """Write ``bench/results/<name>.json`` (with the machine description) and return its path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(
        json.dumps({"machine": machine(), "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S"), **data}, indent=2) + "\n"
    )
    return path
