"""The file backend: one state file, its backups, its journal and its lock (``StateStore``).

- Writes are atomic (``nimctl.common.files.write_atomic``): the new content goes to a temp file
  in the same directory, is fsync'ed, and renamed over the state file; then the directory is
  fsync'ed. A reader (``plan`` reads without the lock) or a crash at any moment sees either the
  old file or the new one, whole.
- The previous version is kept as ``<state>.backup`` (``nimctl.state.backups``).
- The file is mode 0600; a directory nimctl creates for it is mode 0700.
- A file nimctl cannot trust — corrupt JSON, not matching the schema, written by a newer nimctl,
  belonging to another lineage, or changed by another writer since it was read — is never
  overwritten: the command stops with ``StateError`` saying what to do (reading and checking
  the file: ``nimctl.state.fileread``).
- An older format is migrated in memory (``nimctl.state.migrate``); the first write keeps the old
  file as ``<state>.v<N>.backup``.
- A literal secret about to be written is a bug and raises ``UnredactedSecretError``
  (``nimctl.state.secret_guard``).
- A journal step is an append to a write-ahead journal beside the state, ``<state>.journal``
  (``nimctl.state.journalfile``), not a rewrite of the whole file. The journal is folded into
  the state file (``compact``) when the lock is released at the end of a command, and by the
  next holder's read after a crash. A reader replays it.
- Temp files of writers killed mid-write are swept by the first write (``nimctl.state.tempfiles``).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nimctl.common.files import write_atomic
from nimctl.state.backups import backup_path, keep_backups
from nimctl.state.encoding import encode_state, record_json, state_document
from nimctl.state.errors import LockedError, StateError, StateWriteError, UnredactedSecretError
from nimctl.state.fileread import peek_lineage_and_serial, read_state_file
from nimctl.state.journalfile import JournalFile
from nimctl.state.lock import StateLock, read_lock_info
from nimctl.state.model import STATE_VERSION, State
from nimctl.state.secret_guard import find_unredacted_in_delta, find_unredacted_skipping_clean
from nimctl.state.tempfiles import sweep_stale_temps

if TYPE_CHECKING:
    from nimctl.state.delta import Delta
    from nimctl.state.lockinfo import LockInfo


@dataclass(frozen=True)
class _Seen:
    """What this store last read or wrote: lets ``write`` tell whether someone else wrote since."""

    identity: tuple[int, int, int, int]  # (device, inode, size, mtime_ns)
    lineage: str
    serial: int


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class StateStore:
    """One state file, its backup and its lock.

    ``lock_mode`` is for filesystems without ``flock``: "auto" (default) detects it.
    """

    def __init__(self, path: str | Path, *, lock_mode: str = "auto") -> None:
        self.path = Path(path)
        self.backup_path = backup_path(self.path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.lock_info_path = self.path.with_name(self.path.name + ".lock.info")
        self.journal_path = self.path.with_name(self.path.name + ".journal")
        self._journal = JournalFile(self.journal_path, self.path)
        self._lock = StateLock(self.lock_path, self.lock_info_path, self.path, mode=lock_mode)
        self._seen: _Seen | None = None
        # (lineage, serial, sha256) of the write in progress, until its bookkeeping is done.
        self._attempt: tuple[str, int, str] | None = None
        self._migrated_from: int | None = None
        self._swept = False
        # JSON texts of the resource records last written: known free of literal secrets, so the
        # guard only looks at records that changed (apply rewrites the state after every step).
        self._clean_records: set[str] = set()
        # One write at a time from this process (the applier records job outcomes from threads).
        self._write_guard = threading.Lock()
        self._holding = 0  # how deep this object holds the lock (only its holder appends or compacts)
        self.writes = 0  # whole-state writes (bench/ reports them)
        self.appends = 0  # journal steps appended

    def __repr__(self) -> str:
        return f"StateStore({str(self.path)!r})"

    @property
    def locator(self) -> str:
        """Where this state lives, as ownership markers name it (``file:<absolute path>``)."""
        from nimctl.stack.ownership import state_locator

        return state_locator(self.path)

    @property
    def location(self) -> str:
        return str(self.path)

    def exists(self) -> bool:
        return self.path.exists()

    # -- reading ---------------------------------------------------------------------------
    def read(self) -> State:
        """The state on disk, with its journal's steps; a fresh (unwritten) state when there is
        no file yet. Read by the lock's holder, a journal left by a killed writer is compacted."""
        for _ in range(5):
            state = self._load(validate=True)
            if state is not None:
                break
        else:
            raise StateError(
                f"the journal {self.journal_path} kept changing while {self.path} was read",
                hint="run the command again (another nimctl was writing)",
            )
        if self._journal.steps and self._holding:
            self.write(state)
        elif self._journal.stale and self._holding:
            self._drop_journal()
        return state

    def _load(self, *, validate: bool) -> State | None:
        """The state file with its journal replayed; None when the journal is of a newer base than
        the file just read (a compaction ran in between: read again)."""
        read = read_state_file(self.path, validate=validate)
        if read is None:
            self._seen = None
            self._journal.steps = 0
            self._journal.stale = self.journal_path.exists()
            return State()
        data = read.data
        base = data["serial"]
        steps = self._journal.replay(data)
        if steps is None:
            return None
        state = State.from_dict(data)
        self._seen = _Seen(_identity(read.stat), state.lineage, base)
        self._journal.serial = base + steps
        self._migrated_from = read.migrated_from
        return state

    # -- writing ---------------------------------------------------------------------------
    def write(self, state: State, *, force: bool = False) -> None:
        """Persist ``state`` atomically with ``serial`` + 1 (``state.serial`` is updated); the
        journal's steps are then in the file and the journal is removed. ``force``: the file may
        hold another lineage (``state push --force``). A write the file system refuses raises
        ``StateWriteError`` (the file on disk is unchanged)."""
        with self._write_guard:
            try:
                self._write(state, force=force)
            except OSError as err:
                raise self._write_error(err, "write") from None

    def _write_error(self, err: OSError, doing: str) -> StateWriteError:
        import errno as errno_mod

        name = errno_mod.errorcode.get(err.errno or 0, "") if err.errno else ""
        reason = {
            "ENOSPC": "the disk is full",
            "EDQUOT": "the disk quota is exhausted",
            "EROFS": "the file system is read-only",
            "EACCES": "permission denied",
            "EPERM": "permission denied",
            "EFBIG": "the file is larger than this process may write",
            "EIO": "an I/O error",
        }.get(name, err.strerror or type(err).__name__)
        return StateWriteError(
            f"cannot {doing} the state file {self.path}: {reason} ({name or 'OSError'}). "
            "The state file on disk is unchanged",
            hint=f"free space or make {self.path.parent} writable, then run the command again",
            errno_name=name,
        )

    def check_writable(self) -> None:
        """Prove, before a command's first side effect, that the state directory takes a write as
        large as the next state write: a probe file of that size is written, fsync'ed and removed.
        Raises ``StateWriteError`` when the directory is read-only, full or failing."""
        try:
            self._ensure_directory()
            size = self.path.stat().st_size if self.path.exists() else 0
        except OSError as err:
            raise self._write_error(err, "prepare") from None
        probe = self.path.with_name(f".{self.path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                # Room for the state growing by a few records, and for its backup's copy.
                block = b"\0" * 65536
                left = size + 65536
                while left > 0:
                    left -= os.write(fd, block[: min(left, len(block))])
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as err:
            raise self._write_error(err, "write") from None
        finally:
            with suppress(OSError):
                probe.unlink()

    def _write(self, state: State, *, force: bool = False) -> None:
        if state.version != STATE_VERSION:
            raise StateError(
                f"cannot write state format version {state.version}; this nimctl writes version {STATE_VERSION}"
            )
        self._adopt_interrupted_write(state)
        doc = state_document(state)
        doc["serial"] = state.serial + 1
        texts = {address: record_json(record) for address, record in doc["resources"].items()}
        leaks, clean = find_unredacted_skipping_clean(doc, texts, self._clean_records)
        if leaks:
            raise UnredactedSecretError(
                "refusing to write a literal secret to the state file (a bug in nimctl: specs must "
                "be redacted with nimctl.common.secrets.redact_spec first) at: " + ", ".join(leaks)
            )
        payload = encode_state(doc, texts)
        self._clean_records = clean

        self._ensure_directory()
        self._refuse_if_locked_by_another()
        self._journal.settle(state)
        self._refuse_if_changed_on_disk(state, force=force)
        attempt = (state.lineage, doc["serial"], hashlib.sha256(payload).hexdigest())

        def before_replace() -> None:
            # Once the new content is on disk: from here on, the file may be our own write.
            self._attempt = attempt
            keep_backups(self.path, self._migrated_from)

        write_atomic(self.path, payload, mode=0o600, fsync_dir=True, before_replace=before_replace)
        state.serial += 1
        self._seen = _Seen(_identity(os.stat(self.path)), state.lineage, state.serial)
        self._migrated_from = None
        self._attempt = None
        self.writes += 1
        self._drop_journal()
        if not self._swept:
            self._swept = True
            sweep_stale_temps(self.path.parent, (self.path.name, self.backup_path.name))

    # -- the write-ahead journal -----------------------------------------------------------
    def append(self, state: State, delta: Delta) -> None:
        """Persist one journal step: ``delta`` (what changed since ``state.serial``) appended to
        the journal and fsync'ed, as ``state.serial`` + 1. Without a file to follow (a fresh state)
        or without the lock, the state is written whole instead."""
        with self._write_guard:
            try:
                self._append(state, delta)
            except OSError as err:
                raise self._write_error(err, "append a step to") from None

    def _append(self, state: State, delta: Delta) -> None:
        self._journal.settle(state)
        if not self._can_append(state):
            self._write(state)
            return
        leaks = find_unredacted_in_delta(delta)
        if leaks:
            raise UnredactedSecretError(
                "refusing to write a literal secret to the state journal (a bug in nimctl: specs must "
                "be redacted with nimctl.common.secrets.redact_spec first) at: " + ", ".join(leaks)
            )
        assert self._seen is not None  # _can_append
        self._journal.append(state, delta, base_serial=self._seen.serial)
        self.appends += 1

    def _can_append(self, state: State) -> bool:
        seen = self._seen
        if seen is None or state.serial == 0 or seen.lineage != state.lineage:
            return False
        if not self._holding or self._journal.serial != state.serial:
            return False
        try:
            return _identity(os.stat(self.path)) == seen.identity  # nobody replaced the file since
        except FileNotFoundError:
            return False

    def _drop_journal(self) -> None:
        self._journal.drop(self._seen.serial if self._seen is not None else None)

    def compact(self) -> None:
        """Fold the journal into the state file (one whole write of the state it replays to)."""
        with self._write_guard:
            if not self._journal.steps and self._journal.fd is None:
                return
            state = self._load(validate=False)
            if state is None or not self._journal.steps:
                self._drop_journal()
                return
            self._write(state)

    def _adopt_interrupted_write(self, state: State) -> None:
        """A signal handled between the rename of a write and its bookkeeping (Ctrl-C during apply
        raises anywhere) leaves the file one serial ahead of ``state``. The file then holds exactly
        the bytes this store last wrote: it is our own write, not another writer's."""
        # The bookkeeping is cleared only once it has been checked: a second Ctrl-C landing in
        # this check (the cleanup after the first one writes again) must not lose it, or every
        # later write would refuse the file as another writer's.
        attempt = self._attempt
        if attempt is None:
            return
        if attempt[0] == state.lineage and attempt[1] == state.serial + 1:
            try:
                raw = self.path.read_bytes()
            except OSError:
                return  # checked again by the next write
            if hashlib.sha256(raw).hexdigest() == attempt[2]:
                state.serial = attempt[1]
        self._attempt = None

    def _ensure_directory(self) -> None:
        directory = self.path.parent
        if directory.is_dir():
            return
        missing = []
        while not directory.exists():
            missing.append(directory)
            directory = directory.parent
        for created in reversed(missing):
            try:
                created.mkdir(mode=0o700)
            except FileExistsError:
                continue  # another process made it first
            os.chmod(created, 0o700)  # mkdir's mode is filtered by the umask

    def _refuse_if_locked_by_another(self) -> None:
        """Writing without the lock is allowed (tests, one-off tools), but never while another
        process holds it: that process is about to write from the state it read."""
        if self._lock.held_here():
            return
        if self._lock.held_elsewhere():
            holder = read_lock_info(self.lock_info_path)
            who = holder.describe() if holder else "another process"
            raise LockedError(
                f"refusing to write {self.path}: it is locked by {who}",
                hint="take the state lock (StateStore.lock) before writing",
                holder=holder,
            )

    def _refuse_if_changed_on_disk(self, state: State, *, force: bool = False) -> None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return  # nothing to protect: first write (or the file was removed by the user)
        if self._seen is not None and self._seen.identity == _identity(st):
            disk_lineage, disk_serial = self._seen.lineage, self._seen.serial
        else:
            disk_lineage, disk_serial = peek_lineage_and_serial(self.path)
        if disk_lineage != state.lineage and not force:
            raise StateError(
                f"refusing to write {self.path}: the file belongs to another state (lineage "
                f"{disk_lineage}) than the one this command holds (lineage {state.lineage}). "
                "Nothing was written",
                hint="check that --state / NIMCTL_STATE name the intended file; a state file "
                "copied or moved into place would cause this",
            )
        if disk_serial > state.serial and not force:
            raise StateError(
                f"refusing to write {self.path}: another writer changed it since this command "
                f"read it (serial {disk_serial} on disk, {state.serial} when read). Nothing was written",
                hint="run the command again so that it starts from the current state",
            )

    # -- locking ---------------------------------------------------------------------------
    @contextmanager
    def lock(self, command: str, timeout: float = 0.0) -> Iterator[LockInfo]:
        """Hold the state lock for ``command``; ``LockedError`` naming the holder when another
        process has it (after waiting up to ``timeout`` seconds). Nested use in one process nests.
        A state directory that cannot hold the lock file raises ``StateWriteError``. Releasing the
        lock folds the journal into the state file."""
        with ExitStack() as stack:
            try:
                self._ensure_directory()
                info = stack.enter_context(self._lock.hold(command, timeout))
            except OSError as err:
                raise self._write_error(err, "lock") from None
            self._holding += 1
            try:
                yield info
            finally:
                try:
                    if self._holding == 1:
                        # A failed compaction leaves the journal, which the next holder folds in.
                        with suppress(OSError, StateError):
                            self.compact()
                finally:
                    self._holding -= 1

    def lock_holder(self) -> LockInfo | None:
        """Who holds the lock now (None when nobody does)."""
        if self._lock.held_here() or self._lock.held_elsewhere():
            return read_lock_info(self.lock_info_path)
        return None

    def force_unlock(self, lock_id: str) -> None:
        """Remove a lock that cannot be verified. See ``StateLock.force_unlock``."""
        self._lock.force_unlock(lock_id)
