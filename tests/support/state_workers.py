"""Subprocess entry points for the state tests: real processes competing for one state file.
The tests run it as a script, ``python tests/support/state_workers.py COMMAND ...``:

    hold-lock STATE COMMAND SECONDS [TIMEOUT]   # prints "locked <lock_id>", holds
    try-lock STATE COMMAND TIMEOUT              # prints "locked" or the LockedError
    write-loop STATE COUNT RESOURCES            # writes COUNT times, prints "wrote N"
    read-loop STATE SECONDS                     # reads repeatedly, prints "reads N"
    journal-loop STATE COUNT                    # journaled steps, prints "step N"
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from nimctl.state.errors import LockedError  # noqa: E402
from nimctl.state.store import StateStore  # noqa: E402
from tests.support.state_samples import sample_state  # noqa: E402


def _store(path: str):
    # NIMCTL_TEST_LOCK_MODE=file stands in for a filesystem without flock; a URL is PostgreSQL.
    if path.startswith("postgresql://"):
        from nimctl.state.backend import open_state

        return open_state(path)
    return StateStore(path, lock_mode=os.environ.get("NIMCTL_TEST_LOCK_MODE", "auto"))


def hold_lock(path: str, command: str, seconds: str, timeout: str = "0") -> None:
    store = _store(path)
    with store.lock(command, timeout=float(timeout)) as info:
        print(f"locked {info.lock_id}", flush=True)
        time.sleep(float(seconds))


def try_lock(path: str, command: str, timeout: str) -> None:
    store = _store(path)
    started = time.monotonic()
    try:
        with store.lock(command, timeout=float(timeout)):
            print(f"locked after {time.monotonic() - started:.3f}", flush=True)
    except LockedError as err:
        print(f"LockedError after {time.monotonic() - started:.3f}: {err}", flush=True)
        sys.exit(3)


def write_loop(path: str, count: str, resources: str) -> None:
    store = StateStore(path)
    with store.lock("write-loop"):
        state = store.read()
        template = sample_state(int(resources))
        state.resources = template.resources
        state.invocations = template.invocations
        print("started", flush=True)
        for i in range(int(count)):
            # Vary the size so that a torn file could not pass for a whole one.
            for n, record in enumerate(state.resources.values()):
                record.extra = {"iteration": i, "padding": "x" * ((i * 7 + n) % 50)}
            store.write(state)
    print(f"wrote {count}", flush=True)


def journal_loop(path: str, count: str) -> None:
    from nimctl.apply.journal import Journal
    from tests.support.state_samples import INVOCATION_ID, job_record

    store = _store(path)
    with store.lock("journal-loop"):
        journal = Journal(store, store.read())
        print("started", flush=True)
        for i in range(int(count)):
            record = job_record(f"step{i % 7}", journal.state.lineage)
            entry = journal.intent(
                op="submit",
                address=record.address,
                type="job",
                provider="local",
                name=record.name,
                invocation_id=INVOCATION_ID,
                stack="demo",
            )
            journal.resolve(entry, lambda s, r=record: s.resources.__setitem__(r.address, r))
            print(f"step {i}", flush=True)


def read_loop(path: str, writes: str) -> None:
    """Read until the file has been replaced ``writes`` times under this reader (however long that
    takes on a loaded machine; the caller's timeout bounds it): every read must be whole."""
    store = StateStore(path)
    reads, first_serial, last_serial = 0, None, -1
    while first_serial is None or last_serial - first_serial < int(writes):
        state = store.read()  # raises StateError on a torn or invalid file
        if state.serial < last_serial:
            raise SystemExit(f"serial went backwards: {last_serial} -> {state.serial}")
        first_serial = state.serial if first_serial is None else first_serial
        last_serial = state.serial
        reads += 1
    print(f"reads {reads} last_serial {last_serial}", flush=True)


if __name__ == "__main__":
    commands = {
        "hold-lock": hold_lock,
        "try-lock": try_lock,
        "write-loop": write_loop,
        "read-loop": read_loop,
        "journal-loop": journal_loop,
    }
    commands[sys.argv[1]](*sys.argv[2:])
