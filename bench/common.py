"""Shared helpers for the benchmark scripts: the emulator, config generation, timing, results.

Every script runs the real ``nimctl`` command line in a subprocess (as a user would) against the
Lepton emulator served from this process on 127.0.0.1, and prints medians of several runs. Nothing
here calls a non-loopback address.

What the tests use as well (the CLI's argv and a user's environment, generated stacks, the
emulator's request counts, stacks applied in-process) is defined once in tests/support: bench/
imports from tests/, the tests never import from bench/.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.cli import user_env

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
ENDPOINT_TOKEN = "bench-endpoint-token"  # the emulator accepts any token; never a real one


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
