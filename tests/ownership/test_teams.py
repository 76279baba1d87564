"""A team on one workspace: teammates with their own state files, several configs on one state.
Everything through the real CLI against the emulated Lepton workspace."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from tests.support.cli import SEED, cli_env, copy_config, invocation_id, run_cli, start_cli, wait_for_mark

ENDPOINT = "llama-3-1-8b"  # the seed's endpoint_name, which the launcher examples share too


def _env(emulator, tmp_path: Path, who: str, **extra: str) -> dict[str, str]:
    return cli_env(emulator, tmp_path, NIMCTL_STATE=str(tmp_path / who / "nimctl.state.json"), **extra)


def _state(tmp_path: Path, who: str) -> dict:
    path = tmp_path / who / "nimctl.state.json"
    return json.loads(path.read_text()) if path.exists() else {"resources": {}, "invocations": {}}


def _creates(world, emulator) -> int:
    return sum(1 for h in emulator.world.history if h["kind"] == "deployment")


def _apply(config: Path, env: dict[str, str], *extra: str):
    return run_cli(["apply", "-f", str(config), "--auto-approve", *extra], env)


def test_a_teammates_endpoint_is_never_taken_over_deleted_or_duplicated(world, emulator, tmp_path):
    config = copy_config(tmp_path)
    alice, bob = _env(emulator, tmp_path, "alice"), _env(emulator, tmp_path, "bob")
    first = _apply(config, alice)
    assert first.code == 0, first.text
    alice_lineage = _state(tmp_path, "alice")["lineage"]

    # Bob's plan says whose it is; his apply refuses and changes nothing.
    plan = run_cli(["plan", "-f", str(config)], bob)
    assert plan.code == 0, plan.text
    assert f"endpoint {ENDPOINT} already exists and is not this state's (created by" in plan.out
    assert f"state lineage {alice_lineage[:8]}" in plan.out and "--share-existing" in plan.out
    refused = _apply(config, bob)
    assert refused.code == 1 and "refusing to take over" in refused.err and "Traceback" not in refused.text
    assert world.deployment_names() == [ENDPOINT] and _creates(world, emulator) == 1
    assert not (tmp_path / "bob" / "nimctl.state.json").exists() or not _state(tmp_path, "bob")["resources"]

    # Shared on request: Bob's job runs on it, his state records it as shared, his destroy forgets it.
    shared = _apply(config, bob, "--share-existing")
    assert shared.code == 0, shared.text
    record = _state(tmp_path, "bob")["resources"][f"endpoint.{ENDPOINT}"]
    assert record["extra"]["shared"] is True and record["extra"]["owner"]["lineage"] == alice_lineage
    assert "To remove it: nimctl destroy" not in shared.out  # not Bob's to remove
    gone = run_cli(["destroy", "--all", "--auto-approve"], bob)
    assert gone.code == 0, gone.text
    assert "forgotten (shared; the endpoint stays" in gone.out
    assert world.deployment_names() == [ENDPOINT] and _creates(world, emulator) == 1
    assert run_cli(["plan", "-f", str(config), "--detailed-exitcode"], alice).code == 0  # Alice: no changes


def test_ctrl_c_in_a_sharing_run_stops_only_its_own_job(world, emulator, tmp_path):
    config = copy_config(tmp_path)
    alice = _env(emulator, tmp_path, "alice")
    assert _apply(config, alice).code == 0
    emulator.configure(job_duration=30)
    trace = tmp_path / "trace"
    bob = _env(emulator, tmp_path, "bob", NIMCTL_TRACE_FILE=str(trace))
    proc = start_cli(["apply", "-f", str(config), "--auto-approve", "--share-existing"], bob)
    wait_for_mark(trace, "jobs:submitted", proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in out + err and "Ctrl-C again to skip" in out
    assert world.deployment_names() == [ENDPOINT]  # Alice's endpoint stays
    bob_jobs = [
        j for j in world.jobs() if j["metadata"]["labels"].get("nimctl-lineage") == _state(tmp_path, "bob")["lineage"]
    ]
    assert bob_jobs and all(j["status"]["state"] in ("Stopped", "Stopping", "Deleting") for j in bob_jobs)


def test_destroy_refuses_an_endpoint_another_states_job_runs_on_and_names_it(world, emulator, tmp_path):
    config = copy_config(tmp_path)
    alice, carol = _env(emulator, tmp_path, "alice"), _env(emulator, tmp_path, "carol")
    assert _apply(config, alice).code == 0
    emulator.configure(job_duration=30)
    running = _apply(config, carol, "--share-existing", "--no-wait")
    assert running.code == 0, running.text
    carol_inv = invocation_id(running.out)

    refused = run_cli(["destroy", "--all", "--auto-approve"], alice)
    assert refused.code == 1 and "Traceback" not in refused.text
    assert "in use by another state" in refused.err and f"invocation {carol_inv[:8]}" in refused.err
    assert world.deployment_names() == [ENDPOINT]

    forced = run_cli(["destroy", "--all", "--auto-approve", "--force"], alice)
    assert forced.code == 0, forced.text
    assert world.wait_no_deployments() == []
    # Carol's next plan says her shared endpoint was removed, not "still running".
    plan = run_cli(["plan", "-f", str(config)], carol)
    assert plan.code == 0 and "deleted outside nimctl" in plan.out and "will be created" in plan.out


def test_two_states_applying_at_once_create_the_endpoint_once_and_one_owns_it(world, emulator, tmp_path):
    emulator.configure(ready_after=0.5)
    config = copy_config(tmp_path)
    procs = {
        who: start_cli(["apply", "-f", str(config), "--auto-approve"], _env(emulator, tmp_path, who))
        for who in ("alice", "bob")
    }
    results = {who: (p.wait(120), *p.communicate()) for who, p in procs.items()}
    codes = sorted(code for code, _, _ in results.values())
    assert codes == [0, 1], results
    assert _creates(world, emulator) == 1 and world.deployment_names() == [ENDPOINT]
    owners = [
        who
        for who in results
        if f"endpoint.{ENDPOINT}" in _state(tmp_path, who)["resources"]
        and not _state(tmp_path, who)["resources"][f"endpoint.{ENDPOINT}"]["extra"].get("shared")
    ]
    assert len(owners) == 1, results
    loser = next(w for w in results if w not in owners)
    assert not any(f"endpoint.{ENDPOINT}" in inv["created"] for inv in _state(tmp_path, loser)["invocations"].values())
    assert all("Traceback" not in out + err for _, out, err in results.values())


def test_an_endpoint_left_unmanaged_by_state_rm_is_not_taken_back_or_deleted(world, emulator, tmp_path):
    config = copy_config(tmp_path)
    env = _env(emulator, tmp_path, "alice")
    assert _apply(config, env).code == 0
    assert run_cli(["state", "rm", f"endpoint.{ENDPOINT}"], env).code == 0
    again = _apply(config, env)
    assert again.code == 1 and "no longer recorded in it" in again.out + again.err
    assert world.deployment_names() == [ENDPOINT] and _creates(world, emulator) == 1


def test_configs_on_one_state_are_applied_and_destroyed_one_at_a_time(world, emulator, tmp_path):
    a = copy_config(tmp_path, name="a.yaml")
    b = tmp_path / "b.yaml"
    b.write_text(a.read_text().replace(f"endpoint_name: {ENDPOINT}", "endpoint_name: other-endpoint"))
    env = _env(emulator, tmp_path, "team")
    assert _apply(a, env).code == 0
    second = _apply(b, env)
    assert second.code == 0, second.text
    assert "1 other stack in this state is untouched" in second.out
    assert world.deployment_names() == sorted([ENDPOINT, "other-endpoint"])
    assert run_cli(["plan", "-f", str(a), "--detailed-exitcode"], env).code == 0  # A is still up to date
    pruned_plan = run_cli(["plan", "-f", str(b), "--prune"], env)
    assert f"endpoint.{ENDPOINT} will be destroyed" in pruned_plan.out
    gone = run_cli(["destroy", "-f", str(b), "--auto-approve"], env)
    assert gone.code == 0, gone.text
    deadline = time.monotonic() + 10
    while world.deployment_names() != [ENDPOINT] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert world.deployment_names() == [ENDPOINT]
    pruned = _apply(b, env, "--prune")
    assert pruned.code == 0, pruned.text
    assert world.wait_no_deployments(timeout=1) == ["other-endpoint"] or world.deployment_names() == ["other-endpoint"]


@pytest.mark.parametrize("unused", [None])
def test_seed_order_of_the_readme_keeps_the_quick_start_endpoint(world, emulator, tmp_path, unused):
    """README: the local quick start, then the Lepton rehearsal with --auto-approve, one state."""
    from tests.support.cli import REPO

    env = _env(emulator, tmp_path, "readme", NIMCTL_LOCAL_GRACE_S="3")
    quick = run_cli(
        ["apply", "-f", str(REPO / "examples" / "local-quickstart.yaml"), "--auto-approve"], env, cwd=tmp_path
    )
    assert quick.code == 0, quick.text
    local = [a for a, r in _state(tmp_path, "readme")["resources"].items() if r["provider"] == "local"]
    rehearsal = _apply(copy_config(tmp_path, SEED), env)
    assert rehearsal.code == 0, rehearsal.text
    assert "other stack in this state is untouched" in rehearsal.out and "will be destroyed" not in rehearsal.out
    resources = _state(tmp_path, "readme")["resources"]
    assert all(a in resources for a in local)
    # A local plan needs no Lepton credentials although the state also holds Lepton stacks.
    offline = {k: v for k, v in env.items() if not k.startswith("LEPTON_")}
    plan = run_cli(["plan", "-f", str(REPO / "examples" / "local-quickstart.yaml")], offline, cwd=tmp_path)
    assert plan.code == 0, plan.text
    status = run_cli(["status"], offline, cwd=tmp_path)
    # Every local resource is shown live; the Lepton ones as recorded, and the exit code says so.
    assert status.code == 1 and "lepton was not read" in status.err and "Traceback" not in status.text
    assert all(address in status.out for address in local)
    assert run_cli(["destroy", "--all", "--auto-approve"], env, cwd=tmp_path).code == 0


def test_status_shows_an_invocation_whose_process_died_as_interrupted(world, emulator, tmp_path):
    config = copy_config(tmp_path)
    env = _env(emulator, tmp_path, "alice")
    killed = run_cli(["apply", "-f", str(config), "--auto-approve"], {**env, "NIMCTL_CRASH_AT": "jobs:submitted"})
    assert killed.code == -9
    status = run_cli(["status"], env)
    assert status.code == 0 and "interrupted (its nimctl process ended" in status.out
    assert run_cli(["destroy", "--all", "--auto-approve"], env).code == 0
