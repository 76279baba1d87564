"""The seed example's whole lifecycle through the real CLI, the real SDK and the emulator."""

from __future__ import annotations

import json

import pytest

from tests.support.cli import (
    ENDPOINT_TOKEN,
    cli_env,
    copy_config,
    invocation_id,
    read_state,
    run_cli,
)

pytestmark = pytest.mark.timeout(180)


def test_seed_example_full_lifecycle(emulator, world, tmp_path):
    config = copy_config(tmp_path)
    env = cli_env(emulator, tmp_path)

    plan = run_cli(["plan", "-f", str(config)], env)
    assert plan.code == 0, plan.text
    assert "endpoint.llama-3-1-8b" in plan.out
    assert "Plan: 1 to add" in plan.out

    applied = run_cli(["apply", "-f", str(config), "--auto-approve"], env)
    assert applied.code == 0, applied.text
    inv = invocation_id(applied.out)
    assert world.deployment_names() == ["llama-3-1-8b"]
    jobs = world.jobs()
    assert len(jobs) == 1 and jobs[0]["status"]["state"] == "Completed"
    assert f"nimctl destroy {inv}" in applied.out

    state = read_state(tmp_path)
    assert state["invocations"][inv]["status"] == "succeeded"
    assert "endpoint.llama-3-1-8b" in state["resources"]

    again = run_cli(["apply", "-f", str(config), "--auto-approve"], env)
    assert again.code == 0, again.text
    assert "No changes." in again.out
    assert "Invocation:" not in again.out
    assert len(world.jobs()) == 1 and world.deployment_names() == ["llama-3-1-8b"]

    gone = run_cli(["destroy", inv[:6], "--auto-approve"], env)
    assert gone.code == 0, gone.text
    assert world.wait_no_deployments() == []
    assert read_state(tmp_path)["resources"] == {}
    assert read_state(tmp_path)["invocations"][inv]["status"] == "destroyed"

    twice = run_cli(["destroy", inv, "--auto-approve"], env)
    assert twice.code == 0, twice.text
    assert "Nothing to destroy." in twice.out

    everything = "\n".join(
        [
            plan.text,
            applied.text,
            again.text,
            gone.text,
            twice.text,
            (tmp_path / "state" / "nimctl.state.json").read_text(),
        ]
    )
    assert ENDPOINT_TOKEN not in everything


def test_plan_json_carries_the_exact_spec(emulator, world, tmp_path):
    config = copy_config(tmp_path)
    result = run_cli(["plan", "-f", str(config), "--json"], cli_env(emulator, tmp_path))
    assert result.code == 0, result.text
    doc = json.loads(result.out)
    endpoint = next(c for c in doc["resource_changes"] if c["type"] == "endpoint")
    assert endpoint["actions"] == ["create"]
    spec = endpoint["after"]["spec"]
    assert spec["container"]["image"] == "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.8.6"
    assert spec["resource_requirement"]["min_replicas"] == 1
    assert spec["resource_requirement"]["max_replicas"] == 3
    assert spec["api_tokens"] == [{"value_from": {"token_name_ref": "ENDPOINT_API_KEY"}}]


def test_update_in_place_then_replace(emulator, world, tmp_path):
    config = copy_config(tmp_path)
    env = cli_env(emulator, tmp_path)
    assert run_cli(["apply", "-f", str(config), "--auto-approve"], env).code == 0
    created = world.deployments()[0]["metadata"].get("created_at")

    more = run_cli(["plan", "-f", str(config), "-o", "deployment.lepton_config.max_replicas=5"], env)
    assert more.code == 0, more.text
    assert "1 to change" in more.out and "0 to replace" in more.out
    updated = run_cli(
        ["apply", "-f", str(config), "-o", "deployment.lepton_config.max_replicas=5", "--auto-approve"], env
    )
    assert updated.code == 0, updated.text
    [dep] = world.deployments()
    assert dep["spec"]["resource_requirement"]["max_replicas"] == 5
    assert dep["metadata"].get("created_at") == created  # same object, changed in place
    assert len(world.jobs()) == 1  # replicas do not affect the model: the eval is not re-run

    image = "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.8.7"
    replaced = run_cli(
        [
            "apply",
            "-f",
            str(config),
            "-o",
            "deployment.lepton_config.max_replicas=5",
            "-o",
            f"deployment.image={image}",
            "--auto-approve",
        ],
        env,
    )
    assert replaced.code == 0, replaced.text
    [dep] = world.deployments()
    assert dep["spec"]["container"]["image"] == image
    assert len(world.jobs()) == 2  # the model changed: the evaluation ran again


def test_failed_job_is_rerun_alone(emulator, world, tmp_path):
    config = tmp_path / "two.yaml"
    config.write_text(
        copy_config(tmp_path).read_text().replace("    - name: ifeval", "    - name: ifeval\n    - name: gsm8k")
    )
    env = cli_env(emulator, tmp_path)
    emulator.configure(fail_job_pattern="gsm8k")
    first = run_cli(["apply", "-f", str(config), "--auto-approve"], env)
    assert first.code == 1, first.text
    assert "gsm8k" in first.err and "re-runs only these" in first.err
    assert world.deployment_names() == ["llama-3-1-8b"]  # an eval failure keeps the endpoint

    emulator.configure(fail_job_pattern=None)
    plan = run_cli(["plan", "-f", str(config)], env)
    assert "1 jobs to run" in plan.out or "1 job to run" in plan.out, plan.out
    second = run_cli(["apply", "-f", str(config), "--auto-approve"], env)
    assert second.code == 0, second.text
    names = world.job_names()
    assert len(names) == 3 and sum("gsm8k" in n for n in names) == 2

    # Destroying the first invocation removes what it created and is still its own, not the re-run.
    assert run_cli(["destroy", invocation_id(first.out), "--auto-approve"], env).code == 0
    assert sorted(read_state(tmp_path)["resources"]) == ["job.llama-3-1-8b.gsm8k"]
    assert read_state(tmp_path)["resources"]["job.llama-3-1-8b.gsm8k"]["invocation_id"] == invocation_id(second.out)


def test_readiness_timeout_cleans_up(emulator, world, tmp_path):
    config = copy_config(tmp_path)
    emulator.configure(ready_after=60)
    env = cli_env(emulator, tmp_path)
    result = run_cli(
        [
            "apply",
            "-f",
            str(config),
            "--auto-approve",
            "-o",
            "execution.lepton_platform.deployment.endpoint_readiness_timeout=1",
        ],
        env,
    )
    assert result.code == 1, result.text
    assert "not ready after 1 s" in result.err
    assert "raise execution.lepton_platform.deployment.endpoint_readiness_timeout" in result.err
    assert world.wait_no_deployments() == []
    state = read_state(tmp_path)
    inv = invocation_id(result.out)
    assert state["invocations"][inv]["status"] == "failed"
    assert state["resources"] == {} and state["pending"] == []


def test_platform_error_state_fails_fast_with_events(emulator, world, tmp_path):
    config = copy_config(tmp_path)
    emulator.configure(error_image_pattern="broken")
    env = cli_env(emulator, tmp_path)
    result = run_cli(["apply", "-f", str(config), "--auto-approve", "-o", "deployment.image=nvcr.io/nim/broken:1"], env)
    assert result.code == 1, result.text
    assert "latest events" in result.err
    assert world.wait_no_deployments() == []


def test_keep_on_failure_keeps_the_endpoint(emulator, world, tmp_path):
    config = copy_config(tmp_path)
    emulator.configure(error_image_pattern="broken")
    env = cli_env(emulator, tmp_path)
    result = run_cli(
        [
            "apply",
            "-f",
            str(config),
            "--auto-approve",
            "--keep-on-failure",
            "-o",
            "deployment.image=nvcr.io/nim/broken:1",
        ],
        env,
    )
    assert result.code == 1
    assert world.deployment_names() == ["llama-3-1-8b"]
    inv = invocation_id(result.out)
    assert run_cli(["destroy", inv, "--auto-approve"], env).code == 0
    assert world.wait_no_deployments() == []


def test_destroy_after_removes_the_endpoint(emulator, world, tmp_path):
    config = copy_config(tmp_path)
    env = cli_env(emulator, tmp_path)
    result = run_cli(["apply", "-f", str(config), "--auto-approve", "--destroy-after"], env)
    assert result.code == 0, result.text
    assert world.wait_no_deployments() == []
    assert "endpoint.llama-3-1-8b" not in read_state(tmp_path)["resources"]


def test_no_wait_then_apply_picks_up_the_job(emulator, world, tmp_path):
    config = copy_config(tmp_path)
    emulator.configure(job_duration=1.0)
    env = cli_env(emulator, tmp_path)
    first = run_cli(["apply", "-f", str(config), "--auto-approve", "--no-wait"], env)
    assert first.code == 0, first.text
    second = run_cli(["apply", "-f", str(config), "--auto-approve"], env)
    assert second.code == 0, second.text
    assert len(world.jobs()) == 1
    job = next(r for a, r in read_state(tmp_path)["resources"].items() if a.startswith("job."))
    assert job["observed"]["state"] == "succeeded"


def test_apply_without_terminal_or_approval_refuses(emulator, world, tmp_path):
    config = copy_config(tmp_path)
    result = run_cli(["apply", "-f", str(config)], cli_env(emulator, tmp_path))
    assert result.code == 1
    assert "--auto-approve" in result.err
    assert world.deployment_names() == []


def test_saved_plan_applies_and_stale_plan_is_refused(emulator, world, tmp_path):
    config = copy_config(tmp_path)
    env = cli_env(emulator, tmp_path)
    planfile = tmp_path / "seed.plan"
    assert run_cli(["plan", "-f", str(config), "--out", str(planfile)], env).code == 0
    stale = tmp_path / "stale.plan"
    assert run_cli(["plan", "-f", str(config), "--out", str(stale)], env).code == 0
    applied = run_cli(["apply", str(planfile), "--auto-approve"], env)
    assert applied.code == 0, applied.text
    refused = run_cli(["apply", str(stale), "--auto-approve"], env)
    assert refused.code == 1, refused.text
    assert "stale" in refused.err.lower()
    assert world.deployment_names() == ["llama-3-1-8b"]


def test_status_results_logs_show_and_state_commands(emulator, world, tmp_path):
    config = copy_config(tmp_path)
    env = cli_env(emulator, tmp_path)
    applied = run_cli(["apply", "-f", str(config), "--auto-approve"], env)
    assert applied.code == 0, applied.text
    inv = invocation_id(applied.out)

    status = run_cli(["status", inv[:8], "--json"], env)
    assert status.code == 0, status.text
    [item] = json.loads(status.out)["invocations"]
    kinds = {r["address"]: r for r in item["resources"]}
    assert kinds["endpoint.llama-3-1-8b"]["state"] == "ready"
    assert kinds["job.llama-3-1-8b.ifeval"]["state"] == "succeeded"

    results = run_cli(["results", inv], env)
    assert results.code == 0 and "job.llama-3-1-8b.ifeval" in results.out, results.text
    logs = run_cli(["logs", inv, "--task", "ifeval"], env)
    assert logs.code == 0 and "==> job.llama-3-1-8b.ifeval" in logs.out, logs.text
    endpoint_logs = run_cli(["logs", inv, "--endpoint"], env)
    assert endpoint_logs.code == 0 and "==> endpoint.llama-3-1-8b" in endpoint_logs.out, endpoint_logs.text
    missing = run_cli(["logs", inv, "--task", "nosuchtask"], env)
    assert missing.code == 1 and "no task nosuchtask" in missing.err

    listing = run_cli(["state", "list"], env)
    assert listing.out.split() == ["endpoint.llama-3-1-8b", "job.llama-3-1-8b.ifeval"]
    shown = run_cli(["show"], env)
    assert shown.code == 0 and inv in shown.out
    assert json.loads(run_cli(["show", "--json"], env).out)["resources"].keys() == set(listing.out.split())

    removed = run_cli(["state", "rm", "job.llama-3-1-8b.ifeval"], env)
    assert removed.code == 0 and "still exists" in removed.out
    assert (tmp_path / "state" / "nimctl.state.json.backup").exists()
    assert run_cli(["state", "list"], env).out.split() == ["endpoint.llama-3-1-8b"]
    typo = run_cli(["state", "rm", "endpoint.llama-3-1-9b"], env)
    assert typo.code == 1 and "endpoint.llama-3-1-8b" in typo.err  # suggests the close match

    unknown = run_cli(["status", "ffff"], env)
    assert unknown.code == 1 and "no invocation" in unknown.err
    assert ENDPOINT_TOKEN not in "".join(r.text for r in (status, results, logs, endpoint_logs, shown))
