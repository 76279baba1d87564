"""The state lock: one writer at a time, and a dead writer never blocks the next one.

Two files sit next to the state file:

- ``<state>.lock`` carries an OS lock (``fcntl.flock``). The kernel releases it when the holding
  process exits for any reason, including ``kill -9``, so a local state can never be left
  locked by a process that is gone. The file itself is never deleted: deleting a flock'ed file
  lets two processes lock two different inodes.
- ``<state>.lock.info`` says who holds it ({lock_id, pid, host, user, command, started_at}), so
  that a second writer can fail fast with a message naming the holder.

Where the filesystem does not support ``flock`` (some network filesystems), the info file alone
is the lock, created with ``O_EXCL``. Such a lock cannot be verified: if its holder dies it stays,
and ``nimctl force-unlock LOCK_ID`` removes it.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path

from nimctl.common.files import write_atomic
from nimctl.state.errors import LockedError, StateError
from nimctl.state.lockinfo import LockInfo

# How long a failing locker waits for the holder's metadata to appear (the holder writes it
# right after taking the kernel lock, so this only covers that tiny window).
_INFO_GRACE_S = 0.3
_POLL_INTERVAL_S = 0.05
# flock errors meaning "this filesystem cannot do it" rather than "someone holds it".
_FLOCK_UNSUPPORTED = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EINVAL}


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def read_lock_info(info_path: Path) -> LockInfo | None:
    """The holder's metadata, or None when there is none (or it is unreadable)."""
    try:
        data = json.loads(info_path.read_text(encoding="utf-8"))
        return LockInfo(
            lock_id=str(data["lock_id"]),
            pid=int(data["pid"]),
            host=str(data["host"]),
            user=str(data["user"]),
            command=str(data["command"]),
            started_at=str(data["started_at"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_info_atomically(info_path: Path, info: LockInfo) -> None:
    write_atomic(info_path, json.dumps(asdict(info), indent=2) + "\n", mode=0o600, fsync=False)


def _remove_info_if_ours(info_path: Path, lock_id: str) -> None:
    current = read_lock_info(info_path)
    if current is not None and current.lock_id == lock_id:
        with suppress(FileNotFoundError):
            info_path.unlink()


@dataclass
class _Held:
    fd: int | None  # the flock'ed descriptor; None in info-file-only mode
    info: LockInfo
    depth: int = 1


# One entry per lock path held by this process: taking the same lock again in-process (a
# command calling a helper that locks) nests instead of failing against itself.
_held: dict[str, _Held] = {}
_held_guard = threading.Lock()


class StateLock:
    """The lock of one state file. ``mode``: "auto" (flock, falling back to the info file where
    the filesystem has no flock), "flock", or "file" (info file only)."""

    def __init__(self, lock_path: Path, info_path: Path, state_path: Path, mode: str = "auto") -> None:
        if mode not in ("auto", "flock", "file"):
            raise ValueError(f"unknown lock mode {mode!r}")
        self.lock_path = lock_path
        self.info_path = info_path
        self.state_path = state_path
        self.mode = mode

    # -- taking and releasing --------------------------------------------------------------
    @contextmanager
    def hold(self, command: str, timeout: float = 0.0) -> Iterator[LockInfo]:
        key = str(self.lock_path.resolve())
        with _held_guard:
            held = _held.get(key)
            if held is not None:
                held.depth += 1
        if held is None:
            held = self._acquire(command, timeout)
            with _held_guard:
                _held[key] = held
        try:
            yield held.info
        finally:
            with _held_guard:
                held.depth -= 1
                last = held.depth == 0
                if last:
                    del _held[key]
            if last:
                self._release(held)

    def _acquire(self, command: str, timeout: float) -> _Held:
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            held = self._try_acquire(command)
            if held is not None:
                return held
            if time.monotonic() >= deadline:
                raise self._locked_error(timeout)
            time.sleep(min(_POLL_INTERVAL_S, max(deadline - time.monotonic(), 0.0)))

    def _try_acquire(self, command: str) -> _Held | None:
        info = LockInfo.for_this_process(command)
        if self.mode == "file":
            return self._try_acquire_info_file(info)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except OSError as err:
            os.close(fd)
            if self.mode == "auto" and err.errno in _FLOCK_UNSUPPORTED:
                self.mode = "file"
                return self._try_acquire_info_file(info)
            raise StateError(
                f"cannot lock {self.lock_path}: {err.strerror}", hint="check that the state directory is writable"
            ) from err
        try:
            _write_info_atomically(self.info_path, info)
        except BaseException:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            raise
        return _Held(fd=fd, info=info)

    def _try_acquire_info_file(self, info: LockInfo) -> _Held | None:
        try:
            fd = os.open(self.info_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return None
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(asdict(info), fh, indent=2)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        return _Held(fd=None, info=info)

    def _release(self, held: _Held) -> None:
        try:
            _remove_info_if_ours(self.info_path, held.info.lock_id)
        finally:
            if held.fd is not None:
                fcntl.flock(held.fd, fcntl.LOCK_UN)
                os.close(held.fd)

    # -- telling the user who holds it -----------------------------------------------------
    def _locked_error(self, timeout: float) -> LockedError:
        holder = self._wait_for_holder_info()
        waited = f" after waiting {timeout:g}s" if timeout > 0 else ""
        if holder is None:
            message = (
                f"the state {self.state_path} is locked by another process{waited} "
                f"(no lock metadata in {self.info_path})"
            )
        else:
            message = f"the state {self.state_path} is locked{waited} by {holder.describe()}"
            if self.mode == "file" and holder.on_this_host() and not process_alive(holder.pid):
                message += f"; process {holder.pid} is no longer running, so this lock is stale"
        hint = "wait for it to finish, or pass --lock-timeout SECONDS to wait for the lock"
        if holder is not None:
            hint += (
                f"; if the holder is gone and the lock cannot be verified (e.g. a network "
                f"filesystem): nimctl force-unlock {holder.lock_id}"
            )
        return LockedError(message, hint, holder=holder)

    def _wait_for_holder_info(self) -> LockInfo | None:
        deadline = time.monotonic() + _INFO_GRACE_S
        while True:
            info = read_lock_info(self.info_path)
            if info is not None or time.monotonic() >= deadline:
                return info
            time.sleep(_POLL_INTERVAL_S)

    # -- who holds it ---------------------------------------------------------------------
    def held_here(self) -> bool:
        """Whether this process holds the lock."""
        with _held_guard:
            return str(self.lock_path.resolve()) in _held

    def held_elsewhere(self) -> bool:
        """Whether another process holds the lock (call only when ``held_here()`` is False)."""
        if self.mode != "file" and self._kernel_lock_is_held():
            return True
        if self.mode == "file":
            return self.info_path.exists()
        return False

    # -- force-unlock ----------------------------------------------------------------------
    def force_unlock(self, lock_id: str) -> None:
        """Remove the lock ``lock_id`` when its holder cannot be verified.

        A kernel lock held by a live process cannot be taken away (and must not be: that
        process may be mid-write); it disappears by itself when the process exits. So this
        refuses while the kernel says the holder is alive, and otherwise removes the metadata
        (which, on a filesystem without flock, is the lock itself).
        """
        info = read_lock_info(self.info_path)
        if info is None:
            raise StateError(
                f"the state {self.state_path} has no lock to remove (no {self.info_path})",
                hint="nothing to do: the state is not locked",
            )
        if info.lock_id != lock_id:
            raise StateError(
                f"lock id {lock_id} does not match the current lock of {self.state_path}, held by {info.describe()}",
                hint=f"to remove that lock: nimctl force-unlock {info.lock_id}",
            )
        if self.mode != "file" and self._kernel_lock_is_held():
            where = "on this host" if info.on_this_host() else f"on {info.host}"
            raise StateError(
                f"lock {lock_id} is held by a running process: {info.describe()}. The operating "
                f"system keeps the lock while that process ({where}) lives and releases it "
                "as soon as it exits, even if it is killed; it cannot be taken away",
                hint=f"let it finish, or stop that process (e.g. kill {info.pid} on {info.host}). "
                "force-unlock is for locks that cannot be verified, such as a state on a "
                "filesystem without flock",
            )
        with suppress(FileNotFoundError):
            self.info_path.unlink()

    def _kernel_lock_is_held(self) -> bool:
        try:
            fd = os.open(self.lock_path, os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError as err:
            if err.errno in _FLOCK_UNSUPPORTED:
                return False  # cannot be verified: that is what force-unlock is for
            raise
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        finally:
            os.close(fd)
