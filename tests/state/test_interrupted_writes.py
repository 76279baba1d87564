"""Ctrl-C inside state writes: the store's bookkeeping survives a second one, and a directory
that refuses writes is reported as such (no OSError escapes)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nimctl.common import files as files_module
from nimctl.state.errors import StateWriteError
from nimctl.state.model import State
from nimctl.state.store import StateStore


def _interrupt_once(monkeypatch: pytest.MonkeyPatch, target: object, name: str) -> None:
    original = getattr(target, name)
    calls = {"n": 0}

    def once(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(target, name, once)


def test_a_second_ctrl_c_while_the_first_one_is_recognised_keeps_the_store_writable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = StateStore(tmp_path / "state" / "nimctl.state.json")
    state = State()
    store.write(state)
    # First Ctrl-C: after the rename, before the write's bookkeeping (the file is one serial ahead).
    _interrupt_once(monkeypatch, files_module, "fsync_directory")
    with pytest.raises(KeyboardInterrupt):
        store.write(state)
    # Second Ctrl-C: while the next write checks that the file is its own last write.
    _interrupt_once(monkeypatch, Path, "read_bytes")
    with pytest.raises(KeyboardInterrupt):
        store.write(state)
    store.write(state)  # the cleanup's write: not refused as "another writer changed it"
    assert StateStore(store.path).read().serial == state.serial == 3


def test_a_read_only_directory_gives_a_state_write_error(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only directories (tests/reliability/test_storage.py mounts one)")
    directory = tmp_path / "state"
    store = StateStore(directory / "nimctl.state.json")
    store.write(State())
    directory.chmod(0o500)
    try:
        with pytest.raises(StateWriteError, match="permission denied"):
            store.check_writable()
        with pytest.raises(StateWriteError):
            store.write(store.read())
    finally:
        directory.chmod(0o700)
