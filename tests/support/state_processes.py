"""Real processes on one state file for the state tests: ``WORKER``, the path of the worker script
(tests/support/state_workers.py, run as ``python WORKER COMMAND ...``), and ``holder``, a separate
process holding the state lock for as long as the ``with`` block runs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

WORKER = Path(__file__).resolve().with_name("state_workers.py")


@contextmanager
def holder(
    state_path: Path, command: str = "apply -f big.yaml", seconds: float = 30.0, lock_mode: str = "auto"
) -> Iterator[tuple[subprocess.Popen, str]]:
    """A separate process holding the lock; yields it and its lock id once it holds it."""
    env = {**os.environ, "NIMCTL_TEST_LOCK_MODE": lock_mode}
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), "hold-lock", str(state_path), command, str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("locked "), line
        yield proc, line.split()[1]
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        proc.stdout.close()
