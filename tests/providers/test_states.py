"""Every Lepton state word the SDK knows maps to an explicit nimctl state."""

from __future__ import annotations

import pytest
from leptonai.api.v2.types.deployment import LeptonDeploymentState
from leptonai.api.v2.types.job import LeptonJobState

from nimctl.providers.base import JobState, ResourceState
from nimctl.providers.states import DEPLOYMENT_STATES, JOB_STATES, endpoint_state, job_state

EXPECTED_ENDPOINT = {
    "Ready": ResourceState.READY,
    "Not Ready": ResourceState.PENDING,
    "Starting": ResourceState.PENDING,
    "Updating": ResourceState.PENDING,
    "Scaling": ResourceState.PENDING,
    "Migrating": ResourceState.PENDING,
    "Restarting": ResourceState.PENDING,
    "Stopping": ResourceState.STOPPED,
    "Stopped": ResourceState.STOPPED,
    "Deleting": ResourceState.STOPPED,
    "Error": ResourceState.FAILED,
    "UNK": ResourceState.UNKNOWN,
}

EXPECTED_JOB = {
    "Queueing": JobState.PENDING,
    "Awaiting": JobState.PENDING,
    "Starting": JobState.PENDING,
    "PendingRetry": JobState.PENDING,
    "Restarting": JobState.PENDING,
    "Running": JobState.RUNNING,
    "Completed": JobState.SUCCEEDED,
    "Failed": JobState.FAILED,
    "Stopping": JobState.STOPPED,
    "Stopped": JobState.STOPPED,
    "Terminating": JobState.STOPPED,
    "Deleting": JobState.STOPPED,
    "Deleted": JobState.GONE,
    "Archived": JobState.GONE,
    "UNK": JobState.UNKNOWN,
}


# Generated from the SDK's enums: a value added in a new SDK release fails here until mapped.
@pytest.mark.parametrize("member", list(LeptonDeploymentState), ids=lambda m: m.value)
def test_every_deployment_state_is_mapped(member):
    assert member.value in DEPLOYMENT_STATES, f"LeptonDeploymentState {member.value!r} is not mapped"
    assert member.value in EXPECTED_ENDPOINT, f"add {member.value!r} to this test's table"
    assert endpoint_state(member.value) is EXPECTED_ENDPOINT[member.value]


@pytest.mark.parametrize("member", list(LeptonJobState), ids=lambda m: m.value)
def test_every_job_state_is_mapped(member):
    assert member.value in JOB_STATES, f"LeptonJobState {member.value!r} is not mapped"
    assert member.value in EXPECTED_JOB, f"add {member.value!r} to this test's table"
    assert job_state(member.value) is EXPECTED_JOB[member.value]


def test_tables_hold_only_sdk_values():
    assert set(DEPLOYMENT_STATES) == {m.value for m in LeptonDeploymentState}
    assert set(JOB_STATES) == {m.value for m in LeptonJobState}


def test_not_ready_space_spelling_and_unknown_words():
    assert endpoint_state("Not Ready") is ResourceState.PENDING
    assert endpoint_state("NotReady") is ResourceState.UNKNOWN  # never guess
    assert endpoint_state(None) is ResourceState.UNKNOWN
    assert job_state("Exploded") is JobState.UNKNOWN
    # The SDK itself parses an unrecognised word into UNK, which maps to unknown.
    assert endpoint_state(LeptonDeploymentState("Exploded").value) is ResourceState.UNKNOWN
    assert job_state(LeptonJobState("Exploded").value) is JobState.UNKNOWN


@pytest.mark.parametrize("phase", ["Stopping", "Stopped", "Deleting"])
def test_legacy_not_ready_with_stopped_phase_is_stopped(phase):
    assert endpoint_state("Not Ready", phase) is ResourceState.STOPPED


def test_phase_does_not_override_a_definite_state():
    assert endpoint_state("Ready", "Stopped") is ResourceState.READY
    assert endpoint_state("Error", "Stopping") is ResourceState.FAILED


def test_job_without_status_is_pending_and_archived_uses_counters():
    assert job_state(None) is JobState.PENDING
    assert job_state("Archived", succeeded=1, failed=0, completions=1) is JobState.SUCCEEDED
    assert job_state("Archived", succeeded=0, failed=1) is JobState.FAILED
    assert job_state("Archived", succeeded=1, completions=2) is JobState.GONE
    assert job_state("Archived").terminal


def test_states_module_does_not_import_the_sdk():
    import subprocess
    import sys

    code = (
        "import sys, nimctl.providers.states, nimctl.providers.lepton.provider, nimctl.providers.retry, "
        "nimctl.providers.registry; print(sorted(m for m in ('leptonai', 'requests', 'httpx', 'pydantic') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
