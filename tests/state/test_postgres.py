"""The state in a real PostgreSQL server (tests/support/postgres.py starts one on 127.0.0.1):
steps are rows, every version stays readable, the lock names its holder and dies with it, a
stale or lockless writer can never overwrite, a lost connection takes the lock again or fails
clearly, and bad URLs, servers and credentials are clear errors."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from nimctl.apply.journal import Journal
from nimctl.state.backend import StateAppender, StateHistory, StateLocker, StateReader, StateWriter, open_state
from nimctl.state.errors import LockedError, StateError
from nimctl.state.postgres import PostgresState
from tests.support.state_processes import WORKER
from tests.support.state_samples import INVOCATION_ID, job_record, sample_state

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def url(postgres) -> str:
    return postgres.url()


@pytest.fixture
def pg(url):
    store = PostgresState(url)
    yield store
    store.close()


def _count(postgres, store: PostgresState, table: str) -> int:
    return postgres.sql(f"SELECT count(*) FROM \"{store.schema}\".{table} WHERE name = '{store.name}'")[0][0]


def _step(journal: Journal, task: str) -> None:
    record = job_record(task, journal.state.lineage)
    entry = journal.intent(
        op="submit", address=record.address, type="job", provider="local", name=record.name,
        invocation_id=INVOCATION_ID, stack="demo",
    )  # fmt: skip
    journal.resolve(entry, lambda s: s.resources.__setitem__(record.address, record))


def _hold(url: str, command: str, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), "hold-lock", url, command, str(seconds)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("locked "), line + proc.stderr.read()
    return proc


def test_the_postgres_backend_implements_every_interface(pg) -> None:
    for protocol in (StateReader, StateWriter, StateAppender, StateLocker, StateHistory):
        assert isinstance(pg, protocol), protocol
    assert isinstance(open_state(pg.location.replace("***", "x")), PostgresState)


def test_a_step_is_one_row_and_every_version_stays_readable(postgres, pg) -> None:
    first = sample_state(resources=20, pending=False)
    pg.write(first)
    assert pg.read() == first and first.serial == 1
    with pg.lock("apply"):
        journal = Journal(pg, pg.read())
        for i in range(5):
            _step(journal, f"new{i}")
            assert _count(postgres, pg, "steps") == 2 * (i + 1)  # intent + outcome, one row each
        assert _count(postgres, pg, "snapshots") == 1  # the whole state was not rewritten
        assert PostgresState(pg.location.replace("***", "pw-7c1f9e")).read() == journal.state
        middle = journal.state.serial
    # the end of the command folds the steps into one snapshot; the steps are kept
    assert _count(postgres, pg, "snapshots") == 2 and _count(postgres, pg, "steps") == 10
    latest = pg.read()
    assert latest.serial == middle + 1 and "job.demo.new4" in latest.resources
    versions = pg.versions(limit=None)
    assert [v.serial for v in versions] == list(range(latest.serial, 0, -1))
    assert versions[0].kind == "snapshot" and "new4" in versions[1].summary
    old = pg.read_version(3)  # after the first intent and its outcome
    assert "job.demo.new0" in old.resources and "job.demo.new1" not in old.resources
    assert pg.read_version(1) == first
    with pytest.raises(StateError, match="no version 99"):
        pg.read_version(99)


def test_a_second_process_is_refused_with_the_holder_named(url) -> None:
    holder = _hold(url, "apply", 30)
    try:
        refused = subprocess.run(
            [sys.executable, str(WORKER), "try-lock", url, "destroy", "0"], capture_output=True, text=True, timeout=60
        )
    finally:
        holder.kill()
        holder.wait(10)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    message = refused.stdout
    print(message)  # the refusal as users see it
    assert f"pid {holder.pid} on {socket.gethostname()}" in message
    assert "command 'apply'" in message and "since 20" in message and "PostgreSQL session" in message
    assert "pw-7c1f9e" not in message  # the URL is shown without its password


def test_kill_9_of_the_holder_frees_the_lock_at_once(url) -> None:
    holder = _hold(url, "apply", 60)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(10)
    store = PostgresState(url)
    try:
        with store.lock("apply", timeout=10) as info:  # the server ends the session with the process
            assert info.pid == os.getpid()
            assert store.lock_holder() == info
    finally:
        store.close()


def test_no_lock_is_shared_between_states(postgres) -> None:
    a, b = (
        PostgresState(postgres.url(schema="shared", state="a")),
        PostgresState(postgres.url(schema="shared", state="b")),
    )
    try:
        with a.lock("apply"), b.lock("apply"):
            assert a.key != b.key
    finally:
        a.close()
        b.close()


def test_a_stale_writer_is_refused_by_the_serial_check(url) -> None:
    one, two = PostgresState(url), PostgresState(url)
    try:
        one.write(sample_state(pending=False))
        stale = two.read()
        with one.lock("apply"):
            journal = Journal(one, one.read())
            _step(journal, "moved")
        with pytest.raises(StateError, match="another writer changed it"):
            two.write(stale)
        assert "job.demo.moved" in one.read().resources
    finally:
        one.close()
        two.close()


def test_a_writer_without_the_lock_is_refused_while_another_holds_it(url) -> None:
    one, two = PostgresState(url), PostgresState(url)
    try:
        one.write(sample_state(pending=False))
        state = two.read()
        with one.lock("apply"), pytest.raises(LockedError, match="locked by pid"):
            two.write(state)
    finally:
        one.close()
        two.close()


def test_a_session_that_does_not_hold_the_lock_never_writes(postgres, pg) -> None:
    """What a transaction-pooling PgBouncer does: the next statement runs in another server session."""
    pg.write(sample_state(pending=False))
    with pg.lock("apply"):
        journal = Journal(pg, pg.read())
        locked_session = pg._conn  # noqa: SLF001
        pg._conn = pg._connect()  # noqa: SLF001 (another session of the same server)
        try:
            with pytest.raises(LockedError, match="pooler in transaction mode") as refused:
                _step(journal, "never")
            assert "PgBouncer" in refused.value.hint
        finally:
            pg._conn.close()  # noqa: SLF001
            pg._conn = locked_session  # noqa: SLF001
    assert "job.demo.never" not in pg.read().resources and pg.read().pending == []


def test_a_lost_connection_takes_the_lock_again_and_goes_on(postgres, pg) -> None:
    pg.write(sample_state(pending=False))
    with pg.lock("apply"):
        journal = Journal(pg, pg.read())
        _step(journal, "before")
        postgres.sql(f"SELECT pg_terminate_backend({pg._session_pid})")  # noqa: SLF001
        _step(journal, "after")  # reconnects, takes the lock again, the serial check passes
        assert pg.lock_holder() is not None
    state = pg.read()
    assert {"job.demo.before", "job.demo.after"} <= set(state.resources) and state.pending == []


def test_a_lost_connection_whose_lock_was_taken_meanwhile_stops_clearly(postgres, url) -> None:
    pg = PostgresState(url)
    pg.write(sample_state(pending=False))
    with pg.lock("apply"):
        journal = Journal(pg, pg.read())
        postgres.sql(f"SELECT pg_terminate_backend({pg._session_pid})")  # noqa: SLF001
        time.sleep(0.2)
        other = _hold(url, "destroy", 30)
        try:
            with pytest.raises(LockedError, match=f"now held by pid {other.pid}"):
                _step(journal, "lost")
        finally:
            other.kill()
            other.wait(10)
    pg.close()


def test_unreachable_server_and_bad_credentials_are_clear_errors(postgres) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(StateError, match=f"cannot connect to the PostgreSQL state server 127.0.0.1:{closed}"):
        PostgresState(f"postgresql://nimctl@127.0.0.1:{closed}/nimctl").read()
    assert time.monotonic() - started < 60  # an error, not a hang (guards a hang, not speed)
    with pytest.raises(StateError, match="refused the credentials of user nimctl") as refused:
        PostgresState(postgres.url().replace("pw-7c1f9e", "wrong-password")).read()
    assert "wrong-password" not in str(refused.value) and "PGPASSWORD" in (refused.value.hint or "")
    with pytest.raises(StateError, match="has no database nope"):
        PostgresState(postgres.url().replace("/nimctl?", "/nope?")).read()
    with pytest.raises(StateError, match="not a plain lower-case name"):
        PostgresState(postgres.url(schema="Bad;Name"))
