"""Running an emulated job's command for real: a local process with the job's environment.

The world (``world.py``) asks for this only for jobs whose image matches the
``run_job_images`` option. The command runs as given (an argv list, never through a shell);
``python`` / ``python3`` as its first word means this interpreter, since the image itself is not
pulled. The environment is what a Lepton container would see: the job's env entries (secret
references resolved from the workspace's secrets) plus the variables the platform sets
(``LEPTON_WORKSPACE_ID``, ``LEPTON_JOB_NAME``), over a minimal base (no proxy settings, no
credentials of the emulator's own process).

``start`` returns at once; ``on_exit(code, lines)`` is called from a watcher thread when the
process ends. ``JobProcess.kill`` ends it early (job stopped or deleted, emulator stopped).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable

BASE_ENV_KEYS = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR")
PYTHONS = frozenset({"python", "python3"})
MAX_OUTPUT_LINES = 2000


class JobProcess:
    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def argv_for(command: list[str]) -> list[str]:
    if command and command[0] in PYTHONS:
        return [sys.executable, *command[1:]]
    return list(command)


def start(command: list[str], env: dict[str, str], on_exit: Callable[[int, list[str]], None]) -> JobProcess:
    base = {k: os.environ[k] for k in BASE_ENV_KEYS if k in os.environ}
    proc = subprocess.Popen(  # noqa: S603 - an argv list from the job spec, no shell
        argv_for(command),
        env={**base, **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, so a kill takes its children too
    )

    def watch() -> None:
        lines: list[str] = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            del lines[:-MAX_OUTPUT_LINES]
        code = proc.wait()
        on_exit(code, lines)

    threading.Thread(target=watch, name=f"emulated-job-{proc.pid}", daemon=True).start()
    return JobProcess(proc)
