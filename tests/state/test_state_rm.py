"""``nimctl state rm ADDRESS``: forget a resource, under the lock, keeping a backup."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nimctl.state.errors import AddressNotInState, LockedError
from nimctl.state.model import PendingEntry
from nimctl.state.remove import state_rm
from nimctl.state.store import StateStore
from tests.support.state_processes import holder
from tests.support.state_samples import INVOCATION_ID, sample_state


def test_state_rm_forgets_the_resource_and_keeps_a_backup(store: StateStore) -> None:
    state = sample_state()
    store.write(state)
    before = store.path.read_bytes()
    record = state_rm(store, "endpoint.llama-demo")
    assert record == state.resources["endpoint.llama-demo"]
    after = store.read()
    assert "endpoint.llama-demo" not in after.resources
    assert set(after.resources) == set(state.resources) - {"endpoint.llama-demo"}
    assert after.serial == 2
    assert store.backup_path.read_bytes() == before
    assert not store.lock_info_path.exists()


def test_state_rm_drops_the_addresses_pending_entries(store: StateStore) -> None:
    state = sample_state()
    state.pending.append(
        PendingEntry(
            id="1" * 32,
            op="delete",
            address="job.demo.task0000",
            type="job",
            provider="local",
            name="demo-task0000",
            invocation_id=INVOCATION_ID,
            platform_id="job-task0000",
        )
    )
    store.write(state)
    state_rm(store, "job.demo.task0000")
    assert [p.address for p in store.read().pending] == ["job.demo.extra"]


def test_state_rm_of_an_address_known_only_from_the_journal(store: StateStore) -> None:
    store.write(sample_state())
    record = state_rm(store, "job.demo.extra")
    assert (record.address, record.name, record.type, record.provider) == (
        "job.demo.extra",
        "demo-extra",
        "job",
        "local",
    )
    assert store.read().pending == []


def test_state_rm_of_an_unknown_address_suggests_close_ones(store: StateStore) -> None:
    store.write(sample_state())
    before = store.path.read_bytes()
    with pytest.raises(AddressNotInState, match=f"endpoint.llama-dmeo is not in the state {store.path}") as caught:
        state_rm(store, "endpoint.llama-dmeo")
    assert caught.value.suggestions == ["endpoint.llama-demo"]
    assert caught.value.hint == "did you mean endpoint.llama-demo?"
    with pytest.raises(AddressNotInState) as caught:
        state_rm(store, "job.demo.task000")
    assert caught.value.hint == "did you mean one of: job.demo.task0001, job.demo.task0000, job.demo.extra?"
    with pytest.raises(AddressNotInState) as caught:
        state_rm(store, "zzz")
    assert caught.value.hint == "list the addresses with: nimctl state list"
    assert store.path.read_bytes() == before


def test_state_rm_waits_for_nobody_and_changes_nothing_while_locked(state_path: Path) -> None:
    store = StateStore(state_path)
    store.write(sample_state())
    before = state_path.read_bytes()
    with holder(state_path, command="apply") as (proc, _), pytest.raises(LockedError, match=f"pid {proc.pid}"):
        state_rm(store, "endpoint.llama-demo")
    assert state_path.read_bytes() == before
    assert json.loads(before)["serial"] == 1
