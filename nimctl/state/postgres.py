"""The state in PostgreSQL, for a team sharing one state (``--state postgresql://...``).

Takes a URL ``postgresql://user[:password]@host:port/db[?schema=S][&state=NAME]`` (other query
parameters go to libpq: ``sslmode``, ``connect_timeout``...; the password is better kept in
``PGPASSWORD`` or ``~/.pgpass``) and gives the same document semantics as the file (lineage,
serial, journal, invocations). Four tables in schema ``S`` (default ``nimctl``), one row set per
state ``NAME`` (default ``default``):

- ``states``: the current serial and lineage of each state, and which snapshot its steps start from;
- ``snapshots``: whole versions (one per ``write`` and per compaction), all kept;
- ``steps``: one row per journal step, a delta (``nimctl.state.delta``), all kept: a step is an
  insert, not a rewrite, and every serial's version can be rebuilt (``nimctl state history``);
- ``locks``: who holds each state's lock (pid, host, user, command, since, PostgreSQL session).

Locking is a session advisory lock keyed by the state's identity (schema and name; no lock is
shared between states, and creating a state takes none). The server drops it the moment the
holder's connection ends, so a killed nimctl frees the state at once. The holder writes its row in
the same session right after taking the lock, so a refusal names the holder, checked against
``pg_locks``. Every write is a compare-and-swap on the serial, and is conditional, inside the same
statement, on this session holding the lock: a process that lost its lock (or sits behind a
transaction-pooling PgBouncer that moved it to another server session) can never overwrite.

psycopg (3) is imported only here, when a URL names PostgreSQL: ``pip install 'nimctl[postgres]'``.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from nimctl.state.errors import LockedError, StateError, UnredactedSecretError
from nimctl.state.lockinfo import LockInfo, current_user
from nimctl.state.model import STATE_VERSION, State, Version

if TYPE_CHECKING:
    from nimctl.state.delta import Delta

T = TypeVar("T")
DEFAULT_SCHEMA = "nimctl"
DEFAULT_STATE = "default"
CONNECT_TIMEOUT_S = 10
_POLL_INTERVAL_S = 0.1
_HOLDER_GRACE_S = 0.5  # the holder writes its row right after taking the lock
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_")


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as err:
        raise StateError(
            "a PostgreSQL state needs the psycopg package, which is not installed",
            hint="pip install 'nimctl[postgres]'",
        ) from err
    return psycopg


def lock_key(schema: str, name: str) -> int:
    """The advisory lock key of a state: 64 bits of its identity (signed, as PostgreSQL wants)."""
    digest = hashlib.sha256(f"nimctl-state\0{schema}\0{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _lock_oids(key: int) -> tuple[int, int]:
    """How ``pg_locks`` shows a bigint advisory key: (classid, objid), with objsubid 1."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    return unsigned >> 32, unsigned & 0xFFFFFFFF


class PostgresState:
    """One state in PostgreSQL. Implements StateReader, StateWriter, StateAppender, StateLocker and
    StateHistory (``nimctl.state.backend``)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        self.schema = query.pop("schema", DEFAULT_SCHEMA) or DEFAULT_SCHEMA
        self.name = query.pop("state", DEFAULT_STATE) or DEFAULT_STATE
        for what, value in (("schema", self.schema), ("state", self.name)):
            if not set(value) <= _NAME_CHARS or not value[0].isalpha() or len(value) > 48:
                raise StateError(
                    f"the state URL's {what} {value!r} is not a plain lower-case name",
                    hint=f"use letters, digits and '_' (starting with a letter), e.g. ?{what}=team_a",
                )
        query.setdefault("connect_timeout", str(CONNECT_TIMEOUT_S))
        self._conninfo = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))
        netloc = parts.netloc
        if parts.password is not None:
            netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
        shown = {"schema": self.schema, "state": self.name}
        self._location = urlunsplit((parts.scheme, netloc, parts.path, urlencode(shown), ""))
        self._server = f"{parts.hostname or 'the local socket'}:{parts.port or 5432}"
        self._user = parts.username or os.environ.get("PGUSER") or "(default user)"
        self._database = parts.path.lstrip("/") or "(default database)"
        self.key = lock_key(self.schema, self.name)
        self._conn: Any = None
        self._ready = False  # tables exist
        self._held: LockInfo | None = None
        self._depth = 0
        self._session_pid: int | None = None  # the server session that holds our lock
        self._steps_since_snapshot = 0
        # (table, serial, write id) of the write in flight: its outcome is unknown until answered.
        self._unknown: tuple[str, int, str] | None = None
        self.requests = 0  # statements sent (bench/ reports them)
        self.writes = 0  # whole-state snapshots written
        self.appends = 0  # journal steps inserted

    def __repr__(self) -> str:
        return f"PostgresState({self._location!r})"

    @property
    def location(self) -> str:
        return self._location

    @property
    def locator(self) -> str:
        """How ownership markers name this state: the URL without user and password."""
        return f"postgresql://{self._server}/{self._database}?schema={self.schema}&state={self.name}"

    def check_writable(self) -> None:
        """Prove, before a command's first side effect, that the server is reachable and this user
        may write the state's tables (``StateError`` otherwise)."""

        def query(conn: Any) -> bool:
            self.requests += 1
            sql = "SELECT bool_and(has_table_privilege(t, 'INSERT,UPDATE')) FROM unnest(%s::text[]) t"
            tables = [f"{self._schema_q()}.{t}" for t in ("states", "snapshots", "steps", "locks")]
            return bool(conn.execute(sql, (tables,)).fetchone()[0])

        if not self._run("read", query):
            raise StateError(
                f"user {self._user} may read but not write the state {self._location}",
                hint="grant it INSERT and UPDATE on the tables of schema " + self.schema,
            )

    # -- connection ------------------------------------------------------------------------
    def _connect(self) -> Any:
        psycopg = _psycopg()
        application = f"nimctl pid {os.getpid()} on {socket.gethostname()}"[:63]
        try:
            conn = psycopg.connect(self._conninfo, autocommit=True, application_name=application)
        except psycopg.OperationalError as err:
            raise self._connect_error(err) from None
        try:
            conn.execute("SET lock_timeout = '10s'")
            conn.execute("SET statement_timeout = '120s'")
        except psycopg.Error as err:
            conn.close()
            raise self._connect_error(err) from None
        return conn

    def _connect_error(self, err: Exception) -> StateError:
        text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        lowered = str(err).lower()
        where = f"the PostgreSQL state server {self._server}"
        if "password authentication failed" in lowered or "authentication failed" in lowered:
            return StateError(
                f"{where} refused the credentials of user {self._user} ({text})",
                hint="check the user in NIMCTL_STATE / --state and its password (PGPASSWORD or ~/.pgpass)",
            )
        if "no password supplied" in lowered or "password is required" in lowered:
            return StateError(
                f"{where} asks for a password for user {self._user}, and none was given",
                hint="set PGPASSWORD or add the password to ~/.pgpass (better than writing it into the URL)",
            )
        if "does not exist" in lowered and "database" in lowered:
            return StateError(
                f"{where} has no database {self._database}",
                hint=f"create it (createdb -h HOST -p PORT {self._database}) or name another in the URL",
            )
        if "timeout" in lowered:
            return StateError(
                f"cannot reach {where}: no answer within the connect timeout ({text})",
                hint="check the host and port in NIMCTL_STATE / --state and that the server is up "
                "(add ?connect_timeout=SECONDS to wait longer)",
            )
        return StateError(
            f"cannot connect to {where} ({text})",
            hint="check the host, port and database in NIMCTL_STATE / --state and that the server accepts "
            "TCP connections there",
        )

    def _connection(self) -> Any:
        if self._conn is None or self._conn.closed:
            if self._held is not None:
                self._reacquire()
            else:
                self._conn = self._connect()
        if not self._ready:
            self._ensure_tables(self._conn)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            with suppress(Exception):
                self._conn.close()
            self._conn = None

    def _run(self, what: str, operation: Callable[[Any], T]) -> T:
        """Run ``operation(connection)``; a lost connection is reopened once (and the lock taken
        again, if this process held it: see ``_reacquire``) before the operation is retried."""
        psycopg = _psycopg()
        for attempt in (1, 2):
            conn = self._connection()
            try:
                return operation(conn)
            except psycopg.OperationalError as err:
                if not conn.closed and not conn.broken:
                    raise StateError(f"PostgreSQL refused to {what} the state {self._location}: {err}") from None
                self._conn = None
                if attempt == 2:
                    raise StateError(
                        f"lost the connection to the PostgreSQL state server {self._server} while trying to "
                        f"{what} the state ({str(err).strip() or type(err).__name__})",
                        hint="nothing was changed without being journaled; run the command again once the "
                        "server is reachable (it settles what this run left)",
                    ) from None
            except psycopg.errors.InsufficientPrivilege as err:
                raise StateError(
                    f"user {self._user} may not {what} the state in schema {self._schema_q()} ({err})",
                    hint="grant it USAGE/CREATE on the schema and read/write on its tables",
                ) from None
        raise AssertionError("unreachable")

    def _reacquire(self) -> None:
        """The connection that held the lock is gone (the server released the lock with it). Take
        it again on a new connection, if nobody else has meanwhile; the serial check of the next
        write then proves that nothing changed in between."""
        assert self._held is not None
        self._conn = self._connect()
        got = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()[0]
        self.requests += 1
        if not got:
            holder = self._holder(self._conn)
            held, self._held, self._depth = self._held, None, 0
            who = holder.describe() if holder else "another session"
            raise LockedError(
                f"lost the connection to {self._location} while holding its lock ({held.lock_id}), and "
                f"the lock is now held by {who}. Nothing more was written",
                hint="the other process owns the state now; run this command again after it finishes",
                holder=holder,
            )
        self._write_holder_row(self._conn, self._held)

    def _schema_q(self) -> str:
        return '"' + self.schema + '"'

    def _sql(self, text: str) -> str:
        return text.replace("{s}", self._schema_q())

    def _ensure_tables(self, conn: Any) -> None:
        exists = conn.execute("SELECT to_regclass(%s)", (f"{self._schema_q()}.locks",)).fetchone()[0]
        self.requests += 1
        if exists is None:
            # Only the first use of a schema creates it; a transaction lock on the schema's key
            # keeps two first uses from racing (no lock is taken once the tables exist).
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(self.schema, ""),))
                for statement in _DDL:
                    conn.execute(self._sql(statement))
            self.requests += 1
        self._ready = True

    # -- reading ---------------------------------------------------------------------------
    def exists(self) -> bool:
        def query(conn: Any) -> bool:
            self.requests += 1
            sql = self._sql("SELECT 1 FROM {s}.states WHERE name = %s")
            return conn.execute(sql, (self.name,)).fetchone() is not None

        return self._run("read", query)

    def read(self) -> State:
        """The current state: its last snapshot with the steps since, in one statement. Read by
        the lock's holder, steps a killed holder left are folded into one snapshot."""
        state = self._fetch()
        if self._held is not None and self._steps_since_snapshot:
            self.compact()
            state.serial = self._fetch_serial()
        return state

    def _fetch_serial(self) -> int:
        def query(conn: Any) -> int:
            self.requests += 1
            row = conn.execute(self._sql("SELECT serial FROM {s}.states WHERE name = %s"), (self.name,)).fetchone()
            return int(row[0]) if row else 0

        return self._run("read", query)

    def _fetch(self) -> State:

        def query(conn: Any) -> Any:
            self.requests += 1
            sql = self._sql(
                "SELECT s.lineage, s.serial, s.snapshot_serial, v.doc::text, "
                "(SELECT coalesce(json_agg(t.delta ORDER BY t.serial), '[]'::json)::text FROM {s}.steps t "
                " WHERE t.name = s.name AND t.serial > s.snapshot_serial AND t.serial <= s.serial) "
                "FROM {s}.states s JOIN {s}.snapshots v ON v.name = s.name AND v.serial = s.snapshot_serial "
                "WHERE s.name = %s"
            )
            return conn.execute(sql, (self.name,)).fetchone()

        row = self._run("read", query)
        if row is None:
            return State()
        lineage, serial, snapshot_serial, doc_text, steps_text = row
        self._steps_since_snapshot = serial - snapshot_serial
        return self._materialize(lineage, serial, doc_text, steps_text)

    def _materialize(self, lineage: str, serial: int, doc_text: str, steps_text: str) -> State:
        from nimctl.state.delta import apply_delta
        from nimctl.state.validation import check_state_document

        doc = json.loads(doc_text)
        for delta in json.loads(steps_text):
            apply_delta(doc, delta)
        doc["serial"] = serial
        if doc.get("lineage") != lineage:
            raise StateError(f"the state {self._location} is inconsistent: its snapshot has another lineage")
        raw = (doc_text + steps_text).encode("utf-8")
        check_state_document(doc, raw, where=f"the state {self._location}")
        return State.from_dict(doc)

    # -- writing ---------------------------------------------------------------------------
    def _who(self) -> str:
        held = self._held
        command = held.command if held else "write"
        return f"{current_user()}@{socket.gethostname()} pid {os.getpid()} ({command})"

    def _lock_condition(self) -> str:
        """SQL true when this session may write: it holds the lock, or (a write without the lock,
        as tools and tests do) nobody does."""
        classid, objid = _lock_oids(self.key)
        held = (
            "SELECT 1 FROM pg_locks k WHERE k.locktype = 'advisory' AND k.granted AND k.objsubid = 1 "
            f"AND k.classid = {classid} AND k.objid = {objid}"
        )
        if self._held is not None:
            return f"EXISTS ({held} AND k.pid = pg_backend_pid())"
        return f"NOT EXISTS ({held})"

    def write(self, state: State, *, force: bool = False) -> None:
        """Persist ``state`` whole as ``serial`` + 1 (``state.serial`` is updated); all previous
        versions stay. Refused when the stored serial moved past ``state.serial``, for another
        lineage (unless ``force``), or when another session holds the lock."""
        from nimctl.state.encoding import encode_state, state_document
        from nimctl.state.secret_guard import find_unredacted_secrets

        if state.version != STATE_VERSION:
            raise StateError(f"cannot write state format version {state.version}")
        doc = state_document(state)
        leaks = find_unredacted_secrets(doc)
        if leaks:
            raise UnredactedSecretError("refusing to write a literal secret to the state at: " + ", ".join(leaks))
        self._catch_up(state)
        target = state.serial + 1
        doc["serial"] = target
        payload = encode_state(doc).decode("utf-8")
        write_id = uuid.uuid4().hex
        params = {"name": self.name, "lineage": state.lineage, "serial": target, "before": state.serial}
        lineage_check = "" if force else " AND s.lineage = EXCLUDED.lineage"

        tries = []

        def execute(conn: Any) -> bool:
            tries.append(1)
            if len(tries) > 1 and self._landed(conn):  # a retry: the first attempt may have landed
                return True
            with conn.transaction():
                self.requests += 1
                moved = conn.execute(
                    self._sql(
                        "INSERT INTO {s}.states AS s (name, lineage, serial, snapshot_serial) "
                        "SELECT %(name)s, %(lineage)s, %(serial)s, %(serial)s WHERE "
                        + self._lock_condition()
                        + " ON CONFLICT (name) DO UPDATE SET lineage = EXCLUDED.lineage, serial = EXCLUDED.serial, "
                        "snapshot_serial = EXCLUDED.serial, updated_at = now() "
                        "WHERE s.serial <= %(before)s" + lineage_check + " RETURNING s.serial"
                    ),
                    params,
                ).fetchone()
                if moved is None:
                    return False
                self.requests += 1
                conn.execute(
                    self._sql(
                        "INSERT INTO {s}.snapshots (name, serial, doc, written_by, write_id) "
                        "VALUES (%s, %s, %s::jsonb, %s, %s) ON CONFLICT (name, serial) DO UPDATE SET "
                        "doc = EXCLUDED.doc, written_by = EXCLUDED.written_by, write_id = EXCLUDED.write_id, "
                        "written_at = now()"
                    ),
                    (self.name, target, payload, self._who(), write_id),
                )
            return True

        self._unknown = ("snapshots", target, write_id)
        if not self._run("write", execute):
            self._unknown = None
            raise self._refusal(state)
        state.serial = target
        self._steps_since_snapshot = 0
        self.writes += 1
        self._unknown = None

    def append(self, state: State, delta: Delta) -> None:
        """Persist one journal step (``delta``) as ``state.serial`` + 1: one statement, one insert."""
        from nimctl.state.secret_guard import find_unredacted_in_delta

        if state.serial == 0:
            raise StateError("a journal step needs a written state to follow (write it whole first)")
        leaks = find_unredacted_in_delta(delta)
        if leaks:
            raise UnredactedSecretError("refusing to write a literal secret to the state at: " + ", ".join(leaks))
        self._catch_up(state)
        target = state.serial + 1
        step_id = uuid.uuid4().hex
        sql = self._sql(
            "WITH moved AS (UPDATE {s}.states SET serial = serial + 1, updated_at = now() "
            "WHERE name = %(name)s AND serial = %(before)s AND lineage = %(lineage)s AND "
            + self._lock_condition()
            + " RETURNING serial) "
            "INSERT INTO {s}.steps (name, serial, delta, summary, written_by, write_id) "
            "SELECT %(name)s, moved.serial, %(delta)s::jsonb, %(summary)s, %(by)s, %(id)s FROM moved "
            "RETURNING serial"
        )
        params = {
            "name": self.name,
            "before": state.serial,
            "lineage": state.lineage,
            "delta": delta.to_json(),
            "summary": delta.summary()[:500],
            "by": self._who(),
            "id": step_id,
        }

        tries = []

        def execute(conn: Any) -> bool:
            tries.append(1)
            if len(tries) > 1 and self._landed(conn):  # a retry: the first attempt may have landed
                return True
            self.requests += 1
            return conn.execute(sql, params).fetchone() is not None

        self._unknown = ("steps", target, step_id)
        if not self._run("write", execute):
            self._unknown = None
            raise self._refusal(state)
        state.serial = target
        self._steps_since_snapshot += 1
        self.appends += 1
        self._unknown = None

    def _landed(self, conn: Any) -> bool:
        """Whether the write in flight (``self._unknown``) is stored: a write retried after a lost
        connection, or one whose answer a signal cut off, may have landed the first time."""
        if self._unknown is None:
            return False
        table, serial, write_id = self._unknown
        self.requests += 1
        row = conn.execute(
            self._sql(f"SELECT write_id FROM {{s}}.{table} WHERE name = %s AND serial = %s"), (self.name, serial)
        ).fetchone()
        return row is not None and row[0] == write_id

    def _catch_up(self, state: State) -> None:
        """A previous write whose outcome this process never learned (Ctrl-C while it was sent):
        if it landed, ``state`` is one serial further (the next delta repeats its change, which
        is harmless: deltas are idempotent)."""
        if self._unknown is None:
            return
        table, serial, _ = self._unknown
        if serial == state.serial + 1 and self._run("read", self._landed):
            state.serial = serial
            if table == "snapshots":
                self._steps_since_snapshot = 0
            else:
                self._steps_since_snapshot += 1
        self._unknown = None

    def _refusal(self, state: State) -> StateError:
        def query(conn: Any) -> Any:
            self.requests += 1
            return conn.execute(
                self._sql("SELECT lineage, serial FROM {s}.states WHERE name = %s"), (self.name,)
            ).fetchone()

        row = self._run("read", query)
        if row is not None and row[0] != state.lineage:
            return StateError(
                f"refusing to write {self._location}: it holds another state (lineage {row[0]}) than the one "
                f"this command read (lineage {state.lineage}). Nothing was written",
                hint="check that --state / NIMCTL_STATE name the intended state (state push --force replaces it)",
            )
        if row is not None and row[1] != state.serial:
            return StateError(
                f"refusing to write {self._location}: another writer changed it since this command read it "
                f"(serial {row[1]} in PostgreSQL, {state.serial} when read). Nothing was written",
                hint="run the command again so that it starts from the current state",
            )
        holder = self._run("read", self._holder)
        if self._held is not None:
            return LockedError(
                f"refusing to write {self._location}: this process's lock is not held by its database session "
                "any more" + (f"; the lock is held by {holder.describe()}" if holder else "") + ". Nothing was written",
                hint="if the state server is reached through a pooler in transaction mode (PgBouncer "
                "pool_mode=transaction), session locks cannot be held: connect to PostgreSQL directly or "
                "through a session-mode pool",
                holder=holder,
            )
        who = holder.describe() if holder else "another session"
        return LockedError(
            f"refusing to write {self._location}: it is locked by {who}",
            hint="take the state lock before writing",
            holder=holder,
        )

    def compact(self) -> None:
        """Fold the steps since the last snapshot into one snapshot (the steps are kept)."""
        if self._steps_since_snapshot:
            self.write(self._fetch())

    # -- locking ---------------------------------------------------------------------------
    @contextmanager
    def lock(self, command: str, timeout: float = 0.0) -> Iterator[LockInfo]:
        """Hold this state's advisory lock for ``command`` (nested use nests); ``LockedError``
        naming the holder after ``timeout`` seconds."""
        if self._held is not None:
            self._depth += 1
            try:
                yield self._held
            finally:
                self._depth -= 1
            return
        info = LockInfo.for_this_process(command)
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            got = self._run("lock", lambda conn: self._try_lock(conn, info))
            if got:
                break
            if time.monotonic() >= deadline:
                raise self._locked_error(timeout)
            time.sleep(min(_POLL_INTERVAL_S, max(deadline - time.monotonic(), 0.0)))
        self._held, self._depth = info, 1
        try:
            yield info
        finally:
            self._depth -= 1
            if self._depth == 0:
                try:
                    with suppress(StateError):
                        self.compact()
                finally:
                    self._release(info)

    def _try_lock(self, conn: Any, info: LockInfo) -> bool:
        self.requests += 1
        if not conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()[0]:
            return False
        try:
            self._write_holder_row(conn, info)
        except BaseException:
            with suppress(Exception):
                conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
            raise
        return True

    def _write_holder_row(self, conn: Any, info: LockInfo) -> None:
        self.requests += 1
        row = conn.execute(
            self._sql(
                "INSERT INTO {s}.locks (name, lock_id, pid, host, username, command, since, backend_pid) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, pg_backend_pid()) ON CONFLICT (name) DO UPDATE SET "
                "lock_id = EXCLUDED.lock_id, pid = EXCLUDED.pid, host = EXCLUDED.host, username = EXCLUDED.username, "
                "command = EXCLUDED.command, since = EXCLUDED.since, backend_pid = EXCLUDED.backend_pid "
                "RETURNING backend_pid"
            ),
            (self.name, info.lock_id, info.pid, info.host, info.user, info.command, info.started_at),
        ).fetchone()
        self._session_pid = int(row[0])

    def _release(self, info: LockInfo) -> None:
        self._held = None
        conn = self._conn
        if conn is None or conn.closed:
            return  # the server released it with the connection
        with suppress(Exception):
            conn.execute(self._sql("DELETE FROM {s}.locks WHERE name = %s AND lock_id = %s"), (self.name, info.lock_id))
            conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
            self.requests += 2

    def _holder(self, conn: Any) -> LockInfo | None:
        """The live holder: its row, if the session named there holds the lock now."""
        classid, objid = _lock_oids(self.key)
        self.requests += 1
        row = conn.execute(
            self._sql(
                "SELECT l.lock_id, l.pid, l.host, l.username, l.command, l.since, l.backend_pid FROM {s}.locks l "
                "WHERE l.name = %s AND EXISTS (SELECT 1 FROM pg_locks k WHERE k.locktype = 'advisory' "
                "AND k.granted AND k.objsubid = 1 AND k.classid = %s AND k.objid = %s AND k.pid = l.backend_pid)"
            ),
            (self.name, classid, objid),
        ).fetchone()
        if row is None:
            return None
        return LockInfo(lock_id=row[0], pid=int(row[1]), host=row[2], user=row[3], command=row[4], started_at=row[5])

    def _holding_session(self, conn: Any) -> tuple[int, str, str] | None:
        """(server pid, application name, client address) of the session holding the lock."""
        classid, objid = _lock_oids(self.key)
        self.requests += 1
        return conn.execute(
            "SELECT k.pid, coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'local socket') "
            "FROM pg_locks k LEFT JOIN pg_stat_activity a ON a.pid = k.pid WHERE k.locktype = 'advisory' "
            "AND k.granted AND k.objsubid = 1 AND k.classid = %s AND k.objid = %s",
            (classid, objid),
        ).fetchone()

    def _locked_error(self, timeout: float) -> LockedError:
        deadline = time.monotonic() + _HOLDER_GRACE_S
        holder = self._run("read", self._holder)
        while holder is None and time.monotonic() < deadline:
            time.sleep(_POLL_INTERVAL_S)
            holder = self._run("read", self._holder)
        waited = f" after waiting {timeout:g}s" if timeout > 0 else ""
        session = self._run("read", self._holding_session)
        on = f", PostgreSQL session {session[0]}" if session else ""
        if holder is not None:
            message = f"the state {self._location} is locked{waited} by {holder.describe()}{on}"
        elif session is not None:
            message = (
                f"the state {self._location} is locked{waited} by PostgreSQL session {session[0]} "
                f"({session[1] or 'no application name'}, from {session[2]}), which wrote no holder row"
            )
        else:
            message = f"the state {self._location} was locked{waited} by another session, which has just ended"
        hint = "wait for it to finish, or pass --lock-timeout SECONDS to wait for the lock"
        if session is not None:
            hint += (
                f". The lock ends with that session (a killed nimctl frees it at once); an administrator can "
                f"end it with SELECT pg_terminate_backend({session[0]})"
            )
        return LockedError(message, hint, holder=holder)

    def lock_holder(self) -> LockInfo | None:
        if self._held is not None:
            return self._held
        return self._run("read", self._holder)

    def force_unlock(self, lock_id: str) -> None:
        """A PostgreSQL lock is always verifiable: a live holder's is refused (it ends with its
        session), a row left by a session that has ended is removed."""

        def query(conn: Any) -> Any:
            self.requests += 1
            return conn.execute(self._sql("SELECT lock_id FROM {s}.locks WHERE name = %s"), (self.name,)).fetchone()

        row = self._run("read", query)
        live = self._run("read", self._holder)
        if row is None or (live is None and row[0] != lock_id):
            raise StateError(f"the state {self._location} has no lock {lock_id}", hint="nothing to do")
        if live is not None:
            if live.lock_id != lock_id:
                raise StateError(
                    f"lock id {lock_id} does not match the current lock of {self._location}, held by {live.describe()}"
                )
            session = self._run("read", self._holding_session)
            raise StateError(
                f"lock {lock_id} is held by a live PostgreSQL session: {live.describe()}. The server keeps it "
                "while that session lives and releases it as soon as it ends, even if the process is killed",
                hint=f"let it finish, or stop that process (kill {live.pid} on {live.host})"
                + (f", or end its session: SELECT pg_terminate_backend({session[0]})" if session else ""),
            )

        def remove(conn: Any) -> None:
            self.requests += 1
            conn.execute(self._sql("DELETE FROM {s}.locks WHERE name = %s AND lock_id = %s"), (self.name, lock_id))

        self._run("write", remove)

    # -- history ---------------------------------------------------------------------------
    def versions(self, limit: int | None = None) -> list[Version]:
        def query(conn: Any) -> list[Any]:
            self.requests += 1
            sql = self._sql(
                "SELECT serial, kind, written_at, written_by, summary FROM ("
                " SELECT serial, 'snapshot' AS kind, written_at, written_by, 'whole state' AS summary "
                " FROM {s}.snapshots WHERE name = %(n)s UNION ALL"
                " SELECT serial, 'step', written_at, written_by, summary FROM {s}.steps WHERE name = %(n)s"
                ") v ORDER BY serial DESC, kind LIMIT %(limit)s"
            )
            return conn.execute(sql, {"n": self.name, "limit": limit}).fetchall()

        rows = self._run("read", query)
        return [
            Version(
                serial=int(r[0]),
                kind=r[1],
                written_at=r[2].strftime("%Y-%m-%dT%H:%M:%SZ"),
                written_by=r[3] or "",
                summary=r[4] or "",
            )
            for r in rows
        ]

    def read_version(self, serial: int) -> State:
        """The state as it was at ``serial``: the last snapshot up to it, with the steps after."""

        def query(conn: Any) -> Any:
            self.requests += 1
            sql = self._sql(
                "SELECT v.serial, v.doc->>'lineage', v.doc::text, "
                "(SELECT coalesce(json_agg(t.delta ORDER BY t.serial), '[]'::json)::text FROM {s}.steps t "
                " WHERE t.name = v.name AND t.serial > v.serial AND t.serial <= %(serial)s) "
                "FROM {s}.snapshots v WHERE v.name = %(n)s AND v.serial <= %(serial)s "
                "ORDER BY v.serial DESC LIMIT 1"
            )
            return conn.execute(sql, {"n": self.name, "serial": serial}).fetchone()

        row = self._run("read", query)
        current = self.read().serial if row is not None else 0
        if row is None or serial > current:
            raise StateError(
                f"the state {self._location} has no version {serial}",
                hint="list the kept versions with: nimctl state history",
            )
        state = self._materialize(row[1], serial, row[2], row[3])
        return state


_DDL = (
    "CREATE SCHEMA IF NOT EXISTS {s}",
    "CREATE TABLE IF NOT EXISTS {s}.states (name text PRIMARY KEY, lineage text NOT NULL, serial bigint NOT NULL, "
    "snapshot_serial bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())",
    "CREATE TABLE IF NOT EXISTS {s}.snapshots (name text NOT NULL, serial bigint NOT NULL, doc jsonb NOT NULL, "
    "written_at timestamptz NOT NULL DEFAULT now(), written_by text, write_id text, PRIMARY KEY (name, serial))",
    "CREATE TABLE IF NOT EXISTS {s}.steps (name text NOT NULL, serial bigint NOT NULL, delta jsonb NOT NULL, "
    "summary text, written_at timestamptz NOT NULL DEFAULT now(), written_by text, write_id text, "
    "PRIMARY KEY (name, serial))",
    "CREATE TABLE IF NOT EXISTS {s}.locks (name text PRIMARY KEY, lock_id text NOT NULL, pid integer NOT NULL, "
    "host text NOT NULL, username text NOT NULL, command text NOT NULL, since text NOT NULL, "
    "backend_pid integer NOT NULL)",
)
