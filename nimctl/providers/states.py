"""Lepton's state words mapped onto nimctl's ResourceState / JobState.

Keyed by the platform's literal strings (the values of the SDK's ``LeptonDeploymentState`` and
``LeptonJobState`` enums) so that importing this module never imports the SDK. Every enum value
has an explicit entry: a test walks the SDK enums and fails when a new value appears that is not
mapped here, instead of the new state silently collapsing to "unknown" (the launcher's mistake).
"""

from __future__ import annotations

from nimctl.providers.base import JobState, ResourceState

# LeptonDeploymentState value -> ResourceState.
DEPLOYMENT_STATES: dict[str, ResourceState] = {
    "Ready": ResourceState.READY,
    # Running but not (yet) passing readiness: still starting, or unhealthy. The legacy API
    # also reports stopped deployments as "Not Ready"; see ``endpoint_state`` for the phase.
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
    "UNK": ResourceState.UNKNOWN,  # what the SDK parses any unrecognised word into
}

# LeptonJobState value -> JobState.
JOB_STATES: dict[str, JobState] = {
    "Queueing": JobState.PENDING,
    "Awaiting": JobState.PENDING,
    "Starting": JobState.PENDING,
    "PendingRetry": JobState.PENDING,  # a failed attempt will be retried: not finished yet
    "Restarting": JobState.PENDING,
    "Running": JobState.RUNNING,
    "Completed": JobState.SUCCEEDED,
    "Failed": JobState.FAILED,
    "Stopping": JobState.STOPPED,
    "Stopped": JobState.STOPPED,
    "Terminating": JobState.STOPPED,
    "Deleting": JobState.STOPPED,
    "Deleted": JobState.GONE,
    # Archived: the job finished and left the live set (TTL). Terminal; ``job_state`` refines it
    # to succeeded/failed when the status still carries the completion counters.
    "Archived": JobState.GONE,
    "UNK": JobState.UNKNOWN,
}

_STOPPED_PHASES = ("Stopping", "Stopped", "Deleting")


def endpoint_state(state: str | None, phase: str | None = None) -> ResourceState:
    """nimctl's state for a deployment's ``status.state`` (and ``status.phase`` when given).

    The legacy backend collapses Stopping/Stopped to state "Not Ready" for old clients and keeps
    the real lifecycle word in ``phase``; without that refinement a stopped endpoint would look
    like one still starting.
    """
    if state is None:
        return ResourceState.UNKNOWN
    mapped = DEPLOYMENT_STATES.get(state, ResourceState.UNKNOWN)
    if mapped is ResourceState.PENDING and phase in _STOPPED_PHASES:
        return ResourceState.STOPPED
    return mapped


def job_state(
    state: str | None, *, succeeded: int | None = None, failed: int | None = None, completions: int | None = None
) -> JobState:
    """nimctl's state for a job's ``status.state``.

    A job without any status yet was just submitted: pending. An archived job is finished; its
    counters say how it ended when they are present.
    """
    if state is None:
        return JobState.PENDING
    mapped = JOB_STATES.get(state, JobState.UNKNOWN)
    if state == "Archived":
        if succeeded and succeeded >= (completions or 1):
            return JobState.SUCCEEDED
        if failed:
            return JobState.FAILED
    return mapped
