"""Reading and writing: round trip, serial, backup, modes, schema, concurrency refusals."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
from pathlib import Path

import pytest

from nimctl.state.errors import StateError, UnredactedSecretError
from nimctl.state.model import Invocation, PendingEntry, ResourceRecord, State
from nimctl.state.store import StateStore
from nimctl.state.validation import SCHEMA_PATH, validate_state_dict
from tests.support.state_samples import sample_state


def test_missing_file_reads_as_fresh_state_and_is_not_written(store: StateStore) -> None:
    first, second = store.read(), store.read()
    assert first.serial == 0 and first.resources == {} and first.pending == []
    assert len(first.lineage) == 32 and first.lineage != second.lineage
    assert not store.exists() and not store.path.parent.exists()


def test_round_trip_preserves_every_field(store: StateStore) -> None:
    state = sample_state()
    store.write(state)
    again = store.read()
    assert again == state
    assert again.to_dict() == state.to_dict()
    assert isinstance(again.resources["endpoint.llama-demo"], ResourceRecord)
    assert isinstance(again.pending[0], PendingEntry)
    assert isinstance(next(iter(again.invocations.values())), Invocation)


def test_serial_increments_on_every_write_and_lineage_is_kept(store: StateStore) -> None:
    state = sample_state()
    lineage = state.lineage
    for expected in range(1, 6):
        store.write(state)
        assert state.serial == expected
        on_disk = json.loads(store.path.read_text())
        assert on_disk["serial"] == expected and on_disk["lineage"] == lineage
    assert StateStore(store.path).read().serial == 5


def test_previous_version_is_kept_as_backup(store: StateStore) -> None:
    state = sample_state()
    store.write(state)
    assert not store.backup_path.exists()  # nothing to back up on the first write
    first = store.path.read_bytes()
    del state.resources["job.demo.task0000"]
    store.write(state)
    assert store.backup_path.read_bytes() == first
    assert json.loads(store.backup_path.read_text())["serial"] == 1
    assert oct(stat.S_IMODE(store.backup_path.stat().st_mode)) == "0o600"


def test_file_mode_0600_and_created_directories_0700(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        store = StateStore(tmp_path / "a" / "b" / "nimctl.state.json")
        store.write(State())
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "a" / "b").stat().st_mode) == 0o700


def test_existing_directory_keeps_its_mode(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    StateStore(tmp_path / "nimctl.state.json").write(State())
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o755


def test_rewriting_a_world_readable_file_makes_it_0600(store: StateStore) -> None:
    state = State()
    store.write(state)
    store.path.chmod(0o644)
    store.write(state)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


def test_written_files_validate_against_the_schema(store: StateStore) -> None:
    state = sample_state(5)
    store.write(state)
    store.write(state)
    for path in (store.path, store.backup_path):
        assert validate_state_dict(json.loads(path.read_text())) == []


def test_no_temp_files_are_left_behind(store: StateStore) -> None:
    state = sample_state()
    for _ in range(3):
        store.write(state)
    assert sorted(p.name for p in store.path.parent.iterdir()) == ["nimctl.state.json", "nimctl.state.json.backup"]


def test_schema_fields_match_the_model_records() -> None:
    """Adding a field to a record needs the schema to say it too (the reader is strict)."""
    schema = json.loads(SCHEMA_PATH.read_text())
    for cls, definition in ((ResourceRecord, "resource"), (Invocation, "invocation"), (PendingEntry, "pendingEntry")):
        sub = schema["$defs"][definition]
        fields = dataclasses.fields(cls)
        assert set(sub["properties"]) == {f.name for f in fields}, cls.__name__
        no_default = {
            f.name for f in fields if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
        assert set(sub["required"]) == no_default, cls.__name__
    assert set(schema["properties"]) == {f.name for f in dataclasses.fields(State)}


def test_validate_state_dict_names_the_path_of_each_problem() -> None:
    doc = sample_state().to_dict()
    doc["resources"]["endpoint.llama-demo"]["type"] = "database"
    doc["invocations"]["0123456789abcdef"]["status"] = "exploded"
    doc["serial"] = -1
    problems = validate_state_dict(doc)
    assert any(p.startswith("resources.endpoint.llama-demo.type:") for p in problems), problems
    assert any(p.startswith("invocations.0123456789abcdef.status:") for p in problems), problems
    assert any(p.startswith("serial:") for p in problems), problems


def test_validate_state_dict_checks_keys_against_records() -> None:
    doc = sample_state().to_dict()
    doc["resources"]["endpoint.other"] = doc["resources"].pop("endpoint.llama-demo")
    assert validate_state_dict(doc) == ["resources.endpoint.other.address: 'endpoint.llama-demo' differs from its key"]


# -- refusing to clobber ----------------------------------------------------------------------


def test_write_refuses_a_state_of_another_lineage(store: StateStore) -> None:
    store.write(sample_state())
    before = store.path.read_bytes()
    stranger = State()
    with pytest.raises(StateError, match="another state .lineage"):
        store.write(stranger)
    assert store.path.read_bytes() == before
    assert stranger.serial == 0


def test_write_refuses_when_another_writer_advanced_the_serial(state_path: Path) -> None:
    first, second = StateStore(state_path), StateStore(state_path)
    first.write(sample_state())
    mine, theirs = first.read(), second.read()
    second.write(theirs)  # serial 2 on disk
    before = state_path.read_bytes()
    with pytest.raises(StateError, match=r"another writer changed it .*serial 2 on disk, 1 when read"):
        first.write(mine)
    assert state_path.read_bytes() == before
    # Starting again from the current state works.
    fresh = first.read()
    first.write(fresh)
    assert fresh.serial == 3


def test_write_refuses_an_old_state_object_from_the_same_store(store: StateStore) -> None:
    store.write(sample_state())
    old = store.read()
    current = store.read()
    store.write(current)
    with pytest.raises(StateError, match="another writer"):
        store.write(old)


def test_write_recreates_a_state_file_the_user_removed(store: StateStore) -> None:
    state = sample_state()
    store.write(state)
    store.path.unlink()
    store.write(state)
    assert store.read().serial == 2


# -- secrets ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "leak, where",
    [
        (lambda spec: spec["api_tokens"].append({"value": "literal-token"}), "api_tokens[2].value"),
        (lambda spec: spec["envs"].append({"name": "MY_API_KEY", "value": "abc"}), "envs[3].value"),
        (lambda spec: spec.__setitem__("env", {"HF_TOKEN": "hf_123"}), "env.HF_TOKEN"),
        (lambda spec: spec.__setitem__("api_key", "sk-123"), "api_key"),
        (lambda spec: spec.__setitem__("nested", {"api_tokens": [{"value": "x"}]}), "nested.api_tokens[0].value"),
    ],
)
def test_write_refuses_literal_secrets_without_showing_them(store: StateStore, leak, where: str) -> None:
    state = sample_state()
    store.write(state)
    before = store.path.read_bytes()
    leak(state.resources["endpoint.llama-demo"].spec)
    with pytest.raises(UnredactedSecretError) as caught:
        store.write(state)
    message = str(caught.value)
    assert f"resources.endpoint.llama-demo.spec.{where}" in message
    for literal in ("literal-token", "sk-123", "hf_123"):
        assert literal not in message
    assert store.path.read_bytes() == before


def test_write_refuses_literal_secrets_in_pending_entries(store: StateStore) -> None:
    state = sample_state()
    state.pending[0].spec = {"api_tokens": [{"value": "plain"}]}
    with pytest.raises(UnredactedSecretError, match=r"pending\[0\]\.spec\.api_tokens\[0\]\.value"):
        store.write(state)
    assert not store.exists()


def test_references_fingerprints_and_harmless_env_values_are_accepted(store: StateStore) -> None:
    state = sample_state()
    spec = state.resources["endpoint.llama-demo"].spec
    spec["envs"].append({"name": "SECRET_PATH", "value": ""})  # empty: nothing secret to leak
    spec["envs"].append({"name": "NIM_CACHE_PATH", "value": "/cache"})
    # Names a variable rather than holding a key: redact_spec keeps it, so the guard does too.
    state.resources["job.demo.task0000"].spec["env"]["NIMCTL_API_KEY_ENV"] = "API_KEY"
    store.write(state)
    assert store.read() == state


def test_written_document_equals_to_dict() -> None:
    """The writer's fast serialisation must stay equal to the model's own ``to_dict``."""
    from nimctl.state.encoding import state_document

    state = sample_state(4)
    assert state_document(state) == state.to_dict()
    assert json.dumps(state_document(state)) == json.dumps(state.to_dict())


def test_inlined_schema_finds_the_same_problems_as_the_schema_file() -> None:
    from jsonschema import Draft202012Validator

    plain = Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
    docs = []
    for mutate in (
        lambda d: None,
        lambda d: d["resources"]["endpoint.llama-demo"].__setitem__("platform_id", 3),
        lambda d: d["resources"].__setitem__("bogus", d["resources"]["endpoint.llama-demo"]),
        lambda d: d["invocations"]["0123456789abcdef"].__setitem__("finished_at", "soon"),
        lambda d: d["pending"][0].__setitem__("op", "explode"),
        lambda d: d.__setitem__("lineage", "not-a-uuid"),
    ):
        doc = sample_state().to_dict()
        mutate(doc)
        docs.append(doc)
    for doc in docs:
        expected = sorted(f"{list(e.absolute_path)}" for e in plain.iter_errors(doc))
        found = validate_state_dict(doc)
        assert len(found) == len(expected), (found, expected)
    assert validate_state_dict(docs[0]) == []


def test_temp_files_of_dead_writers_are_swept(store: StateStore) -> None:
    import subprocess
    import sys

    store.write(State())
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    dead_pid = int(dead.stdout)
    stale = store.path.with_name(f".nimctl.state.json.{dead_pid}.0a0b0c0d.tmp")
    recent = store.path.with_name(f".nimctl.state.json.{dead_pid}.1a1b1c1d.tmp")
    live = store.path.with_name(f".nimctl.state.json.{os.getpid()}.2a2b2c2d.tmp")
    for path in (stale, recent, live):
        path.write_text("{")
    for path in (stale, live):
        os.utime(path, (1_000_000, 1_000_000))  # long ago
    fresh_store = StateStore(store.path)
    state = fresh_store.read()
    fresh_store.write(state)
    assert not stale.exists()
    assert recent.exists() and live.exists()  # maybe still being written
    assert fresh_store.read() == state
