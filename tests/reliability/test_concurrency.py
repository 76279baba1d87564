"""Several nimctl processes on one state file at once: writers strictly one at a time (a loser fails
fast naming the holder, or waits with --lock-timeout), readers never see a torn file, and every
version of the state validates against its schema."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import pytest

from nimctl.state.validation import validate_state_dict
from tests.support.reliability.harness import (
    LEPTON_FIVE_TASKS,
    LeptonSandbox,
    finish,
    process_stopped,
    start_nimctl,
    traceback_problems,
    wait_while,
)

pytestmark = pytest.mark.timeout(300)


class StateWatcher(threading.Thread):
    """Reads the state file (and its backup and lock metadata) as fast as it can while others
    write: every read must be complete JSON that validates, serials never go back, and the lock
    is only ever held by one of the expected writers."""

    def __init__(self, state_path: Path) -> None:
        super().__init__(daemon=True)
        self.paths = [state_path, state_path.with_name(state_path.name + ".backup")]
        self.info_path = state_path.with_name(state_path.name + ".lock.info")
        self.stop = threading.Event()
        self.reads = 0
        self.problems: list[str] = []
        self.serials: list[int] = []
        self.holders: set[int] = set()
        self.lineages: set[str] = set()

    def run(self) -> None:
        while not self.stop.is_set():
            for path in self.paths:
                self._read(path)
            try:
                self.holders.add(int(json.loads(self.info_path.read_text())["pid"]))
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.002)

    def _read(self, path: Path) -> None:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return
        self.reads += 1
        try:
            data = json.loads(raw)
        except ValueError as err:
            self.problems.append(f"torn read of {path.name} ({len(raw)} bytes): {err}")
            return
        errors = validate_state_dict(data)
        if errors:
            self.problems.append(f"{path.name} does not validate: {errors[:3]}")
        self.lineages.add(data.get("lineage"))
        if path == self.paths[0]:
            if self.serials and data["serial"] < self.serials[-1]:
                self.problems.append(f"serial went back from {self.serials[-1]} to {data['serial']}")
            self.serials.append(data["serial"])


def overlapping(invocations: dict) -> list[str]:
    spans = sorted(
        (inv["started_at"], inv.get("finished_at") or float("inf"), inv_id) for inv_id, inv in invocations.items()
    )
    return [f"{a[2]} and {b[2]} overlap" for a, b in zip(spans, spans[1:], strict=False) if b[0] < a[1]]


def test_simultaneous_writers_and_readers(lepton, tmp_path):
    """Three applies and a destroy wait their turn (--lock-timeout); two plans and a status read
    alongside; the state stays whole and valid throughout, and the platform consistent."""
    sandbox = LeptonSandbox(tmp_path, lepton, config=LEPTON_FIVE_TASKS, tasks=5, ready_after=0.2, job_duration=0.3)
    watcher = StateWatcher(sandbox.state_path)
    watcher.start()
    config = str(sandbox.config)
    commands = [
        ["apply", "-f", config, "--auto-approve", "--lock-timeout", "120"],
        ["apply", "-f", config, "--auto-approve", "--lock-timeout", "120"],
        ["destroy", "--all", "--auto-approve", "--lock-timeout", "120"],
        ["apply", "-f", config, "--auto-approve", "--lock-timeout", "120", "--no-wait"],
        ["plan", "-f", config],
        ["plan", "-f", config, "--json"],
        ["status", "--json"],
    ]
    started = time.monotonic()
    procs = [start_nimctl(args, sandbox.env, cwd=sandbox.root) for args in commands]
    results = [finish(p, args, started, timeout=200) for p, args in zip(procs, commands, strict=True)]
    watcher.stop.set()
    watcher.join()

    for result in results:
        assert traceback_problems(result) == []
        assert result.code == 0, result.describe()
    assert watcher.problems == [], watcher.problems[:5]
    # The watcher read while the writers wrote: it saw the state move (a count of events, not of
    # reads in a time window, which depends on the machine's load).
    assert len(set(watcher.serials)) >= 2 and len(watcher.lineages) == 1, watcher.serials[-5:]
    assert watcher.holders <= {p.pid for p in procs[:4]}, "only writers take the lock"
    state = sandbox.state()
    assert validate_state_dict(state) == []
    assert state["pending"] == []
    assert overlapping(state["invocations"]) == []
    assert sandbox.duplicates(max_endpoint_creates=3) == [] and sandbox.untracked() == []

    assert sandbox.destroy_all().code == 0
    assert sandbox.wait_no_leftovers() == []


def test_a_writer_holding_the_lock_refuses_others_fast_and_lets_readers_read(lepton, tmp_path):
    sandbox = LeptonSandbox(tmp_path, lepton)
    config = str(sandbox.config)
    holder_args = ["apply", "-f", config, "--auto-approve"]
    # The holder stops itself (SIGSTOP) with the lock held, right after the endpoint is ready.
    holder = start_nimctl(
        holder_args,
        {**sandbox.env, "NIMCTL_CRASH_AT": "endpoints:ready", "NIMCTL_CRASH_SIGNAL": "STOP"},
        cwd=sandbox.root,
    )
    started = time.monotonic()
    try:
        assert not wait_while(lambda: not process_stopped(holder.pid) and holder.poll() is None, 60)
        before = sandbox.state_path.read_bytes()

        for args in (
            ["apply", "-f", config, "--auto-approve"],
            ["destroy", "--all", "--auto-approve"],
            ["state", "rm", "endpoint.rel-two-tasks"],
        ):
            refused = sandbox.run(*args)
            # refused at once: no --lock-timeout, so the error says it did not wait
            assert refused.code == 1 and "after waiting" not in refused.err, refused.describe()
            assert str(holder.pid) in refused.err and "lock" in refused.err.lower(), refused.err
            assert "Traceback" not in refused.text
        waited = sandbox.run("destroy", "--all", "--auto-approve", "--lock-timeout", "1")
        assert waited.code == 1 and "after waiting 1s" in waited.err, waited.describe()
        assert str(holder.pid) in waited.err, waited.describe()
        assert waited.seconds >= 1  # a lower bound: a loaded machine only adds time

        for args in (["plan", "-f", config], ["status", "--json"], ["show", "--json"]):
            read = sandbox.run(*args)
            assert read.code == 0, read.describe()
        assert json.loads(sandbox.run("show", "--json").out)  # a complete document
        assert sandbox.state_path.read_bytes() == before, "readers and refused writers wrote nothing"

        # A writer that waits gets its turn once the holder finishes.
        waiter_args = ["destroy", "--all", "--auto-approve", "--lock-timeout", "60"]
        waiter = start_nimctl(waiter_args, sandbox.env, cwd=sandbox.root)
        time.sleep(0.5)
        assert waiter.poll() is None, "the waiting destroy did not wait"
    finally:
        holder.send_signal(signal.SIGCONT)
    assert finish(holder, holder_args, started).code == 0
    waited_destroy = finish(waiter, waiter_args, started)
    assert waited_destroy.code == 0, waited_destroy.describe()
    assert sandbox.wait_no_leftovers() == []


def test_a_killed_holder_leaves_no_stale_lock(lepton, tmp_path):
    sandbox = LeptonSandbox(tmp_path, lepton)
    args = ["apply", "-f", str(sandbox.config), "--auto-approve"]
    holder = start_nimctl(
        args, {**sandbox.env, "NIMCTL_CRASH_AT": "recorded:create:*", "NIMCTL_CRASH_SIGNAL": "STOP"}, cwd=sandbox.root
    )
    assert not wait_while(lambda: not process_stopped(holder.pid) and holder.poll() is None, 60)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    converged = sandbox.apply()  # no force-unlock needed: the kernel released the dead holder's lock
    assert converged.code == 0, converged.describe()
    assert sandbox.duplicates(max_endpoint_creates=1) == []
    assert sandbox.destroy_all().code == 0


def test_a_state_write_interrupted_anywhere_never_blocks_the_next_one(tmp_path):
    """Ctrl-C during apply raises wherever the main thread is, also inside a state write (between
    the rename and its bookkeeping, the file is one serial ahead of memory). Real SIGINTs at random
    moments of many writes: each next write must succeed and the file must always validate."""
    import os
    import random

    from nimctl.state.model import State
    from nimctl.state.store import StateStore

    store = StateStore(tmp_path / "nimctl.state.json")
    state = State()
    store.write(state)
    rng = random.Random(3)
    signals_sent = threading.Event()

    def pester() -> None:
        # A fixed number of signals, not a time window: the property must not depend on how fast the
        # machine is, only on interrupts landing at varied moments of the writes.
        for _ in range(300):
            time.sleep(rng.uniform(0.0002, 0.003))
            os.kill(os.getpid(), signal.SIGINT)
        signals_sent.set()

    interrupted = written = 0
    in_write = [False]

    def handler(signum, frame) -> None:
        # Raise only inside the write (anywhere in it); a signal landing in the loop's own
        # bookkeeping would otherwise escape the test.
        if in_write[0]:
            in_write[0] = False
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, handler)
    thread = threading.Thread(target=pester, daemon=True)
    thread.start()
    try:
        while not signals_sent.is_set() or written < 5:
            try:
                state.invocations.clear()
                in_write[0] = True
                store.write(state)
                in_write[0] = False
                written += 1
            except KeyboardInterrupt:
                interrupted += 1
        thread.join()
    finally:
        in_write[0] = False
        signal.signal(signal.SIGINT, previous)
    store.write(state)  # must not refuse: no other writer exists
    assert interrupted > 0 and written >= 5, (interrupted, written)
    on_disk = json.loads(store.path.read_text())
    assert validate_state_dict(on_disk) == [] and on_disk["serial"] == state.serial
