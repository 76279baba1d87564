"""Older formats are migrated in memory; the first write keeps the old file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from nimctl.state.errors import StateError
from nimctl.state.migrate import MigrationFailed, migrate
from nimctl.state.model import STATE_VERSION
from nimctl.state.store import StateStore
from nimctl.state.validation import validate_state_dict

V0_FIXTURE = Path(__file__).parent / "fixtures" / "state_v0.json"


@pytest.fixture()
def v0_store(state_path: Path) -> StateStore:
    state_path.parent.mkdir(parents=True)
    shutil.copyfile(V0_FIXTURE, state_path)
    return StateStore(state_path)


def test_v0_fixture_is_not_valid_as_current_version() -> None:
    assert validate_state_dict(json.loads(V0_FIXTURE.read_text())) != []


def test_migrate_v0_gives_a_valid_current_document() -> None:
    original = json.loads(V0_FIXTURE.read_text())
    doc = migrate(original)
    assert doc["version"] == STATE_VERSION
    assert validate_state_dict(doc) == []
    assert original["version"] == 0 and "pending" not in original  # input not modified
    endpoint = doc["resources"]["endpoint.llama-demo"]
    assert endpoint["observed"] == {"state": "ready", "platform_state": "running", "url": "http://127.0.0.1:41234"}
    assert endpoint["extra"] == {} and "state" not in endpoint and "url" not in endpoint
    assert doc["resources"]["job.demo.smoke"]["observed"] == {"state": "succeeded", "platform_state": "exited 0"}
    assert doc["invocations"]["00112233445566aa"]["created"] == ["endpoint.llama-demo", "job.demo.smoke"]
    assert doc["pending"] == []
    assert (doc["lineage"], doc["serial"]) == (original["lineage"], original["serial"])


def test_reading_v0_migrates_in_memory_without_touching_the_file(v0_store: StateStore) -> None:
    before = v0_store.path.read_bytes()
    state = v0_store.read()
    assert state.version == STATE_VERSION and state.serial == 7
    assert state.resources["endpoint.llama-demo"].observed["url"] == "http://127.0.0.1:41234"
    assert state.invocations["00112233445566aa"].created == ["endpoint.llama-demo", "job.demo.smoke"]
    assert v0_store.path.read_bytes() == before
    assert not v0_store.backup_path.exists()


def test_first_write_after_migration_keeps_the_old_file(v0_store: StateStore) -> None:
    before = v0_store.path.read_bytes()
    state = v0_store.read()
    v0_store.write(state)
    versioned = v0_store.path.with_name("nimctl.state.json.v0.backup")
    assert versioned.read_bytes() == before
    assert v0_store.backup_path.read_bytes() == before
    on_disk = json.loads(v0_store.path.read_text())
    assert on_disk["version"] == STATE_VERSION and on_disk["serial"] == 8
    assert validate_state_dict(on_disk) == []
    # Later writes rotate the ordinary backup but keep the v0 original.
    v0_store.write(state)
    assert versioned.read_bytes() == before
    assert json.loads(v0_store.backup_path.read_text())["version"] == STATE_VERSION
    assert StateStore(v0_store.path).read() == state


def test_a_v0_file_that_is_not_v0_shaped_is_refused(state_path: Path) -> None:
    state_path.parent.mkdir(parents=True)
    content = json.dumps(
        {
            "version": 0,
            "lineage": "5f0c1a2b3c4d4e5f8a9b0c1d2e3f4a5b",
            "serial": 1,
            "resources": {"endpoint.x": "not a record"},
            "invocations": {},
        }
    ).encode()
    state_path.write_bytes(content)
    with pytest.raises(StateError, match="claims format version 0 but cannot be migrated"):
        StateStore(state_path).read()
    assert state_path.read_bytes() == content


def test_negative_version_cannot_be_migrated() -> None:
    with pytest.raises(MigrationFailed):
        migrate({"version": -1})
