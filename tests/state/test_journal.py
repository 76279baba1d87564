"""The write-ahead journal of the file backend: a step is an append (the state file is not
rewritten), readers replay it, a torn last line is a step that never returned, the end of a
command folds it in, and the next holder folds in what a killed writer left. Plus the delta
property both backends rely on: diffing then applying reproduces the state."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from nimctl.apply.journal import Journal
from nimctl.state.backend import StateAppender, StateLocker, StateReader, StateWriter
from nimctl.state.delta import Image, apply_delta
from nimctl.state.model import Invocation, InvocationStatus, PendingEntry, State
from nimctl.state.store import StateStore
from tests.support.state_processes import WORKER
from tests.support.state_samples import INVOCATION_ID, job_record, sample_state


def _journal_lines(store: StateStore) -> list[dict]:
    return [json.loads(line) for line in store.journal_path.read_text().splitlines()]


def _step(journal: Journal, task: str) -> None:
    record = job_record(task, journal.state.lineage)
    entry = journal.intent(
        op="submit", address=record.address, type="job", provider="local", name=record.name,
        invocation_id=INVOCATION_ID, stack="demo",
    )  # fmt: skip
    journal.resolve(entry, lambda s: s.resources.__setitem__(record.address, record))


def test_the_file_backend_implements_every_interface(store: StateStore) -> None:
    for protocol in (StateReader, StateWriter, StateAppender, StateLocker):
        assert isinstance(store, protocol), protocol


def test_steps_append_to_the_journal_without_rewriting_the_state_file(store: StateStore) -> None:
    store.write(sample_state(resources=50, pending=False))
    with store.lock("apply"):
        journal = Journal(store, store.read())
        before = os.stat(store.path)
        for i in range(20):
            _step(journal, f"new{i}")
        after = os.stat(store.path)
        assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)
        lines = _journal_lines(store)
        assert lines[0]["base_serial"] == 1 and [line["serial"] for line in lines[1:]] == list(range(2, 42))
        # each step holds what it changed, not the state: the 50 records are in none of them
        assert all(len(line["delta"]["resources"]) <= 1 for line in lines[1:])
        # a reader without the lock sees every step
        seen = StateStore(store.path).read()
        assert seen.serial == 41 and "job.demo.new19" in seen.resources and seen.pending == []
        assert seen == journal.state
    # releasing the lock folds the journal into the file
    assert not store.journal_path.exists()
    on_disk = json.loads(store.path.read_text())
    assert on_disk["serial"] == 42 and "job.demo.new19" in on_disk["resources"]
    assert StateStore(store.path).read().to_dict() == {**journal.state.to_dict(), "serial": 42}


def test_a_torn_last_line_is_a_step_that_never_returned(store: StateStore) -> None:
    store.write(sample_state(pending=False))
    with store.lock("apply"):
        journal = Journal(store, store.read())
        _step(journal, "kept")
        expected = StateStore(store.path).read()
        with open(store.journal_path, "ab") as fh:
            fh.write(b'{"serial": 4, "delta": {"resources": {"job.demo.torn": ')  # killed mid-append
        assert StateStore(store.path).read() == expected
        store._journal.fd = None  # noqa: SLF001 (as a killed process leaves it: nothing folds it in)
        store._journal.steps = 0  # noqa: SLF001
    # the next holder's read folds in the complete steps and drops the torn one
    again = StateStore(store.path)
    with again.lock("apply"):
        state = again.read()
    assert "job.demo.kept" in state.resources and "job.demo.torn" not in state.resources
    assert not again.journal_path.exists()


def test_a_writer_killed_between_steps_leaves_a_journal_the_next_holder_folds_in(state_path: Path) -> None:
    store = StateStore(state_path)
    store.write(sample_state(pending=False))
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), "journal-loop", str(state_path), "100000"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "started\n"
        for _ in range(3):
            proc.stdout.readline()  # a few steps on disk
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        proc.stdout.close()
    assert store.journal_path.exists()
    unlocked = StateStore(state_path).read()  # a reader replays it
    assert unlocked.serial > 2 and unlocked.pending == [] or len(unlocked.pending) == 1
    holder = StateStore(state_path)
    with holder.lock("apply"):
        state = holder.read()
        assert not holder.journal_path.exists()
        assert state.resources == unlocked.resources and state.serial == unlocked.serial + 1
    assert json.loads(state_path.read_text())["serial"] == state.serial


def test_a_journal_left_by_a_finished_compaction_is_ignored(store: StateStore) -> None:
    store.write(sample_state(pending=False))
    stale = {"nimctl_journal": 1, "lineage": store.read().lineage, "base_serial": 0}
    step = {"serial": 1, "delta": {"resources": {"job.demo.old": None}, "invocations": {}}}
    store.journal_path.write_text(json.dumps(stale) + "\n" + json.dumps(step) + "\n")
    state = StateStore(store.path).read()
    assert state.serial == 1
    with store.lock("apply"):
        store.read()
        assert not store.journal_path.exists()


def test_a_damaged_step_is_refused_and_nothing_is_written(store: StateStore) -> None:
    store.write(sample_state(pending=False))
    header = {"nimctl_journal": 1, "lineage": store.read().lineage, "base_serial": 1}
    store.journal_path.write_text(json.dumps(header) + "\nnot json\n")
    before = store.path.read_bytes()
    try:
        StateStore(store.path).read()
    except Exception as err:  # noqa: BLE001
        assert "journal" in str(err) and "line 2" in str(err)
    else:
        raise AssertionError("a damaged journal step was accepted")
    assert store.path.read_bytes() == before


# -- deltas -------------------------------------------------------------------------------------

operations = st.lists(
    st.tuples(st.sampled_from(["put", "drop", "observe", "intent", "clear", "invoke", "finish"]), st.integers(0, 5)),
    max_size=25,
)


def _mutate(state: State, op: str, n: int) -> None:
    address = f"job.demo.t{n}"
    if op == "put":
        state.resources[address] = job_record(f"t{n}", state.lineage)
    elif op == "drop":
        state.resources.pop(address, None)
    elif op == "observe" and address in state.resources:
        state.resources[address].observed["state"] = f"s{n}"
    elif op == "intent":
        state.pending.append(
            PendingEntry(id=uuid.uuid4().hex, op="submit", address=address, type="job",
                         provider="local", name=f"t{n}", invocation_id=INVOCATION_ID)
        )  # fmt: skip
    elif op == "clear" and state.pending:
        state.pending.pop(n % len(state.pending))
    elif op == "invoke":
        inv = state.invocations.setdefault(f"{n:016x}", Invocation(id=f"{n:016x}", command="apply"))
        if address not in inv.created:
            inv.created.append(address)
        inv.job_results[address] = {"state": f"r{n}"}
    elif op == "finish" and state.invocations:
        next(iter(state.invocations.values())).status = InvocationStatus.SUCCEEDED


@settings(max_examples=60, deadline=None)
@given(ops=operations)
def test_applying_each_delta_to_the_document_reproduces_the_state(ops) -> None:
    state = sample_state(resources=4)
    doc = copy.deepcopy(state.to_dict())
    image = Image.of(state)
    for op, n in ops:
        _mutate(state, op, n)
        delta = image.diff(state, None)
        replayed = json.loads(delta.to_json())
        apply_delta(doc, replayed)
        apply_delta(doc, replayed)  # twice is the same as once
        image.advance(delta)
        assert {**doc, "serial": state.serial} == json.loads(json.dumps(state.to_dict()))
    assert not image.diff(state, None)
