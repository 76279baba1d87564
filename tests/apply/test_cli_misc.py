"""CLI behaviour around the main lifecycle: version, show-config, exit codes, targets, shared endpoints."""

from __future__ import annotations

import json

import pytest

from tests.support.cli import (
    REPO,
    cli_env,
    copy_config,
    invocation_id,
    read_state,
    run_cli,
)

pytestmark = pytest.mark.timeout(180)


def test_version_and_help(tmp_path, emulator):
    env = cli_env(emulator, tmp_path)
    version = run_cli(["--version"], env)
    assert version.code == 0 and version.out.startswith("nimctl ")
    helped = run_cli(["--help"], env)
    assert helped.code == 0 and "apply" in helped.out and "destroy" in helped.out


def test_show_config_redacts_literal_tokens(tmp_path, emulator):
    literal = "literal-token-value-9183"
    config = tmp_path / "literal.yaml"
    config.write_text(
        (REPO / "examples" / "lepton_literal_token.yaml")
        .read_text()
        .replace("replace-with-a-long-random-endpoint-token", literal)
    )
    shown = run_cli(["show-config", "-f", str(config)], cli_env(emulator, tmp_path))
    assert shown.code == 0, shown.text
    assert "(sensitive)" in shown.out and literal not in shown.text
    assert "resource_shape: gpu.1xh200" in shown.out  # composed with the bundled defaults


def test_detailed_exitcode_and_no_refresh(emulator, world, tmp_path):
    config = copy_config(tmp_path)
    env = cli_env(emulator, tmp_path)
    changes = run_cli(["plan", "-f", str(config), "--detailed-exitcode"], env)
    assert changes.code == 2, changes.text
    assert run_cli(["apply", "-f", str(config), "--auto-approve"], env).code == 0
    none = run_cli(["plan", "-f", str(config), "--detailed-exitcode"], env)
    assert none.code == 0 and "No changes." in none.out
    before = len(emulator.requests)
    offline = run_cli(["plan", "-f", str(config), "--refresh=false"], env)
    assert offline.code == 0 and "No changes." in offline.out
    assert len(emulator.requests) == before  # --refresh=false calls no platform
    assert run_cli(["plan", "-f", str(config), "--no-refresh"], env).code == 0
    bad = run_cli(["plan", "-f", str(config), "--refresh=maybe"], env)
    assert bad.code == 1 and "true or false" in bad.err


def test_target_limits_the_plan(emulator, world, tmp_path):
    config = tmp_path / "two.yaml"
    config.write_text(
        copy_config(tmp_path).read_text().replace("    - name: ifeval", "    - name: ifeval\n    - name: gsm8k")
    )
    env = cli_env(emulator, tmp_path)
    doc = json.loads(run_cli(["plan", "-f", str(config), "--json", "--target", "job.llama-3-1-8b.gsm8k"], env).out)
    addresses = sorted(c["address"] for c in doc["resource_changes"])
    assert addresses == ["endpoint.llama-3-1-8b", "job.llama-3-1-8b.gsm8k"]  # the job and what it needs
    applied = run_cli(["apply", "-f", str(config), "--auto-approve", "--target", "job.llama-3-1-8b.gsm8k"], env)
    assert applied.code == 0, applied.text
    assert len(world.jobs()) == 1 and "gsm8k" in world.job_names()[0]


def test_endpoint_still_used_by_another_invocation_needs_force(emulator, world, tmp_path):
    config = copy_config(tmp_path)
    env = cli_env(emulator, tmp_path)
    first = run_cli(["apply", "-f", str(config), "--auto-approve"], env)
    assert first.code == 0, first.text
    creator = invocation_id(first.out)

    emulator.configure(job_duration=60)
    more = tmp_path / "more.yaml"
    more.write_text(config.read_text().replace("    - name: ifeval", "    - name: ifeval\n    - name: gsm8k"))
    second = run_cli(["apply", "-f", str(more), "--auto-approve", "--no-wait"], env)
    assert second.code == 0, second.text
    user = invocation_id(second.out)

    refused = run_cli(["destroy", creator, "--auto-approve"], env)
    assert refused.code == 1, refused.text
    assert user in refused.err and "--force" in refused.err
    assert world.deployment_names() == ["llama-3-1-8b"]

    forced = run_cli(["destroy", creator, "--auto-approve", "--force"], env)
    assert forced.code == 0, forced.text
    assert world.wait_no_deployments() == []
    assert run_cli(["destroy", user, "--auto-approve"], env).code == 0
    assert read_state(tmp_path)["resources"] == {}
