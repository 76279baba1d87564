"""Reading and writing the state file safely.

- Writes are atomic: the new content goes to a temp file in the same directory, is fsync'ed,
  and renamed over the state file; then the directory is fsync'ed. A reader (``plan`` reads
  without the lock) or a crash at any moment sees either the old file or the new one, whole.
- The previous version is kept as ``<state>.backup`` (a hard link, so it costs no copy).
- The file is mode 0600; a directory nimctl creates for it is mode 0700.
- A file nimctl cannot trust — corrupt JSON, not matching the schema, written by a newer nimctl,
  belonging to another lineage, or changed by another writer since it was read — is never
  overwritten: the command stops with ``StateError`` saying what to do.
- An older format is migrated in memory (``nimctl.state.migrate``); the first write keeps the old
  file as ``<state>.v<N>.backup``.
- A literal secret about to be written is a bug and raises ``UnredactedSecretError``.
- A journal step is an append to a write-ahead journal beside the state, ``<state>.journal``
  (one line per step: a delta, see ``nimctl.state.delta``; fsync'ed before ``append`` returns),
  not a rewrite of the whole file: a step costs I/O in proportion to what it changed. The
  journal is folded into the state file (``compact``) when the lock is released at the end of a
  command, and by the next holder's read after a crash. A reader replays it; a torn last line (a
  kill in the middle of an append) is a step that never returned, and is ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nimctl.state.errors import (
    AddressNotInState,
    LockedError,
    StateError,
    StateWriteError,
    UnredactedSecretError,
)
from nimctl.state.lock import StateLock, process_alive, read_lock_info
from nimctl.state.lockinfo import LockInfo
from nimctl.state.model import STATE_VERSION, ResourceRecord, State

if TYPE_CHECKING:
    from nimctl.state.backend import StateBackend
    from nimctl.state.delta import Delta

__all__ = [
    "AddressNotInState",
    "LockInfo",
    "LockedError",
    "SCHEMA_PATH",
    "StateError",
    "StateStore",
    "StateWriteError",
    "UnredactedSecretError",
    "encode_state",
    "check_state_document",
    "find_unredacted_in_delta",
    "find_unredacted_secrets",
    "state_document",
    "state_rm",
    "validate_state_dict",
]

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "nimctl-state.schema.json"
_MAX_PROBLEMS_SHOWN = 8
# Temp files of writers that died mid-write are removed once they are this old (seconds).
_STALE_TEMP_AGE_S = 60.0

# ---------------------------------------------------------------------------------------------
# Schema validation


_validator: Any = None


def _schema_validator() -> Any:
    global _validator
    if _validator is None:
        from jsonschema import Draft202012Validator  # lazy: ~70 ms to import

        schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
        Draft202012Validator.check_schema(schema)
        _validator = Draft202012Validator(_inline_refs(schema, schema.get("$defs", {})))
    return _validator


_ANNOTATIONS = {"description", "title", "$comment"}


def _inline_refs(node: Any, defs: dict[str, Any], depth: int = 0) -> Any:
    """The schema with its local ``$ref``s replaced by their targets: the same rules, validated
    about twice as fast (resolving references dominates the cost for a thousand records)."""
    if depth > 20:
        raise ValueError("state schema references nest too deeply (a cycle?)")
    if isinstance(node, list):
        return [_inline_refs(item, defs, depth) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = _inline_refs(defs[ref.removeprefix("#/$defs/")], defs, depth + 1)
        siblings = {k: _inline_refs(v, defs, depth) for k, v in node.items() if k != "$ref"}
        if set(siblings) <= _ANNOTATIONS:
            return {**target, **siblings}
        return {**siblings, "allOf": [*siblings.get("allOf", []), target]}
    return {k: _inline_refs(v, defs, depth) for k, v in node.items() if k != "$defs"}


def _json_path(parts: Any) -> str:
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


def validate_state_dict(data: Any) -> list[str]:
    """Problems of a parsed state document against ``schemas/nimctl-state.schema.json`` plus the
    rules a schema cannot say (map keys equal the records' address/id). Empty when valid."""
    errors = sorted(_schema_validator().iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    problems = [f"{_json_path(e.absolute_path)}: {e.message}" for e in errors]
    if problems or not isinstance(data, dict):
        return problems
    for address, record in data["resources"].items():
        if record["address"] != address:
            problems.append(f"resources.{address}.address: {record['address']!r} differs from its key")
    for inv_id, inv in data["invocations"].items():
        if inv["id"] != inv_id:
            problems.append(f"invocations.{inv_id}.id: {inv['id']!r} differs from its key")
    return problems


VALIDATED_STATES = "valid-states.json"


def _validate_once(raw: bytes, data: Any) -> list[str]:
    """``validate_state_dict(data)``, skipped for file contents that passed before with this schema
    and this nimctl (their digests are kept in the user cache, see ``nimctl.common.usercache``). Validating
    a 1,000-stack state costs ~0.45 s and importing jsonschema ~70 ms; hashing it ~20 ms. The
    verdict is a pure function of the bytes, so any edit of the file means a full check again."""
    import hashlib

    from nimctl import __version__
    from nimctl.common.usercache import DigestSet

    scope = f"nimctl {__version__}; state v{STATE_VERSION}; schema {_schema_digest()}"
    remembered = DigestSet(VALIDATED_STATES, scope, limit=64)
    digest = hashlib.sha256(raw).hexdigest()
    if digest in remembered:
        return []
    problems = validate_state_dict(data)
    if not problems:
        remembered.add(digest)
        remembered.save()
    return problems


_schema_sha: str | None = None


def _schema_digest() -> str:
    global _schema_sha
    if _schema_sha is None:
        import hashlib

        _schema_sha = hashlib.sha256(SCHEMA_PATH.read_bytes()).hexdigest()[:16]
    return _schema_sha


# ---------------------------------------------------------------------------------------------
# The secret guard


def _literal(value: Any) -> bool:
    from nimctl.common.secrets import is_redacted

    return isinstance(value, str) and value != "" and not is_redacted(value)


def _unredacted_in_spec(spec: Any, where: str) -> list[str]:
    """Where ``spec`` holds a literal that ``nimctl.common.secrets.redact_spec`` would have redacted.
    Comparing with its output keeps this guard in step with the redaction rules."""
    from nimctl.common.secrets import redact_spec

    if not isinstance(spec, dict):
        return []
    found = _differences(spec, redact_spec(spec, salt="state-guard"), where)
    found += [path for path in _api_token_literals(spec, where) if path not in found]
    return found


def _differences(original: Any, redacted: Any, where: str) -> list[str]:
    if isinstance(original, dict) and isinstance(redacted, dict):
        found: list[str] = []
        for key, value in original.items():
            found += _differences(value, redacted.get(key), f"{where}.{key}")
        return found
    if isinstance(original, list) and isinstance(redacted, list) and len(original) == len(redacted):
        found = []
        for i, (a, b) in enumerate(zip(original, redacted, strict=True)):
            found += _differences(a, b, f"{where}[{i}]")
        return found
    return [where] if original != redacted and _literal(original) else []


def _api_token_literals(node: Any, where: str) -> list[str]:
    """``api_tokens[].value`` literals at any depth: a token value is a secret wherever it is."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "api_tokens" and isinstance(value, list):
                found += [
                    f"{where}.api_tokens[{i}].value"
                    for i, token in enumerate(value)
                    if isinstance(token, dict) and _literal(token.get("value"))
                ]
            else:
                found += _api_token_literals(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            found += _api_token_literals(item, f"{where}[{i}]")
    return found


def find_unredacted_secrets(doc: dict[str, Any]) -> list[str]:
    """Paths (never values) of literal secrets in a state document's specs."""
    found: list[str] = []
    for address, record in doc.get("resources", {}).items():
        found += _unredacted_in_spec(record.get("spec"), f"resources.{address}.spec")
    for i, entry in enumerate(doc.get("pending", [])):
        found += _unredacted_in_spec(entry.get("spec"), f"pending[{i}].spec")
    return found


def find_unredacted_in_delta(delta: Delta) -> list[str]:
    """Paths (never values) of literal secrets in the specs a journal step writes."""
    found: list[str] = []
    for where, spec in delta.changed_specs():
        found += _unredacted_in_spec(spec, where)
    return found


def check_state_document(data: dict[str, Any], raw: bytes, *, where: str) -> None:
    """Refuse a state document another backend read that does not match the state format (or
    comes from a newer nimctl). ``raw``: the bytes it was parsed from (a verdict is remembered)."""
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version > STATE_VERSION:
        raise StateError(
            f"{where} has format version {version!r}; this nimctl reads versions up to {STATE_VERSION}",
            hint="upgrade nimctl to the version that wrote it",
        )
    problems = _validate_once(raw, data)
    if problems:
        raise StateError(
            f"{where} does not match the state format (schemas/nimctl-state.schema.json):\n  "
            + "\n  ".join(problems[:_MAX_PROBLEMS_SHOWN]),
            hint="restore an earlier version (nimctl state history) or fix it by hand",
        )


# ---------------------------------------------------------------------------------------------
# The store


def _shallow(record: Any) -> dict[str, Any]:
    return {f.name: getattr(record, f.name) for f in fields(record)}


def state_document(state: State) -> dict[str, Any]:
    """Equal to ``state.to_dict()``, but sharing the records' dicts instead of deep-copying them
    (``dataclasses.asdict`` would): half the cost of a write. Only for serialising right away."""
    return {
        "version": state.version,
        "lineage": state.lineage,
        "serial": state.serial,
        "resources": {k: _shallow(v) for k, v in sorted(state.resources.items())},
        "invocations": {k: _shallow(v) for k, v in state.invocations.items()},
        "pending": [_shallow(p) for p in state.pending],
    }


def _record_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def encode_state(doc: dict[str, Any], record_texts: dict[str, str] | None = None) -> bytes:
    """The state file's text: the document with one resource, invocation or pending entry per line.

    Still one JSON document (``json.load`` reads it; ``nimctl show --json`` pretty-prints it), but
    written by the C encoder: ``json.dumps(indent=2)`` runs the pure-Python encoder, which took
    0.35 s at 4,000 resources, on every one of the state writes an apply makes. ``record_texts``
    holds resources already encoded (address -> JSON text)."""
    texts = record_texts or {}

    def block(items: list[str], opening: str, closing: str) -> str:
        if not items:
            return opening + closing
        return opening + "\n" + ",\n".join(items) + "\n  " + closing

    resources = [f"    {_record_json(a)}: {texts.get(a) or _record_json(r)}" for a, r in doc["resources"].items()]
    invocations = [f"    {_record_json(i)}: {_record_json(v)}" for i, v in doc["invocations"].items()]
    pending = [f"    {_record_json(p)}" for p in doc["pending"]]
    head = {k: v for k, v in doc.items() if k not in ("resources", "invocations", "pending")}
    lines = [f"  {_record_json(k)}: {_record_json(v)}," for k, v in head.items()]
    lines.append(f'  "resources": {block(resources, "{", "}")},')
    lines.append(f'  "invocations": {block(invocations, "{", "}")},')
    lines.append(f'  "pending": {block(pending, "[", "]")}')
    return ("{\n" + "\n".join(lines) + "\n}\n").encode("utf-8")


@dataclass(frozen=True)
class _Seen:
    """What this store last read or wrote: lets ``write`` tell whether someone else wrote since."""

    identity: tuple[int, int, int, int]  # (device, inode, size, mtime_ns)
    lineage: str
    serial: int


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class StateStore:
    """One state file, its backup and its lock.

    ``lock_mode`` is for filesystems without ``flock``: "auto" (default) detects it.
    """

    def __init__(self, path: str | Path, *, lock_mode: str = "auto") -> None:
        self.path = Path(path)
        self.backup_path = self.path.with_name(self.path.name + ".backup")
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.lock_info_path = self.path.with_name(self.path.name + ".lock.info")
        self.journal_path = self.path.with_name(self.path.name + ".journal")
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
        # The write-ahead journal: steps since the file's serial, the serial they reach, whether
        # the journal on disk is left over from a finished compaction, and the open descriptor.
        self._journal_steps = 0
        self._journal_serial = 0
        self._journal_stale = False
        self._journal_fd: int | None = None
        # (size before, size after, serial) of the append in flight, until its bookkeeping is done.
        self._appending: tuple[int, int, int] | None = None
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
        if self._journal_steps and self._holding:
            self.write(state)
        elif self._journal_stale and self._holding:
            self._drop_journal()
        return state

    def _load(self, *, validate: bool) -> State | None:
        """The state file with its journal replayed; None when the journal is of a newer base than
        the file just read (a compaction ran in between: read again)."""
        try:
            with open(self.path, "rb") as fh:
                st = os.fstat(fh.fileno())
                raw = fh.read()
        except FileNotFoundError:
            self._seen = None
            self._journal_steps = 0
            self._journal_stale = self.journal_path.exists()
            return State()
        except IsADirectoryError as err:
            raise StateError(
                f"the state path {self.path} is a directory, not a file",
                hint="pass the state file itself with --state PATH",
            ) from err
        except PermissionError as err:
            raise StateError(
                f"cannot read the state file {self.path}: permission denied",
                hint="run nimctl as the user who owns the state file",
            ) from err
        data = self._parse(raw)
        version = data.get("version")
        if isinstance(version, int) and not isinstance(version, bool) and version > STATE_VERSION:
            raise StateError(
                f"the state file {self.path} has format version {version}, written by a newer "
                f"nimctl; this nimctl reads versions up to {STATE_VERSION}. The file was not changed",
                hint="upgrade nimctl to the version that wrote this file",
            )
        migrated_from = None
        if isinstance(version, int) and not isinstance(version, bool) and version < STATE_VERSION:
            data = self._migrate(data, version)
            migrated_from = version
        if validate:
            problems = _validate_once(raw, data)
            if problems:
                raise self._damaged(
                    "does not match the state format (schemas/nimctl-state.schema.json):\n  "
                    + "\n  ".join(problems[:_MAX_PROBLEMS_SHOWN])
                    + (
                        f"\n  ... and {len(problems) - _MAX_PROBLEMS_SHOWN} more"
                        if len(problems) > _MAX_PROBLEMS_SHOWN
                        else ""
                    )
                )
        base = data["serial"]
        steps = self._replay_journal(data)
        if steps is None:
            return None
        state = State.from_dict(data)
        self._seen = _Seen(_identity(st), state.lineage, base)
        self._journal_serial = base + steps
        self._migrated_from = migrated_from
        return state

    def _replay_journal(self, data: dict[str, Any]) -> int | None:
        """Apply the journal's steps to the state document ``data`` (in place); how many there were.
        None when the journal starts after the file's serial (the file was compacted meanwhile)."""
        self._journal_steps, self._journal_stale = 0, False
        try:
            with open(self.journal_path, "rb") as fh:
                text = fh.read()
        except FileNotFoundError:
            return 0
        lines = text.split(b"\n")
        complete, torn = lines[:-1], lines[-1]  # the part after the last newline never returned
        if not complete:
            self._journal_stale = bool(torn)
            return 0
        try:
            header = json.loads(complete[0])
            lineage, base = header["lineage"], header["base_serial"]
        except (ValueError, KeyError, TypeError) as err:
            raise self._damaged_journal("has no valid first line (lineage and base serial)") from err
        if lineage != data["lineage"] or base < data["serial"]:
            self._journal_stale = True  # left by a compaction that did not get to remove it
            return 0
        if base > data["serial"]:
            return None
        from nimctl.state.delta import apply_delta

        serial = base
        for number, line in enumerate(complete[1:], start=2):
            try:
                step = json.loads(line)
                if step["serial"] != serial + 1:
                    raise ValueError(f"serial {step['serial']} after {serial}")
                apply_delta(data, step["delta"])
            except (ValueError, KeyError, TypeError, AttributeError) as err:
                raise self._damaged_journal(f"has an unreadable step on line {number} ({err})") from err
            serial += 1
        data["serial"] = serial
        self._journal_steps = serial - base
        return self._journal_steps

    def _damaged_journal(self, what: str) -> StateError:
        return StateError(
            f"the state journal {self.journal_path} {what}. nimctl never overwrites a state it cannot "
            "read; nothing was changed",
            hint=f"{self.path} holds the state before the journaled steps: move the journal away to use it "
            "(then run `nimctl plan` to see what the platform has that the state no longer records)",
        )

    def _parse(self, raw: bytes) -> dict[str, Any]:
        if not raw.strip():
            raise self._damaged(f"is empty ({len(raw)} bytes)")
        try:
            data = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as err:
            raise self._damaged(f"is not UTF-8 text (byte {err.start})") from err
        except RecursionError as err:
            raise self._damaged("is nested too deeply to be a state file") from err
        except json.JSONDecodeError as err:
            text = err.doc.rstrip()
            looks_truncated = err.pos >= len(text) or (
                err.msg.startswith("Unterminated string") and "\n" not in text[err.pos :]
            )
            truncated = "; it looks truncated" if looks_truncated else ""
            raise self._damaged(
                f"is not valid JSON ({err.msg}: line {err.lineno}, column {err.colno}{truncated})"
            ) from err
        if not isinstance(data, dict):
            raise self._damaged(f"holds a JSON {type(data).__name__}, not an object")
        return data

    def _migrate(self, data: dict[str, Any], version: int) -> dict[str, Any]:
        from nimctl.state.migrate import MigrationFailed, migrate

        try:
            return migrate(data)
        except MigrationFailed as err:
            raise self._damaged(f"claims format version {version} but cannot be migrated: {err}") from err

    def _damaged(self, what: str) -> StateError:
        backup = (
            f"restore the previous version after checking it (cp {self.backup_path} {self.path}), "
            if self.backup_path.exists()
            else ""
        )
        return StateError(
            f"the state file {self.path} {what}. nimctl never overwrites a state file it cannot "
            "read; it was not changed",
            hint=f"{backup}fix the file by hand, or move it away to start an empty state (nimctl then "
            "no longer knows what it created: remove those objects on the platform yourself)",
        )

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
        texts = {address: _record_json(record) for address, record in doc["resources"].items()}
        leaks, clean = self._guard(doc, texts)
        if leaks:
            raise UnredactedSecretError(
                "refusing to write a literal secret to the state file (a bug in nimctl: specs must "
                "be redacted with nimctl.common.secrets.redact_spec first) at: " + ", ".join(leaks)
            )
        payload = encode_state(doc, texts)
        self._clean_records = clean

        self._ensure_directory()
        self._refuse_if_locked_by_another()
        self._settle_append(state)
        self._refuse_if_changed_on_disk(state, force=force)
        tmp = self._write_temp(payload)
        self._attempt = (state.lineage, doc["serial"], hashlib.sha256(payload).hexdigest())
        try:
            self._keep_backups()
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(self.path.parent)
        state.serial += 1
        self._seen = _Seen(_identity(os.stat(self.path)), state.lineage, state.serial)
        self._migrated_from = None
        self._attempt = None
        self.writes += 1
        self._drop_journal()
        if not self._swept:
            self._swept = True
            self._sweep_stale_temps()

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
        self._settle_append(state)
        if not self._can_append(state):
            self._write(state)
            return
        leaks = find_unredacted_in_delta(delta)
        if leaks:
            raise UnredactedSecretError(
                "refusing to write a literal secret to the state journal (a bug in nimctl: specs must "
                "be redacted with nimctl.common.secrets.redact_spec first) at: " + ", ".join(leaks)
            )
        fd = self._journal_descriptor(state)
        target = state.serial + 1
        line = f'{{"serial":{target},"delta":{delta.to_json()}}}\n'.encode()
        before = os.fstat(fd).st_size
        self._appending = (before, before + len(line), target)
        view = memoryview(line)
        while view:
            view = view[os.write(fd, view) :]
        os.fdatasync(fd)
        state.serial = target
        self._journal_serial = target
        self._journal_steps += 1
        self.appends += 1
        self._appending = None

    def _settle_append(self, state: State) -> None:
        """An append whose bookkeeping a signal cut short: landed whole (then ``state`` is one
        serial further; the next delta repeats its change, which is harmless), not at all, or
        partly (then the torn part is cut off)."""
        appending, self._appending = self._appending, None
        if appending is None or self._journal_fd is None:
            return
        before, after, target = appending
        size = os.fstat(self._journal_fd).st_size
        if size >= after:
            if state.serial == target - 1:
                state.serial = target
            self._journal_serial, self._journal_steps = target, self._journal_steps + 1
        elif size != before:
            os.ftruncate(self._journal_fd, before)

    def _can_append(self, state: State) -> bool:
        seen = self._seen
        if seen is None or state.serial == 0 or seen.lineage != state.lineage:
            return False
        if not self._holding or self._journal_serial != state.serial:
            return False
        try:
            return _identity(os.stat(self.path)) == seen.identity  # nobody replaced the file since
        except FileNotFoundError:
            return False

    def _journal_descriptor(self, state: State) -> int:
        if self._journal_fd is not None:
            return self._journal_fd
        assert self._seen is not None
        if self._journal_steps == 0:
            self.journal_path.unlink(missing_ok=True)  # a leftover of a finished compaction
        fd = os.open(self.journal_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        if os.fstat(fd).st_size == 0:
            header = {"nimctl_journal": 1, "lineage": state.lineage, "base_serial": self._seen.serial}
            os.write(fd, (json.dumps(header) + "\n").encode())
            _fsync_dir(self.path.parent)
        self._journal_fd = fd
        return fd

    def _drop_journal(self) -> None:
        """The file now holds every step: the journal goes (a crash before the unlink leaves a
        journal whose base is older than the file, which readers ignore)."""
        if self._journal_fd is not None:
            os.close(self._journal_fd)
            self._journal_fd = None
        self.journal_path.unlink(missing_ok=True)
        self._journal_steps, self._journal_stale = 0, False
        if self._seen is not None:
            self._journal_serial = self._seen.serial

    def compact(self) -> None:
        """Fold the journal into the state file (one whole write of the state it replays to)."""
        with self._write_guard:
            if not self._journal_steps and self._journal_fd is None:
                return
            state = self._load(validate=False)
            if state is None or not self._journal_steps:
                self._drop_journal()
                return
            self._write(state)

    def _guard(self, doc: dict[str, Any], texts: dict[str, str]) -> tuple[list[str], set[str]]:
        """``find_unredacted_secrets(doc)``, skipping resource records written unchanged before.
        Returns (leaks, the texts of the records found clean)."""
        leaks: list[str] = []
        clean: set[str] = set()
        for address, record in doc["resources"].items():
            text = texts[address]
            if text in self._clean_records:
                clean.add(text)
                continue
            found = _unredacted_in_spec(record.get("spec"), f"resources.{address}.spec")
            if found:
                leaks += found
            else:
                clean.add(text)
        for i, entry in enumerate(doc.get("pending", [])):
            leaks += _unredacted_in_spec(entry.get("spec"), f"pending[{i}].spec")
        return leaks, clean

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
            disk_lineage, disk_serial = self._peek_lineage_and_serial()
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

    def _peek_lineage_and_serial(self) -> tuple[str, int]:
        """The identity of the file on disk, which must be one nimctl can read: a damaged or
        newer file is never overwritten."""
        with open(self.path, "rb") as fh:
            data = self._parse(fh.read())
        version, lineage, serial = data.get("version"), data.get("lineage"), data.get("serial")
        if not isinstance(version, int) or isinstance(version, bool) or version > STATE_VERSION:
            raise StateError(
                f"refusing to overwrite {self.path}: it has format version {version!r}, "
                f"not one this nimctl knows (up to {STATE_VERSION})",
                hint="upgrade nimctl, or move that file away",
            )
        if not isinstance(lineage, str) or not isinstance(serial, int) or isinstance(serial, bool):
            raise self._damaged("has no valid lineage/serial")
        return lineage, serial

    def _write_temp(self, payload: bytes) -> Path:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        return tmp

    def _keep_backups(self) -> None:
        if not self.path.exists():
            return
        self._link_or_copy(self.path, self.backup_path)
        if self._migrated_from is not None:
            versioned = self.path.with_name(f"{self.path.name}.v{self._migrated_from}.backup")
            if not versioned.exists():  # the oldest original is the one worth keeping
                self._link_or_copy(self.path, versioned)

    def _link_or_copy(self, source: Path, target: Path) -> None:
        """Make ``target`` an exact copy of ``source``, replacing it atomically."""
        tmp = target.with_name(f".{target.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
        try:
            os.link(source, tmp)  # same inode: the old state lives on under the backup name
        except OSError:
            data = source.read_bytes()
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
        try:
            os.chmod(tmp, 0o600)
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _sweep_stale_temps(self) -> None:
        """Remove temp files left by writers killed mid-write (their pid is gone)."""
        import time

        prefixes = (f".{self.path.name}.", f".{self.backup_path.name}.")
        try:
            entries = list(os.scandir(self.path.parent))
        except OSError:
            return
        for entry in entries:
            if not (entry.name.startswith(prefixes) and entry.name.endswith(".tmp")):
                continue
            pid_text = entry.name[: -len(".tmp")].split(".")[-2]
            try:
                stale = not process_alive(int(pid_text)) and time.time() - entry.stat().st_mtime > _STALE_TEMP_AGE_S
            except (ValueError, OSError):
                continue
            if stale:
                with suppress(OSError):
                    os.unlink(entry.path)

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


# ---------------------------------------------------------------------------------------------
# State commands


def state_rm(store: StateBackend, address: str, *, lock_timeout: float = 0.0) -> ResourceRecord:
    """Forget ``address`` without touching the platform (``nimctl state rm``). Also drops the
    address's pending journal entries, so that no later run acts on it. The previous state is
    kept as ``<state>.backup``. Returns the forgotten record."""
    import difflib

    with store.lock(f"state rm {address}", timeout=lock_timeout):
        state = store.read()
        pending = [p for p in state.pending if p.address == address]
        record = state.resources.get(address)
        if record is None and not pending:
            known = sorted(set(state.resources) | {p.address for p in state.pending})
            suggestions = difflib.get_close_matches(address, known, n=3, cutoff=0.5)
            if len(suggestions) == 1:
                hint = f"did you mean {suggestions[0]}?"
            elif suggestions:
                hint = f"did you mean one of: {', '.join(suggestions)}?"
            else:
                hint = "list the addresses with: nimctl state list"
            raise AddressNotInState(
                f"{address} is not in the state {store.location}", hint=hint, suggestions=suggestions
            )
        if record is None:
            # Only an interrupted operation knows it: describe the object from its journal entry.
            last = pending[-1]
            record = ResourceRecord(
                address=address,
                type=last.type,
                provider=last.provider,
                stack=last.stack,
                name=last.name,
                platform_id=last.platform_id,
                spec=last.spec,
                inputs_hash=last.inputs_hash,
                invocation_id=last.invocation_id,
            )
        else:
            del state.resources[address]
        state.pending[:] = [p for p in state.pending if p.address != address]
        store.write(state)
        return record
