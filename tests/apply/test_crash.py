"""kill -9 / SIGINT / SIGTERM of a real `nimctl apply` at journaled steps: nothing leaks, nothing
duplicates, and the next plan/apply/destroy understands what happened."""

from __future__ import annotations

import signal

import pytest

from tests.support.cli import (
    cli_env,
    copy_config,
    read_state,
    run_cli,
    start_cli,
    wait_for_mark,
)

pytestmark = pytest.mark.timeout(240)

EP = "endpoint.llama-3-1-8b"
JOB = "job.llama-3-1-8b.ifeval"

# Every journaled moment of a seed-example apply (see nimctl/apply/journal.py).
CRASH_POINTS = [
    "invocation:started",
    f"pending:create:{EP}",
    f"recorded:create:{EP}",
    "endpoints:ready",
    f"pending:submit:{JOB}",
    f"recorded:submit:{JOB}",
    "jobs:submitted",
    "jobs:finished",
]


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_kill_9_at_each_step_then_converge_and_destroy(emulator, world, tmp_path, point):
    config = copy_config(tmp_path)
    env = cli_env(emulator, tmp_path)
    crashed = run_cli(["apply", "-f", str(config), "--auto-approve"], {**env, "NIMCTL_CRASH_AT": point})
    assert crashed.code == -signal.SIGKILL, crashed.text

    plan = run_cli(["plan", "-f", str(config)], env)
    assert plan.code == 0, plan.text

    converged = run_cli(["apply", "-f", str(config), "--auto-approve"], env)
    assert converged.code == 0, converged.text
    assert world.deployment_names() == ["llama-3-1-8b"]
    assert len(world.jobs()) == 1, world.job_names()  # never a duplicate job
    assert read_state(tmp_path)["pending"] == []

    gone = run_cli(["destroy", "--all", "--auto-approve"], env)
    assert gone.code == 0, gone.text
    assert world.wait_no_deployments() == []


@pytest.mark.parametrize("point", [f"pending:create:{EP}", f"recorded:create:{EP}", f"pending:submit:{JOB}"])
def test_kill_9_then_destroy_alone_leaves_nothing(emulator, world, tmp_path, point):
    config = copy_config(tmp_path)
    env = cli_env(emulator, tmp_path)
    crashed = run_cli(["apply", "-f", str(config), "--auto-approve"], {**env, "NIMCTL_CRASH_AT": point})
    assert crashed.code == -signal.SIGKILL
    gone = run_cli(["destroy", "--all", "--auto-approve"], env)
    assert gone.code == 0, gone.text
    assert world.wait_no_deployments() == []
    state = read_state(tmp_path)
    assert state["resources"] == {} and state["pending"] == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_readiness_wait_cleans_up(emulator, world, tmp_path, signum):
    config = copy_config(tmp_path)
    emulator.configure(ready_after=60)
    trace = tmp_path / "trace.log"
    env = cli_env(emulator, tmp_path, NIMCTL_TRACE_FILE=str(trace))
    proc = start_cli(["apply", "-f", str(config), "--auto-approve"], env)
    wait_for_mark(trace, f"recorded:create:{EP}", proc)
    assert world.deployment_names() == ["llama-3-1-8b"]
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert world.wait_no_deployments() == []
    state = read_state(tmp_path)
    [inv] = state["invocations"].values()
    assert inv["status"] == "interrupted"
    assert state["resources"] == {} and state["pending"] == []


def test_concurrent_apply_is_refused(emulator, world, tmp_path):
    config = copy_config(tmp_path)
    emulator.configure(ready_after=60)
    trace = tmp_path / "trace.log"
    env = cli_env(emulator, tmp_path, NIMCTL_TRACE_FILE=str(trace))
    first = start_cli(["apply", "-f", str(config), "--auto-approve"], env)
    try:
        wait_for_mark(trace, "invocation:started", first)
        second = run_cli(["apply", "-f", str(config), "--auto-approve"], env, timeout=30)
        assert second.code == 1
        assert "lock" in second.err.lower() and str(first.pid) in second.err
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
    assert world.wait_no_deployments() == []


def test_kill_9_during_destroy_then_destroy_again(emulator, world, tmp_path):
    config = copy_config(tmp_path)
    env = cli_env(emulator, tmp_path)
    assert run_cli(["apply", "-f", str(config), "--auto-approve"], env).code == 0
    crashed = run_cli(["destroy", "--all", "--auto-approve"], {**env, "NIMCTL_CRASH_AT": f"pending:delete:{EP}"})
    assert crashed.code == -signal.SIGKILL
    again = run_cli(["destroy", "--all", "--auto-approve"], env)
    assert again.code == 0, again.text
    assert world.wait_no_deployments() == []
    state = read_state(tmp_path)
    assert state["resources"] == {} and state["pending"] == []
