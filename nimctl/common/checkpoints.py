"""Named kill points: ``checkpoint(mark)`` at every moment a crash could split a side effect from
its record (``pending:<op>:<address>``, ``recorded:<op>:<address>``, ``endpoints:ready``, ...).

Takes the environment: ``NIMCTL_TRACE_FILE`` appends each mark to a file (fsync'ed, so a killed
process leaves the marks it passed), and ``NIMCTL_CRASH_AT`` (an fnmatch pattern) makes the
process send itself ``NIMCTL_CRASH_SIGNAL`` (default KILL) at the first matching mark. Gives
nothing otherwise: the reliability suite uses it to stop a real ``nimctl`` exactly there. The
journal (``apply/journal.py``) and the local platform's process starts both mark through it.
"""

from __future__ import annotations

import fnmatch
import os
import signal


def checkpoint(mark: str) -> None:
    trace_file = os.environ.get("NIMCTL_TRACE_FILE")
    if trace_file:
        with open(trace_file, "a", encoding="utf-8") as fh:
            fh.write(f"{mark}\n")
            fh.flush()
            os.fsync(fh.fileno())
    pattern = os.environ.get("NIMCTL_CRASH_AT")
    if pattern and fnmatch.fnmatchcase(mark, pattern):
        signame = os.environ.get("NIMCTL_CRASH_SIGNAL", "KILL").upper().removeprefix("SIG")
        # A catchable signal (TERM, INT) is handled by the main thread at its next step.
        os.kill(os.getpid(), getattr(signal, f"SIG{signame}"))
