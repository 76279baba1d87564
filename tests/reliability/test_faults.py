"""Faults on the Lepton workspace API (emulated): 429 and 5xx answers (not applied), writes applied
but answered 502 (lost responses), and answers slower than nimctl waits for them (timeouts).

With five tasks the jobs are submitted in parallel, so lost responses hit concurrent submissions.
apply must converge within a few runs (each failed run exits 1 with an error and a hint, within
its time bound), never create a job name twice, and never leave an object the state does not
know; destroy must finish or say what is left. tests/apply/test_faults.py covers the one-task
seed example; this file adds parallel submission, leak checks after every run, proof that each
fault kind was injected, timeouts, and a platform that never answers.
"""

from __future__ import annotations

import pytest

from tests.support.reliability.harness import (
    LEPTON_FIVE_TASKS,
    LeptonSandbox,
    fault_case,
    late_landing_case,
    slow_gateway_case,
)

pytestmark = pytest.mark.timeout(900)


def five_tasks(root, lepton, **options) -> LeptonSandbox:
    sandbox = LeptonSandbox(root, lepton, config=LEPTON_FIVE_TASKS, tasks=5, **options)
    sandbox.env["NIMCTL_RETRY_MAX_ATTEMPTS"] = "12"
    return sandbox


@pytest.mark.parametrize(
    "rate", [0.1, pytest.param(0.3, marks=pytest.mark.slow), pytest.param(0.5, marks=pytest.mark.slow)]
)
def test_parallel_submission_under_faults_and_lost_responses(lepton, tmp_path, rate):
    report = fault_case(five_tasks(tmp_path, lepton, seed=11), rate)
    assert report.survived, report.describe()
    assert report.job_creates >= 5
    if rate >= 0.3:  # enough requests for every kind of fault to have been injected
        assert report.faults["429"] and report.faults["lost_response"], report.faults
        assert report.faults["500"] + report.faults["502"] + report.faults["503"], report.faults


@pytest.mark.parametrize("mark", [pytest.param("invocation:started", marks=pytest.mark.slow), "endpoints:ready"])
def test_answers_slower_than_the_client_timeout(lepton, tmp_path, mark):
    """The endpoint create (after invocation:started) or the five parallel job submissions (after
    endpoints:ready) time out on the client side; retries converge without a duplicate."""
    problems = slow_gateway_case(five_tasks(tmp_path, lepton), mark)
    assert problems == [], "\n".join(problems)


def test_a_submit_that_lands_after_its_lookup_may_run_twice_but_destroy_removes_every_run(lepton, tmp_path):
    twice, problems = late_landing_case(five_tasks(tmp_path, lepton, job_duration=30.0))
    assert problems == [], "\n".join(problems)
    assert twice <= 5


def test_a_platform_that_keeps_failing_fails_apply_and_destroy_clearly_within_bounds(lepton, tmp_path):
    sandbox = LeptonSandbox(tmp_path, lepton)
    sandbox.env.update({"NIMCTL_RETRY_MAX_SECONDS": "2"})
    lepton.configure(fault_rate=1.0)
    failed = sandbox.apply()
    # It gives up (NIMCTL_RETRY_MAX_SECONDS=2) instead of retrying forever: the bound guards a
    # hang, not speed.
    assert failed.code == 1 and failed.seconds < 60, failed.describe()
    assert "Traceback" not in failed.text and "Lepton kept failing" in failed.err and "hint:" in failed.err
    assert lepton.world.history == []  # nothing was created
    assert sandbox.untracked() == []

    lepton.configure(fault_rate=0.0)
    assert sandbox.apply().code == 0
    lepton.configure(fault_rate=1.0)
    stuck = sandbox.destroy_all()
    assert stuck.code == 1 and stuck.seconds < 60, stuck.describe()  # guards a hang, not speed
    assert "Traceback" not in stuck.text and "hint:" in stuck.err
    state = sandbox.state()
    assert len(state["resources"]) == 3, "a failed destroy must keep tracking what it could not remove"
    assert sandbox.untracked() == []

    lepton.configure(fault_rate=0.0)
    assert sandbox.destroy_all().code == 0
    assert sandbox.wait_no_leftovers() == []


def test_a_bad_client_timeout_setting_is_a_clear_error(lepton, tmp_path):
    sandbox = LeptonSandbox(tmp_path, lepton)
    result = sandbox.apply(NIMCTL_LEPTON_TIMEOUT="soon")
    assert result.code == 1 and "NIMCTL_LEPTON_TIMEOUT" in result.err and "Traceback" not in result.text
    assert lepton.world.history == []
