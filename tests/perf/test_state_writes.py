"""State writes stay cheap as the state grows: one record per line (C encoder), the secret guard
looks only at changed records, and parallel journal steps share writes (group commit)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from nimctl.apply.journal import Journal
from nimctl.state.encoding import encode_state, state_document
from nimctl.state.errors import UnredactedSecretError
from nimctl.state.store import StateStore
from tests.support.state_samples import sample_state


def test_the_file_is_the_same_document_with_one_record_per_line(tmp_path: Path) -> None:
    state = sample_state(resources=5)
    store = StateStore(tmp_path / "s.json")
    store.write(state)
    text = store.path.read_text()
    assert json.loads(text) == json.loads(json.dumps(state_document(state) | {"serial": 1}))
    lines = text.splitlines()
    for address in state.resources:
        assert sum(line.lstrip().startswith(json.dumps(address) + ": {") for line in lines) == 1
    empty = encode_state(state_document(type(state)()))
    assert json.loads(empty)["resources"] == {} and json.loads(empty)["pending"] == []


def test_the_guard_still_sees_a_literal_secret_in_a_record_written_clean_before(tmp_path: Path) -> None:
    state = sample_state(resources=3)
    store = StateStore(tmp_path / "s.json")
    store.write(state)
    store.write(state)  # every record is now known clean
    record = state.resources["endpoint.llama-demo"]
    record.spec["api_tokens"][0]["value"] = "a-literal-token-value"
    with pytest.raises(UnredactedSecretError, match=r"resources\.endpoint\.llama-demo\.spec\.api_tokens\[0\]"):
        store.write(state)
    assert "a-literal-token-value" not in store.path.read_text()


def test_parallel_steps_share_writes_and_each_returns_only_once_persisted(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.json")
    state = sample_state(resources=1500, pending=False)  # a write takes long enough for others to queue
    store.write(state)
    journal = Journal(store, state)
    before = state.serial
    seen_on_disk: list[bool] = []
    barrier = threading.Barrier(16)

    def step(i: int) -> None:
        barrier.wait()
        journal.mutate(lambda s: s.invocations["0123456789abcdef"].job_results.__setitem__(f"job.x.t{i}", {"i": i}))
        on_disk = json.loads(store.path.read_text())["invocations"]["0123456789abcdef"]["job_results"]
        seen_on_disk.append(f"job.x.t{i}" in on_disk)  # durable before mutate returned

    threads = [threading.Thread(target=step, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen_on_disk == [True] * 16
    writes = state.serial - before
    assert 1 <= writes <= 8, f"16 parallel changes took {writes} writes (one each without group commit)"
    on_disk = json.loads(store.path.read_text())["invocations"]["0123456789abcdef"]["job_results"]
    assert {f"job.x.t{i}" for i in range(16)} <= set(on_disk)
