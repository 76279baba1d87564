"""Run one command and record how it ended, for the local provider (stdlib only).

The local provider starts endpoints and jobs detached, in their own session, so they outlive
the ``nimctl`` process that started them. Nobody is left to ``wait()`` on them, so their exit
code would be lost; this wrapper is the process the provider starts: it runs the command as its
child (same session and process group, same stdio), waits for it, and writes an *exit file*:

    {"run_id": "...", "exit_code": 0, "signal": null, "ended_at": 1700000000.0}

``exit_code`` is the command's code, or ``128 + N`` when signal ``N`` ended it (then ``signal``
is ``N``); 127 means the command could not be started at all. The file is written atomically,
before this process exits, so whoever sees this process gone can read the file.

Usage: ``python -I runner.py --exit-file PATH --run-id ID -- ARGV...`` (run by path, not
``-m``, so it imports nothing from nimctl and starts in a few milliseconds).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

CANNOT_START = 127


def _write_exit_file(path: str, run_id: str, exit_code: int, sig: int | None) -> None:
    record = {"run_id": run_id, "exit_code": exit_code, "signal": sig, "ended_at": time.time()}
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(record, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _parse(argv: list[str]) -> tuple[str, str, list[str]]:
    if "--" not in argv:
        raise SystemExit("usage: runner.py --exit-file PATH --run-id ID -- ARGV...")
    split = argv.index("--")
    options, command = argv[:split], argv[split + 1 :]
    values = dict(zip(options[::2], options[1::2], strict=False))
    if not command or "--exit-file" not in values or "--run-id" not in values:
        raise SystemExit("usage: runner.py --exit-file PATH --run-id ID -- ARGV...")
    return values["--exit-file"], values["--run-id"], command


def main(argv: list[str] | None = None) -> int:
    exit_file, run_id, command = _parse(sys.argv[1:] if argv is None else argv)
    # Stop signals are sent to the whole process group, so the command gets them directly. The
    # runner must outlive it to record the exit code: a Python-level handler (not SIG_IGN, which
    # the command would inherit across exec) keeps it waiting.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: None)
    try:
        child = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    except OSError as err:
        print(f"nimctl: cannot start {command[0]!r}: {err}", file=sys.stderr, flush=True)
        _write_exit_file(exit_file, run_id, CANNOT_START, None)
        return CANNOT_START
    returncode = child.wait()
    signum = -returncode if returncode < 0 else None
    exit_code = 128 + signum if signum is not None else returncode
    _write_exit_file(exit_file, run_id, exit_code, signum)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
