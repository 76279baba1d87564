"""The real CLI with its state in a real PostgreSQL server (tests/support/postgres.py) and the
emulated Lepton workspace: the lifecycle, two applies on one state, kill -9 of the holder, a
connection lost in the middle of an apply, push/pull round trips, unusable URLs, and the crash
matrix's kill points on this backend."""

from __future__ import annotations

import json
import signal
import time

import pytest

from nimctl.state.model import State
from nimctl.state.postgres import PostgresState
from tests.support.cli import cli_env, copy_config, run_cli, start_cli, wait_for_mark

pytestmark = pytest.mark.timeout(240)

EP = "endpoint.llama-3-1-8b"
JOB = "job.llama-3-1-8b.ifeval"


@pytest.fixture
def pg_env(emulator, postgres, tmp_path) -> dict[str, str]:
    return cli_env(emulator, tmp_path, NIMCTL_STATE=postgres.url(), NIMCTL_CACHE_DIR=str(tmp_path / "cache"))


def _state(env: dict[str, str]) -> dict:
    shown = run_cli(["show", "--json"], env)
    assert shown.code == 0, shown.text
    return json.loads(shown.out)


def _sessions_of(postgres, pid: int) -> list[int]:
    rows = postgres.sql(f"SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'nimctl pid {pid} %'")
    return [r[0] for r in rows]


def test_lifecycle_with_the_state_in_postgres(world, pg_env, tmp_path):
    config = copy_config(tmp_path)
    applied = run_cli(["apply", "-f", str(config), "--auto-approve"], pg_env)
    assert applied.code == 0, applied.text
    assert world.deployment_names() == ["llama-3-1-8b"]
    assert not (tmp_path / "state" / "nimctl.state.json").exists()  # nothing went to a file
    plan = run_cli(["plan", "-f", str(config), "--detailed-exitcode"], pg_env)
    assert plan.code == 0, plan.text
    state = _state(pg_env)
    assert set(state["resources"]) == {EP, JOB} and state["pending"] == []
    history = run_cli(["state", "history", "-n", "100"], pg_env)
    assert history.code == 0 and "snapshot" in history.out and "step" in history.out, history.text
    gone = run_cli(["destroy", "--all", "--auto-approve"], pg_env)
    assert gone.code == 0, gone.text
    assert world.wait_no_deployments() == [] and _state(pg_env)["resources"] == {}


def test_a_second_apply_is_refused_naming_the_holder_and_kill_9_frees_it_at_once(emulator, world, pg_env, tmp_path):
    config = copy_config(tmp_path)
    emulator.configure(ready_after=60)
    trace = tmp_path / "trace.log"
    first = start_cli(["apply", "-f", str(config), "--auto-approve"], {**pg_env, "NIMCTL_TRACE_FILE": str(trace)})
    try:
        wait_for_mark(trace, "invocation:started", first)
        second = run_cli(["apply", "-f", str(config), "--auto-approve"], pg_env, timeout=60)
        print(second.err)  # the refusal as users see it
        assert second.code == 1 and "Traceback" not in second.text
        assert f"is locked by pid {first.pid}" in second.err and "command 'apply'" in second.err
        assert "PostgreSQL session" in second.err and "pw-7c1f9e" not in second.text
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=60)
    emulator.configure(ready_after=0.2)
    # The killed apply's endpoint would still take the minute it was created with: a restart (as a
    # user would do from the console) rolls it out again at the fast pace.
    emulator.world.restart_deployment("llama-3-1-8b")
    started = time.monotonic()
    again = run_cli(["apply", "-f", str(config), "--auto-approve"], pg_env)  # no --lock-timeout: at once
    assert again.code == 0, again.text
    assert "settled an interrupted run's step" in again.err or "interrupted" in again.err
    assert world.deployment_names() == ["llama-3-1-8b"] and time.monotonic() - started < 120
    state = _state(pg_env)
    assert state["pending"] == [] and sorted(i["status"] for i in state["invocations"].values()) == [
        "interrupted",
        "succeeded",
    ]
    assert run_cli(["destroy", "--all", "--auto-approve"], pg_env).code == 0
    assert world.wait_no_deployments() == []


def test_a_connection_lost_in_the_middle_of_an_apply(emulator, world, postgres, pg_env, tmp_path):
    config = copy_config(tmp_path)
    emulator.configure(ready_after=1.5)
    trace = tmp_path / "trace.log"
    proc = start_cli(["apply", "-f", str(config), "--auto-approve"], {**pg_env, "NIMCTL_TRACE_FILE": str(trace)})
    wait_for_mark(trace, f"recorded:create:{EP}", proc)
    sessions = _sessions_of(postgres, proc.pid)
    assert sessions, "the apply has no PostgreSQL session"
    for session in sessions:
        postgres.sql(f"SELECT pg_terminate_backend({session})")  # the server drops it, and its lock
    out, err = proc.communicate(timeout=120)
    # The apply connects again, takes the lock again (nobody took it) and finishes its steps.
    assert proc.returncode == 0, out + err
    state = _state(pg_env)
    assert set(state["resources"]) == {EP, JOB} and state["pending"] == []
    assert len(world.jobs()) == 1
    assert run_cli(["destroy", "--all", "--auto-approve"], pg_env).code == 0


def test_push_and_pull_round_trip(world, postgres, pg_env, tmp_path):
    config = copy_config(tmp_path)
    file_env = {**pg_env, "NIMCTL_STATE": str(tmp_path / "local" / "nimctl.state.json")}
    assert run_cli(["apply", "-f", str(config), "--auto-approve"], file_env).code == 0
    local = json.loads((tmp_path / "local" / "nimctl.state.json").read_text())
    pushed = run_cli(["state", "push", str(tmp_path / "local" / "nimctl.state.json")], pg_env)
    assert pushed.code == 0, pushed.text
    remote = _state(pg_env)
    assert {k: v for k, v in remote.items() if k != "serial"} == {k: v for k, v in local.items() if k != "serial"}
    # the team's state plans as "no changes": the lineage (the redaction salt) came along
    assert run_cli(["plan", "-f", str(config), "--detailed-exitcode"], pg_env).code == 0
    # pushing the file again would go back a version: refused, naming both serials
    older = run_cli(["state", "push", str(tmp_path / "local" / "nimctl.state.json")], pg_env)
    assert older.code == 1 and "holds a newer version of this state" in older.err, older.text
    pulled = run_cli(["state", "pull", str(tmp_path / "pulled" / "nimctl.state.json")], pg_env)
    assert pulled.code == 0, pulled.text
    back = json.loads((tmp_path / "pulled" / "nimctl.state.json").read_text())
    assert back["lineage"] == local["lineage"] and back["resources"] == local["resources"]
    other = run_cli(["state", "push", str(tmp_path / "other.json")], pg_env)
    assert other.code == 1 and "no state at" in other.err
    foreign_env = {**pg_env, "NIMCTL_STATE": postgres.url()}
    foreign = PostgresState(foreign_env["NIMCTL_STATE"])
    foreign.write(State())  # another team's state: another lineage
    foreign.close()
    refused = run_cli(["state", "push", str(tmp_path / "local" / "nimctl.state.json")], foreign_env)
    assert refused.code == 1 and "holds another state" in refused.err, refused.text
    assert run_cli(["destroy", "--all", "--auto-approve"], pg_env).code == 0


def test_an_unreachable_server_is_a_clear_error(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {"NIMCTL_STATE": f"postgresql://nimctl:s3cret@127.0.0.1:{port}/nimctl", "NO_COLOR": "1"}
    import os

    result = run_cli(["show"], {**{k: v for k, v in os.environ.items() if not k.startswith("NIMCTL_")}, **env})
    assert result.code == 1 and "Traceback" not in result.text and "s3cret" not in result.text
    assert f"cannot connect to the PostgreSQL state server 127.0.0.1:{port}" in result.err


@pytest.mark.parametrize(
    "point",
    [
        f"recorded:create:{EP}",
        # the reliability suite's PostgreSQL subset covers the other journaled steps in the test command
        pytest.param(f"pending:create:{EP}", marks=pytest.mark.slow),
        pytest.param(f"pending:submit:{JOB}", marks=pytest.mark.slow),
    ],
)
def test_kill_9_at_a_step_then_converge_and_destroy(world, pg_env, tmp_path, point):
    config = copy_config(tmp_path)
    crashed = run_cli(["apply", "-f", str(config), "--auto-approve"], {**pg_env, "NIMCTL_CRASH_AT": point})
    assert crashed.code == -signal.SIGKILL, crashed.text
    assert run_cli(["plan", "-f", str(config)], pg_env).code == 0
    converged = run_cli(["apply", "-f", str(config), "--auto-approve"], pg_env)
    assert converged.code == 0, converged.text
    assert world.deployment_names() == ["llama-3-1-8b"] and len(world.jobs()) == 1
    assert _state(pg_env)["pending"] == []
    gone = run_cli(["destroy", "--all", "--auto-approve"], pg_env)
    assert gone.code == 0, gone.text
    assert world.wait_no_deployments() == []
