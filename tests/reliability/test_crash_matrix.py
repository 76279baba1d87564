"""The crash matrix: stop a real ``nimctl apply`` (or ``destroy``) at every journaled step, on the
Lepton platform (emulator, two tasks) and the local platform (the quickstart: real processes).

The kill points are not hard-coded: a traced run (NIMCTL_TRACE_FILE) lists every checkpoint, and
each case stops the process at one of them (NIMCTL_CRASH_AT / NIMCTL_CRASH_SIGNAL). After each:
``plan`` exits 0 and names any interrupted step; ``apply`` converges with nothing created twice;
``destroy --all`` leaves nothing (emulator listing, /proc). A caught signal (TERM, INT) exits 130
and its cleanup leaves nothing the invocation created running.

The plain run covers what tests/apply/test_crash.py does not (two parallel jobs, caught signals
at marks, the local platform, kill -9 in the middle of waits and during destroy); the full matrix
(every mark × KILL/TERM/INT × both platforms) is marked slow and run by bench/reliability.py. A
subset (and, slow, the whole Lepton apply matrix) runs with the state in PostgreSQL.
"""

from __future__ import annotations

import pytest

from tests.support.reliability.harness import (
    LEPTON_WAITS,
    LOCAL_WAITS,
    LeptonSandbox,
    LocalSandbox,
    apply_crash_case,
    apply_matrix,
    destroy_crash_case,
    destroy_matrix,
    discover_marks,
    during_wait_case,
    failures,
    mark_problems,
    pick,
    wait_matrix,
)

pytestmark = pytest.mark.timeout(900)
SIGNALS = ("KILL", "TERM", "INT")


@pytest.fixture(scope="module")
def lepton_marks(lepton, tmp_path_factory) -> tuple[list[str], list[str]]:
    return discover_marks(LeptonSandbox(tmp_path_factory.mktemp("trace-lepton"), lepton))


@pytest.fixture(scope="module")
def local_marks(tmp_path_factory) -> tuple[list[str], list[str]]:
    sandbox = LocalSandbox(tmp_path_factory.mktemp("trace-local"))
    try:
        return discover_marks(sandbox)
    finally:
        sandbox.close()


@pytest.fixture
def lepton_box(lepton, tmp_path_factory):
    def make(name: str = "case", **options) -> LeptonSandbox:
        return LeptonSandbox(tmp_path_factory.mktemp(name), lepton, **options)

    return make


@pytest.fixture
def lepton_pg_box(lepton, tmp_path_factory, postgres):
    """A Lepton sandbox whose state is in PostgreSQL (a fresh schema each)."""

    def make(name: str = "case", **options) -> LeptonSandbox:
        box = LeptonSandbox(tmp_path_factory.mktemp(name), lepton, **options)
        box.env["NIMCTL_STATE"] = postgres.url()
        return box

    return make


@pytest.fixture
def local_box(tmp_path_factory):
    made: list[LocalSandbox] = []

    def make(name: str = "case", **options) -> LocalSandbox:
        made.append(LocalSandbox(tmp_path_factory.mktemp(name), **options))
        return made[-1]

    yield make
    for sandbox in made:
        sandbox.close()


def test_traces_hold_every_journaled_step(lepton_marks, local_marks):
    for apply_marks, destroy_marks in (lepton_marks, local_marks):
        assert mark_problems(apply_marks, destroy_marks, tasks=2) == [], (apply_marks, destroy_marks)


# -- the fast subset ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signame", "prefix", "index"),
    [
        ("KILL", "pending:submit:", 1),  # one job's intent journaled while the other's call may be in flight
        ("KILL", "recorded:submit:", 0),  # one job recorded, the other submitted or not
        ("TERM", "invocation:started", 0),  # before anything exists (a handler had not been installed yet)
        ("INT", "recorded:submit:", 1),
    ],
)
def test_lepton_apply_stopped_at_a_mark(lepton_box, lepton_marks, signame, prefix, index):
    report = apply_crash_case(lepton_box(), pick(lepton_marks[0], prefix, index), signame)
    assert report.survived, report.describe()


@pytest.mark.parametrize(
    ("signame", "prefix", "index"),
    [
        ("KILL", "local:started-before-recorded:endpoint", 0),  # a process whose pid was never recorded
        ("KILL", "recorded:create:", 0),  # a detached endpoint process nobody waits for
        ("KILL", "pending:submit:", 1),
        ("TERM", "local:started-before-recorded:job", 0),
        ("INT", "endpoints:ready", 0),
    ],
)
def test_local_apply_stopped_at_a_mark(local_box, local_marks, signame, prefix, index):
    report = apply_crash_case(local_box(), pick(local_marks[0], prefix, index), signame)
    assert report.survived, report.describe()


@pytest.mark.parametrize(
    ("signame", "prefix", "index"),
    [("KILL", "pending:submit:", 1), ("KILL", "recorded:create:", 0), ("INT", "recorded:submit:", 0)],
)
def test_lepton_apply_stopped_at_a_mark_state_in_postgres(lepton_pg_box, lepton_marks, signame, prefix, index):
    report = apply_crash_case(lepton_pg_box(), pick(lepton_marks[0], prefix, index), signame)
    assert report.survived, report.describe()


@pytest.mark.parametrize(("prefix", "index"), [("recorded:delete:job.", 0)])
def test_lepton_destroy_killed(lepton_box, lepton_marks, prefix, index):
    report = destroy_crash_case(lepton_box(), pick(lepton_marks[1], prefix, index))
    assert report.survived, report.describe()


@pytest.mark.parametrize(("prefix", "index"), [("recorded:delete:job.", 1), ("pending:delete:endpoint.", 0)])
def test_local_destroy_killed(local_box, local_marks, prefix, index):
    report = destroy_crash_case(local_box(), pick(local_marks[1], prefix, index))
    assert report.survived, report.describe()


def test_lepton_killed_in_the_middle_of_the_readiness_wait(lepton_box, lepton_marks):
    prefix, options = LEPTON_WAITS[0]
    report = during_wait_case(lepton_box(**options), pick(lepton_marks[0], prefix), "KILL")
    assert report.survived, report.describe()


def test_local_interrupted_while_jobs_run(local_box, local_marks):
    report = during_wait_case(local_box(), pick(local_marks[0], LOCAL_WAITS[0][0]), "INT", delay=0.2)
    assert report.survived, report.describe()


# -- the full matrix (bench/reliability.py prints its figures) ------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("signame", SIGNALS)
def test_full_matrix_lepton_apply(lepton_box, lepton_marks, signame):
    reports = apply_matrix(lepton_box, lepton_marks[0], [signame])
    assert len(reports) == len(lepton_marks[0])
    assert not failures(reports), failures(reports)


@pytest.mark.slow
@pytest.mark.parametrize("signame", SIGNALS)
def test_full_matrix_local_apply(local_box, local_marks, signame):
    reports = apply_matrix(local_box, local_marks[0], [signame])
    assert len(reports) == len(local_marks[0])
    assert not failures(reports), failures(reports)


@pytest.mark.slow
@pytest.mark.parametrize("signame", SIGNALS)
def test_full_matrix_lepton_apply_state_in_postgres(lepton_pg_box, lepton_marks, signame):
    reports = apply_matrix(lepton_pg_box, lepton_marks[0], [signame])
    assert len(reports) == len(lepton_marks[0])
    assert not failures(reports), failures(reports)


@pytest.mark.slow
def test_full_matrix_destroy(lepton_box, lepton_marks, local_box, local_marks):
    reports = destroy_matrix(lepton_box, lepton_marks[1]) + destroy_matrix(local_box, local_marks[1])
    assert not failures(reports), failures(reports)


@pytest.mark.slow
def test_full_matrix_waits(lepton_box, lepton_marks, local_box, local_marks):
    reports = wait_matrix(lepton_box, lepton_marks[0], LEPTON_WAITS, SIGNALS)
    reports += wait_matrix(local_box, local_marks[0], LOCAL_WAITS, SIGNALS, delay=0.2)
    assert not failures(reports), failures(reports)
