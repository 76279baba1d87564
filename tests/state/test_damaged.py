"""Files nimctl cannot trust are refused with a clear message and never changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nimctl.state.errors import StateError
from nimctl.state.model import State
from nimctl.state.store import StateStore
from tests.support.state_samples import sample_state


def _valid_bytes() -> bytes:
    return (json.dumps(sample_state().to_dict(), indent=2) + "\n").encode()


def _with(**changes: object) -> bytes:
    doc = sample_state().to_dict()
    doc.update(changes)
    return json.dumps(doc).encode()


DAMAGED = {
    "corrupt": (b'{"version": 1, "lineage": oops}', r"is not valid JSON \(Expecting value: line 1, column 27\)"),
    "truncated": (_valid_bytes()[:300], r"is not valid JSON \(.*; it looks truncated\)"),
    "empty": (b"", r"is empty \(0 bytes\)"),
    "whitespace": (b"  \n", r"is empty"),
    "binary": (b"\xff\xfe\x00garbage", r"is not UTF-8 text"),
    "list": (b"[1, 2, 3]", r"holds a JSON list, not an object"),
    "wrong type serial": (_with(serial="7"), r"serial: '7' is not of type 'integer'"),
    "wrong type resources": (_with(resources=[]), r"resources: \[\] is not of type 'object'"),
    "missing lineage": (
        json.dumps({"version": 1, "serial": 0, "resources": {}, "invocations": {}, "pending": []}).encode(),
        r"'lineage' is a required property",
    ),
    "unknown top-level key": (_with(extra_stuff=1), r"Additional properties are not allowed"),
    "bad version": (_with(version="one"), r"version: 1 was expected"),
}


@pytest.mark.parametrize("case", sorted(DAMAGED))
def test_damaged_file_is_refused_with_a_clear_message_and_left_untouched(store: StateStore, case: str) -> None:
    content, message = DAMAGED[case]
    store.path.parent.mkdir(parents=True)
    store.path.write_bytes(content)
    with pytest.raises(StateError) as caught:
        store.read()
    text = str(caught.value)
    assert str(store.path) in text
    assert "nimctl never overwrites a state file it cannot read" in text
    assert "move it away to start an empty state" in text  # what to do
    import re

    assert re.search(message, text), text
    assert store.path.read_bytes() == content
    # And writing a fresh state over it is refused too.
    with pytest.raises(StateError):
        store.write(State())
    assert store.path.read_bytes() == content
    assert sorted(p.name for p in store.path.parent.iterdir()) == ["nimctl.state.json"]


def test_hint_points_at_the_backup_when_there_is_one(store: StateStore) -> None:
    state = sample_state()
    store.write(state)
    store.write(state)
    store.path.write_bytes(b"{")
    with pytest.raises(StateError) as caught:
        store.read()
    assert f"cp {store.backup_path} {store.path}" in caught.value.hint


def test_future_version_is_refused_and_left_untouched(store: StateStore) -> None:
    content = _with(version=2, something_new={"a": 1})
    store.path.parent.mkdir(parents=True)
    store.path.write_bytes(content)
    with pytest.raises(
        StateError,
        match=r"format version 2, written by a newer nimctl; this nimctl reads "
        r"versions up to 1",
    ) as caught:
        store.read()
    assert "upgrade nimctl" in caught.value.hint
    with pytest.raises(StateError, match="refusing to overwrite"):
        store.write(State())
    assert store.path.read_bytes() == content


def test_other_lineage_on_disk_is_refused_and_left_untouched(state_path: Path) -> None:
    mine = StateStore(state_path)
    state = sample_state()
    mine.write(state)
    # Someone moves another state file into place.
    other = sample_state()
    state_path.write_text(json.dumps({**other.to_dict(), "serial": 1}))
    content = state_path.read_bytes()
    with pytest.raises(StateError, match=rf"another state \(lineage {other.lineage}\).*lineage {state.lineage}"):
        mine.write(state)
    assert state_path.read_bytes() == content


def test_directory_at_the_state_path(store: StateStore) -> None:
    store.path.mkdir(parents=True)
    with pytest.raises(StateError, match="is a directory"):
        store.read()


def test_unreadable_file(store: StateStore) -> None:
    import os

    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    store.write(State())
    store.path.chmod(0)
    with pytest.raises(StateError, match="permission denied"):
        store.read()
