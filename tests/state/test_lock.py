"""The state lock across real processes: fail fast naming the holder, never stale after kill -9."""

from __future__ import annotations

import getpass
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nimctl.state.errors import LockedError, StateError
from nimctl.state.model import State
from nimctl.state.store import StateStore
from tests.support.state_processes import WORKER, holder


def run_worker(*args: str, lock_mode: str = "auto", timeout: float = 30) -> subprocess.CompletedProcess:
    env = {**os.environ, "NIMCTL_TEST_LOCK_MODE": lock_mode}
    return subprocess.run(
        [sys.executable, str(WORKER), *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def test_second_process_fails_at_once_naming_the_holder(state_path: Path) -> None:
    # "At once" is the behaviour (no --lock-timeout: the error says it did not wait); how long
    # the refusal takes is not asserted here: a loaded machine only adds time.
    with holder(state_path) as (proc, lock_id):
        result = run_worker("try-lock", str(state_path), "destroy", "0")
        assert result.returncode == 3, result.stdout + result.stderr
        assert f"pid {proc.pid}" in result.stdout and "after waiting" not in result.stdout, result.stdout
        # The same from this process, with the details checked one by one.
        with pytest.raises(LockedError) as caught, StateStore(state_path).lock("plan"):
            pass
    text = str(caught.value)
    assert "after waiting" not in text, text
    info = caught.value.holder
    assert info is not None and info.lock_id == lock_id and info.pid == proc.pid
    for expected in (
        f"pid {proc.pid}",
        f"on {socket.gethostname()}",
        f"user {getpass.getuser()}",
        "'apply -f big.yaml'",
        f"since {info.started_at}",
        f"lock id {lock_id}",
        "--lock-timeout",
        f"nimctl force-unlock {lock_id}",
    ):
        assert expected in text, (expected, text)
    assert time.strptime(info.started_at, "%Y-%m-%dT%H:%M:%SZ")


def test_lock_metadata_file_describes_the_holder(state_path: Path) -> None:
    store = StateStore(state_path)
    with holder(state_path, command="apply") as (proc, lock_id):
        data = json.loads(store.lock_info_path.read_text())
        assert data["lock_id"] == lock_id and data["pid"] == proc.pid and data["command"] == "apply"
        assert set(data) == {"lock_id", "pid", "host", "user", "command", "started_at"}
        assert store.lock_holder().lock_id == lock_id
    # Killed: the kernel released the lock, so nobody holds it even though metadata remains.
    assert store.lock_info_path.exists()
    assert store.lock_holder() is None


def test_a_killed_holder_never_blocks_the_next_one(state_path: Path) -> None:
    store = StateStore(state_path)
    for _ in range(3):
        with holder(state_path) as (proc, lock_id):
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        with store.lock("apply") as info:  # timeout 0: taken at once, or LockedError
            assert info.lock_id != lock_id
            assert json.loads(store.lock_info_path.read_text())["lock_id"] == info.lock_id
        assert not store.lock_info_path.exists()


def test_timeout_waits_for_the_holder_to_finish(state_path: Path) -> None:
    with holder(state_path, seconds=1.0):
        result = run_worker("try-lock", str(state_path), "apply", "10")
    assert result.returncode == 0, result.stdout + result.stderr
    waited = float(result.stdout.split("after ")[1])
    assert waited > 0.3, waited  # it waited for the holder; rc 0: it got the lock within its 10 s


def test_timeout_expires_naming_the_holder(state_path: Path) -> None:
    with holder(state_path) as (proc, _):
        started = time.monotonic()
        with (
            pytest.raises(LockedError, match=rf"locked after waiting 0.6s by pid {proc.pid}"),
            StateStore(state_path).lock("apply", timeout=0.6),
        ):
            pass
        assert time.monotonic() - started >= 0.6  # a lower bound: a loaded machine only adds time


def test_release_removes_the_metadata_and_keeps_the_lock_file(store: StateStore) -> None:
    with store.lock("apply") as info:
        assert store.lock_info_path.exists() and info.pid == os.getpid()
    assert not store.lock_info_path.exists()
    assert store.lock_path.exists()  # a flock'ed file is never deleted


def test_lock_in_a_new_directory_creates_it_0700(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "new" / "nimctl.state.json")
    with store.lock("apply"):
        pass
    assert oct((tmp_path / "new").stat().st_mode & 0o777) == "0o700"
    assert oct(store.lock_path.stat().st_mode & 0o777) == "0o600"


def test_nested_lock_in_one_process_nests(store: StateStore) -> None:
    with store.lock("apply") as outer, StateStore(store.path).lock("state rm") as inner:
        assert inner == outer
        assert store.lock_info_path.exists()
    assert not store.lock_info_path.exists()


def test_writing_while_another_process_holds_the_lock_is_refused(state_path: Path) -> None:
    store = StateStore(state_path)
    store.write(State())
    before = state_path.read_bytes()
    state = store.read()
    with holder(state_path) as (proc, _), pytest.raises(LockedError) as caught:
        store.write(state)
    assert f"refusing to write {state_path}: it is locked by pid {proc.pid}" in str(caught.value)
    assert state_path.read_bytes() == before


# -- force-unlock ------------------------------------------------------------------------------


def test_force_unlock_refuses_to_take_a_live_holders_lock(state_path: Path) -> None:
    store = StateStore(state_path)
    with holder(state_path) as (proc, lock_id):
        with pytest.raises(StateError, match=r"held by a running process.*cannot be taken away") as caught:
            store.force_unlock(lock_id)
        assert f"kill {proc.pid}" in caught.value.hint
        assert store.lock_info_path.exists()
        assert proc.poll() is None


def test_force_unlock_with_the_wrong_id_names_the_current_lock(state_path: Path) -> None:
    store = StateStore(state_path)
    with holder(state_path) as (_, lock_id):
        with pytest.raises(StateError, match="lock id nope does not match") as caught:
            store.force_unlock("nope")
        assert f"nimctl force-unlock {lock_id}" in caught.value.hint


def test_force_unlock_without_a_lock(store: StateStore) -> None:
    with pytest.raises(StateError, match="has no lock to remove"):
        store.force_unlock("abc")


def test_force_unlock_removes_metadata_left_by_a_killed_holder(state_path: Path) -> None:
    store = StateStore(state_path)
    with holder(state_path) as (proc, lock_id):
        proc.kill()
        proc.wait(10)
    store.force_unlock(lock_id)
    assert not store.lock_info_path.exists()


def test_without_flock_a_dead_holders_lock_stays_until_force_unlocked(state_path: Path) -> None:
    """The info-file-only lock (filesystems without flock) cannot be verified by the kernel."""
    store = StateStore(state_path, lock_mode="file")
    with holder(state_path, lock_mode="file") as (proc, lock_id):
        result = run_worker("try-lock", str(state_path), "apply", "0", lock_mode="file")
        assert result.returncode == 3 and f"pid {proc.pid}" in result.stdout
        proc.kill()
        proc.wait(10)
    with pytest.raises(LockedError, match="no longer running, so this lock is stale") as caught, store.lock("apply"):
        pass
    assert f"nimctl force-unlock {lock_id}" in caught.value.hint
    store.force_unlock(lock_id)
    with store.lock("apply") as info:
        assert info.lock_id != lock_id
    assert not store.lock_info_path.exists()
