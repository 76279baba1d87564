"""Fail-fast and start-up figures that the tests check only as behaviour: a held state lock is
refused at once (docs/reliability.md: within a second), the Lepton emulator starts, the
stdlib-only OpenAI mock imports, and the mock server's CLI process answers ready.

    .venv/bin/python bench/fail_fast.py [--runs 9] [--save fail_fast]

Prints the median, min and max of each (after one warm-up) beside its budget, and saves them to
bench/results/<save>.json. The tests assert what makes these fast (no waiting without
--lock-timeout, the imports), never the times: a loaded machine only adds time.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import load_average, median, save  # noqa: E402
from tests.support.state_processes import holder  # noqa: E402

BUDGETS_S = {
    "state lock refused (held by another process)": 1.0,
    "emulator start": 1.0,
    "import nimctl.offline.mock_openai": 0.2,
    "mock server CLI ready": 2.0,
}


def lock_refused(state_path: Path) -> Callable[[], float]:
    from nimctl.state.errors import LockedError
    from nimctl.state.store import StateStore

    def once() -> float:
        started = time.perf_counter()
        try:
            with StateStore(state_path).lock("bench"):
                raise RuntimeError("the lock was not held by the other process")
        except LockedError:
            return time.perf_counter() - started

    return once


def emulator_start() -> float:
    from nimctl.offline.emulator.server import EmulatorOptions, EmulatorServer

    started = time.perf_counter()
    server = EmulatorServer(EmulatorOptions()).start()
    took = time.perf_counter() - started
    server.stop()
    return took


def mock_openai_import() -> float:
    code = "import time; t = time.perf_counter(); import nimctl.offline.mock_openai; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return float(out)


def mock_server_ready() -> float:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "MODEL_PORT": str(port)}
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "nimctl.offline.mock_server", "--served-model-name", "bench-model"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while time.perf_counter() - started < 60:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health/ready", timeout=2) as reply:
                    if reply.status == 200:
                        return time.perf_counter() - started
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.01)
        raise RuntimeError("the mock server never answered ready")
    finally:
        process.terminate()
        process.wait(10)


def measure(once: Callable[[], float], runs: int) -> dict[str, float]:
    once()  # warm-up: bytecode caches, first imports
    walls = [once() for _ in range(runs)]
    return {"median_s": round(median(walls), 4), "min_s": round(min(walls), 4), "max_s": round(max(walls), 4)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--save", default="fail_fast", help="results name under bench/results/ ('' = none)")
    args = parser.parse_args()

    load_before = load_average()
    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        state_path = Path(tmp) / "state" / "nimctl.state.json"
        with holder(state_path, command="bench holder", seconds=600.0):
            rows["state lock refused (held by another process)"] = measure(lock_refused(state_path), args.runs)
    rows["emulator start"] = measure(emulator_start, args.runs)
    rows["import nimctl.offline.mock_openai"] = measure(mock_openai_import, args.runs)
    rows["mock server CLI ready"] = measure(mock_server_ready, args.runs)

    print(f"load average before: {load_before}; after: {load_average()}")
    print(f"{'figure':46} {'median':>8} {'min':>8} {'max':>8} {'budget':>8}")
    for label, row in rows.items():
        budget = BUDGETS_S[label]
        verdict = "ok" if row["median_s"] < budget else "OVER BUDGET"
        print(
            f"{label:46} {row['median_s'] * 1000:6.0f}ms {row['min_s'] * 1000:6.0f}ms "
            f"{row['max_s'] * 1000:6.0f}ms {budget * 1000:6.0f}ms  {verdict}"
        )
    if args.save:
        print("saved", save(args.save, {"budgets_s": BUDGETS_S, "load_average_before": load_before, "figures": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
