"""The launcher 0.2.6's own Lepton examples, unchanged, through the real CLI and SDK against the
emulator in both endpoint API families: validate, plan (node groups resolved to ids), apply,
destroy. Also the workspace pre-flight: unknown node groups, missing secrets, unknown shapes,
pull secrets and host: values (which reach the platform but never state, plans or output)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import HF_TOKEN, Platform, cli_env, copy_config, read_state, run_cli

pytestmark = pytest.mark.timeout(300)

LAUNCHER = Path(__file__).resolve().parents[1] / "fixtures" / "launcher"
# The launcher's examples name the jobs' node group and give the endpoint's as an id.
NODE_GROUP = "nv-int-multiteam-nebius-h200-01"
NODE_GROUP_ID = "nv-int-multiteam-nebius-h200-01-mjgbgffo"
HOST_VALUE = "host-value-9c4e1f7b"  # planted: may reach the platform, never state/plan/output


@pytest.fixture(params=["legacy", "new"], ids=["deployments-api", "endpoints-api"])
def workspace(request, emulator) -> Platform:
    emulator.configure(
        ready_after=0.2,
        job_duration=0.3,
        node_groups={NODE_GROUP: NODE_GROUP_ID, "cpu-pool": "cpu-pool-77aa"},
        new_deployment_api=request.param == "new",
    )
    platform = Platform(emulator)
    platform.add_workspace_secrets()
    return platform


def _env(emulator, tmp_path, **extra):
    return cli_env(emulator, tmp_path, USER="tester", **extra)


def _affinities(emulator) -> list[list[str]]:
    found = [
        (d["spec"].get("resource_requirement") or {}).get("affinity", {}).get("allowed_dedicated_node_groups")
        for d in emulator.world.deployments()
    ]
    found += [(j["spec"].get("affinity") or {}).get("allowed_dedicated_node_groups") for j in emulator.world.jobs()]
    return found


@pytest.mark.parametrize("example", ["lepton_nim.yaml", "lepton_vllm.yaml", "lepton_basic.yaml"])
def test_launcher_example_validates_plans_applies_and_destroys_unchanged(emulator, workspace, tmp_path, example):
    config = copy_config(tmp_path, LAUNCHER / example)
    env = _env(emulator, tmp_path)
    assert run_cli(["validate", "-f", str(config)], env).code == 0

    planned = run_cli(["plan", "-f", str(config), "--json"], env)
    assert planned.code == 0, planned.text
    document = json.loads(planned.out)
    jobs = [c for c in document["resource_changes"] if c["type"] == "job"]
    assert jobs and all(
        c["after"]["spec"]["affinity"]["allowed_dedicated_node_groups"] == [NODE_GROUP_ID] for c in jobs
    )

    applied = run_cli(["apply", "-f", str(config), "--auto-approve"], env)
    assert applied.code == 0, applied.text
    # the examples set the endpoint's pull secret (lepton_nim and lepton_vllm leave the jobs' out)
    assert "platform_defaults.image_pull_secrets" not in applied.text
    assert _affinities(emulator) and all(a == [NODE_GROUP_ID] for a in _affinities(emulator))
    routes = {r.route.split("/")[1] for r in emulator.requests if r.method == "POST"}
    if example != "lepton_basic.yaml":
        assert ("endpoints" if emulator.options.new_deployment_api else "deployments") in routes
    inv = next(line.split(": ", 1)[1] for line in applied.out.splitlines() if line.startswith("Invocation: "))
    destroyed = run_cli(["destroy", inv, "--auto-approve"], env)
    assert destroyed.code == 0, destroyed.text
    assert workspace.wait_no_deployments() == []


def test_an_unknown_node_group_name_is_a_plan_error_listing_the_workspaces_groups(emulator, workspace, tmp_path):
    config = copy_config(tmp_path, LAUNCHER / "lepton_nim.yaml")
    env = _env(emulator, tmp_path)
    planned = run_cli(["plan", "-f", str(config), "-o", "execution.lepton_platform.tasks.node_group=gpu-pool"], env)
    assert planned.code == 1
    assert "node group 'gpu-pool' is neither the name nor the id" in planned.err
    assert f"{NODE_GROUP} (id {NODE_GROUP_ID})" in planned.err and "cpu-pool (id cpu-pool-77aa)" in planned.err
    assert "Traceback" not in planned.text
    node_group_listings = [r for r in emulator.requests if r.route == "/dedicated-node-groups"]
    assert len(node_group_listings) == 1  # one listing per plan


def test_preflight_warns_in_plan_and_stops_apply_before_anything_is_created(emulator, workspace, tmp_path):
    config = copy_config(tmp_path, LAUNCHER / "lepton_nim.yaml")
    bad = [
        "-o",
        "deployment.lepton_config.resource_shape=gpu.64xh900",
        "-o",
        "deployment.lepton_config.envs.NGC_API_KEY={value_from: {secret_name_ref: NGC_KEY}}",
    ]
    env = _env(emulator, tmp_path)
    planned = run_cli(["plan", "-f", str(config), *bad], env)
    assert planned.code == 0, planned.text  # the whole change is still shown
    assert "will be created" in planned.out
    assert "resource shape 'gpu.64xh900' is not offered" in planned.err
    assert "references secret 'NGC_KEY'" in planned.err
    emulator.clear_requests()
    applied = run_cli(["apply", "-f", str(config), "--auto-approve", *bad], env)
    assert applied.code == 1
    assert "cannot run this as written (2 problem(s))" in applied.err and "nothing was created" in applied.err
    assert not [r for r in emulator.requests if r.method in ("POST", "PATCH", "DELETE")]
    assert emulator.world.deployments() == [] and emulator.world.jobs() == []


def test_a_private_image_without_pull_secret_is_a_warning_naming_image_and_setting(emulator, workspace, tmp_path):
    config = copy_config(tmp_path)  # the seed example sets no image pull secret
    env = _env(emulator, tmp_path)
    planned = run_cli(["plan", "-f", str(config)], env)
    assert planned.code == 0, planned.text
    assert "image nvcr.io/nim/meta/llama-3.1-8b-instruct:1.8.6 is in a private registry" in planned.err
    assert "execution.lepton_platform.deployment.platform_defaults.image_pull_secrets" in planned.err


def test_host_values_reach_the_platform_but_never_state_plan_or_output(emulator, workspace, tmp_path):
    config = copy_config(tmp_path, LAUNCHER / "lepton_nim.yaml")
    text = config.read_text().replace(
        '      OMPI_ALLOW_RUN_AS_ROOT: "1"\n',
        '      OMPI_ALLOW_RUN_AS_ROOT: "1"\n      FROM_HOST: host:NIMCTL_TEST_HOST_VALUE\n',
    )
    text = text.replace(
        "      env_vars:\n        HF_TOKEN:",
        "      env_vars:\n        JOB_HOST: host:NIMCTL_TEST_HOST_VALUE\n        HF_TOKEN:",
        1,
    )
    config.write_text(text)
    missing = run_cli(["apply", "-f", str(config), "--auto-approve"], _env(emulator, tmp_path))
    assert missing.code == 1 and "NIMCTL_TEST_HOST_VALUE is not set" in missing.err
    assert emulator.world.deployments() == []

    env = _env(emulator, tmp_path, NIMCTL_TEST_HOST_VALUE=HOST_VALUE)
    outputs = [run_cli(["plan", "-f", str(config), "--out", str(tmp_path / "saved.plan")], env)]
    outputs.append(run_cli(["apply", str(tmp_path / "saved.plan"), "--auto-approve"], env))
    assert outputs[-1].code == 0, outputs[-1].text
    [deployment] = emulator.world.deployments()
    sent = {e["name"]: e.get("value") for e in deployment["spec"]["envs"]}
    assert sent["FROM_HOST"] == HOST_VALUE
    [job] = emulator.world.jobs()
    assert {e["name"]: e.get("value") for e in job["spec"]["envs"]}["JOB_HOST"] == HOST_VALUE
    outputs.append(run_cli(["plan", "-f", str(config)], env))  # drift check reads the live value
    assert "No changes" in outputs[-1].out or "no changes" in outputs[-1].out.lower(), outputs[-1].text
    outputs += [run_cli(["status", "--json"], env), run_cli(["show", "--json"], env)]
    for result in outputs:
        assert HOST_VALUE not in result.text
    assert HOST_VALUE not in json.dumps(read_state(tmp_path))
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.suffix != ".yaml":
            assert HOST_VALUE.encode() not in path.read_bytes(), path
    assert HF_TOKEN not in "".join(r.text for r in outputs)


def test_a_failed_endpoint_leaves_the_platforms_report_beside_the_state_before_cleanup(emulator, workspace, tmp_path):
    emulator.configure(error_image_pattern="llama-3.1-8b-instruct")
    config = copy_config(tmp_path, LAUNCHER / "lepton_nim.yaml")
    env = _env(emulator, tmp_path)
    applied = run_cli(["apply", "-f", str(config), "--auto-approve"], env)
    assert applied.code == 1
    assert "ErrImagePull" in applied.err and "last log lines" in applied.err
    [report] = (tmp_path / "state").glob("failure-*-llama-3-1-8b.log")
    text = report.read_text()
    assert oct(report.stat().st_mode & 0o777) == "0o600"
    # events and log lines can only be read while the endpoint exists: kept before the cleanup
    assert "ErrImagePull" in text and "[emulator] pulling image nvcr.io/nim/meta/llama-3.1-8b-instruct:1.8.6" in text
    if not emulator.options.new_deployment_api:  # the new API family has no readiness route
        assert "readiness (1 replica): ConfigError" in text
    assert str(report) in applied.err
    assert workspace.wait_no_deployments() == []  # and the cleanup still ran
