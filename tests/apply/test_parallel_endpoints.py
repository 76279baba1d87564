"""Endpoint creates across stacks run in parallel (up to --parallelism), as job submissions do:
with a slow platform every endpoint's intent is journaled before the first create returns, and
the readiness waits overlap (one wait for all). --parallelism 1 keeps them one after another."""

from __future__ import annotations

import pytest

from tests.support.cli import cli_env, run_cli
from tests.support.stacks import write_stacks

pytestmark = pytest.mark.timeout(180)


def _marks(trace) -> list[str]:
    return [line for line in trace.read_text().splitlines() if ":create:endpoint." in line]


@pytest.mark.parametrize(("parallelism", "overlapping"), [("4", True), ("1", False)])
def test_endpoint_creates_overlap_up_to_the_parallelism(emulator, world, tmp_path, parallelism, overlapping):
    emulator.configure(ready_after=0.3, job_duration=0.1, queue_time=0.0, latency=0.4)
    stacks = write_stacks(tmp_path / "stacks", 3, tasks=["ifeval"])
    trace = tmp_path / "trace.log"
    env = cli_env(emulator, tmp_path, NIMCTL_TRACE_FILE=str(trace), NIMCTL_CACHE_DIR=str(tmp_path / "cache"))
    applied = run_cli(["apply", "-f", str(stacks), "--auto-approve", "--parallelism", parallelism], env)
    assert applied.code == 0, applied.text
    marks = _marks(trace)
    first_outcome = next(i for i, m in enumerate(marks) if m.startswith("recorded:"))
    intents_before = [m for m in marks[:first_outcome] if m.startswith("pending:")]
    assert len(intents_before) == (3 if overlapping else 1), marks
    assert len([m for m in marks if m.startswith("recorded:")]) == 3
    # one readiness wait for the three endpoints
    assert trace.read_text().splitlines().count("endpoints:ready") == 1
    gone = run_cli(["destroy", "--all", "--auto-approve"], env)
    assert gone.code == 0, gone.text
