"""Cost safety against the emulator, through the real CLI and SDK: the scale-down bound sent by
default, max_lifetime's scheduled deletion job (created, moved, removed, and firing in emulated
time through the emulator's own API), which state a command read, and status' cost so far."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.support.cli import cli_env, copy_config, invocation_id, read_state, run_cli

LIFETIME = ("-o", "deployment.lepton_config.max_lifetime=2h")
TTL_JOB = "ttl-llama-3-1-8b"


@pytest.fixture
def env(world, emulator, tmp_path: Path) -> dict[str, str]:
    # The lifetime job reads a workspace token from this workspace secret (what users create once).
    world.add_secret("NIMCTL_LEPTON_TOKEN", emulator.token)
    emulator.configure(run_job_images=r"^python:")
    prices = tmp_path / "prices.yaml"
    prices.write_text("gpu.1xh200: 4.0\n")
    return cli_env(emulator, tmp_path, NIMCTL_PRICES=str(prices), NIMCTL_CONFIG=str(tmp_path / "none.yaml"))


def _ttl_jobs(world) -> list[dict]:
    return [j for j in world.jobs() if j["metadata"]["name"] == TTL_JOB and j["status"]["state"] != "Deleting"]


def test_scale_down_bound_sent_by_default_and_the_users_kept(world, env, tmp_path: Path) -> None:
    config = copy_config(tmp_path)
    applied = run_cli(["apply", "-f", str(config), "--auto-approve"], env)
    assert applied.code == 0, applied.text
    assert applied.out.startswith("State: file:")
    [deployment] = world.deployments()
    assert deployment["spec"]["auto_scaler"]["scale_down"] == {"no_traffic_timeout": 3600, "not_ready_timeout": 3600}

    mine = ("-o", "deployment.lepton_config.auto_scaler.scale_down.no_traffic_timeout=600")
    updated = run_cli(["apply", "-f", str(config), "--auto-approve", *mine], env)
    assert updated.code == 0, updated.text
    assert "updated in place: auto_scaler.scale_down.no_traffic_timeout" in updated.out
    [deployment] = world.deployments()
    assert deployment["spec"]["auto_scaler"]["scale_down"] == {"no_traffic_timeout": 600, "not_ready_timeout": 3600}

    status = run_cli(["status"], env)
    state_file = (tmp_path / "state" / "nimctl.state.json").resolve()
    assert status.out.splitlines()[0].startswith(f"State: file:{state_file} (lineage ")
    assert "GPU-hours, $" in status.out  # cost so far: age x 1 replica x $4/h
    report = json.loads(run_cli(["status", "--json"], env).out)
    [endpoint] = [r for i in report["invocations"] for r in i["resources"] if r["type"] == "endpoint"]
    assert endpoint["cost_so_far"]["replicas"] == 1 and endpoint["cost_so_far"]["usd"] >= 0
    assert report["state"]["locator"].endswith("nimctl.state.json")


def _fired_state(world) -> str:
    [fired] = [j for j in world.jobs() if j["metadata"]["name"] == TTL_JOB]
    return fired["status"]["state"]


def test_max_lifetime_job_is_scheduled_moved_removed_and_fires(world, emulator, env, tmp_path: Path) -> None:
    config = copy_config(tmp_path)
    first = run_cli(["apply", "-f", str(config), "--auto-approve", *LIFETIME], env)
    assert first.code == 0, first.text
    assert f"max_lifetime: job {TTL_JOB} deletes it at" in first.out
    [job] = _ttl_jobs(world)
    start_at = job["spec"]["time_schedule"]["start_at"]
    assert abs(start_at - (time.time() + 7200)) < 120
    assert job["status"]["state"] == "Awaiting"
    envs = {e["name"]: e for e in job["spec"]["envs"]}
    assert envs["LEPTON_WORKSPACE_TOKEN"] == {
        "name": "LEPTON_WORKSPACE_TOKEN",
        "value_from": {"secret_name_ref": "NIMCTL_LEPTON_TOKEN"},
    }
    assert envs["NIMCTL_LEPTON_WORKSPACE_URL"]["value"] == emulator.url
    assert envs["NIMCTL_OWNER_LINEAGE"]["value"] == read_state(tmp_path)["lineage"]
    assert (
        read_state(tmp_path)["resources"]["endpoint.llama-3-1-8b"]["extra"]["lifetime"]["job_id"]
        == job["metadata"]["id"]
    )

    time.sleep(1.1)  # start_at has a one-second resolution
    again = run_cli(["apply", "-f", str(config), "--auto-approve", *LIFETIME], env)
    assert again.code == 0, again.text
    assert "moved to now + max_lifetime" in again.out
    [moved] = _ttl_jobs(world)
    assert moved["metadata"]["id"] != job["metadata"]["id"]
    assert moved["spec"]["time_schedule"]["start_at"] > start_at

    destroyed = run_cli(["destroy", "--all", "--auto-approve"], env)
    assert destroyed.code == 0, destroyed.text
    assert _ttl_jobs(world) == [] and world.wait_no_deployments() == []

    fresh = run_cli(["apply", "-f", str(config), "--auto-approve", *LIFETIME], env)
    assert fresh.code == 0, fresh.text
    assert world.deployment_names() == ["llama-3-1-8b"]
    emulator.clear_requests()
    emulator.configure(clock_offset=7200 + 60)  # two hours later, in emulated time
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and world.deployment_names():
        time.sleep(0.1)
    assert world.deployment_names() == []
    # The job itself called the workspace API, with the token from the secret.
    deletes = [r for r in emulator.requests if r.method == "DELETE" and r.route == "/deployments/llama-3-1-8b"]
    assert [r.status for r in deletes] == [200]
    # The deletion lands before the job's process exits: wait for the job to finish.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _fired_state(world) == "Running":
        time.sleep(0.1)
    assert _fired_state(world) == "Completed"

    plan = run_cli(["plan", "-f", str(config), *LIFETIME], env)
    assert "deleted outside nimctl" in plan.out
    assert invocation_id(fresh.out)


def test_lifetime_job_leaves_a_re_created_endpoint_alone(world, emulator, env, tmp_path: Path) -> None:
    config = copy_config(tmp_path)
    assert run_cli(["apply", "-f", str(config), "--auto-approve", *LIFETIME], env).code == 0
    # Someone deletes the endpoint behind nimctl's back and creates another under the same name.
    spec = world.deployments()[0]["spec"]
    world.delete("/deployments/llama-3-1-8b")
    world.wait_no_deployments()
    time.sleep(1.1)
    world.post("/deployments", {"metadata": {"name": "llama-3-1-8b"}, "spec": spec})
    emulator.configure(clock_offset=7200 + 60)
    deadline = time.monotonic() + 30
    state = ""
    while time.monotonic() < deadline and state not in ("Completed", "Failed"):
        [job] = [j for j in world.jobs() if j["metadata"]["name"] == TTL_JOB]
        state = job["status"]["state"]
        time.sleep(0.1)
    assert state == "Completed"
    assert world.deployment_names() == ["llama-3-1-8b"]


def test_an_abandoned_endpoint_scales_to_zero_on_the_platform(world, emulator, env, tmp_path: Path) -> None:
    # nimctl applies and goes away: nobody destroys the endpoint, nobody sends it a request.
    config = copy_config(tmp_path)
    assert run_cli(["apply", "-f", str(config), "--auto-approve"], env).code == 0
    [before] = world.deployments()
    assert before["status"]["state"] == "Ready" and before["status"]["ready_replicas"] == 1
    emulator.configure(clock_offset=1800)  # half the default no-traffic timeout: still serving
    assert world.deployments()[0]["status"]["state"] == "Ready"
    emulator.configure(clock_offset=3600 + 60)
    [after] = world.deployments()
    assert (after["status"]["state"], after["status"]["phase"], after["status"]["ready_replicas"]) == (
        "Not Ready",
        "Stopped",
        0,
    )
    report = json.loads(run_cli(["status", "--json"], env).out)
    [endpoint] = [r for i in report["invocations"] for r in i["resources"] if r["type"] == "endpoint"]
    assert endpoint["cost_so_far"]["replicas"] == 0  # it costs nothing any more
    # A later stage runs a job on it: Lepton does not scale up from zero, so it is created again.
    later = ("-o", "evaluation.tasks.0.name=lm-evaluation-harness.gsm8k")
    plan = run_cli(["plan", "-f", str(config), *later], env)
    assert "scaled to zero) and Lepton does not scale up from zero" in plan.out, plan.text
    assert "now $0.00/h (+$4.00/h)" in plan.out  # nothing serves now
    applied = run_cli(["apply", "-f", str(config), "--auto-approve", *later], env)
    assert applied.code == 0, applied.text
    assert world.deployments()[0]["status"]["state"] == "Ready"
