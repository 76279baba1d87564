"""nimctl gc against the emulator, through the real CLI: after the state file is deleted, from
another directory, with a second live state whose objects it must not touch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import cli_env, copy_config, run_cli


@pytest.fixture
def env(world, emulator, tmp_path: Path) -> dict[str, str]:
    world.add_secret("NIMCTL_LEPTON_TOKEN", emulator.token)
    return cli_env(emulator, tmp_path, NIMCTL_CONFIG=str(tmp_path / "none.yaml"))


def _state(env: dict[str, str], path: Path) -> dict[str, str]:
    return {**env, "NIMCTL_STATE": str(path)}


def test_gc_after_the_state_file_is_deleted_keeps_a_live_states_objects(world, emulator, env, tmp_path: Path) -> None:
    config = copy_config(tmp_path)
    live = _state(env, tmp_path / "c" / "state" / "nimctl.state.json")
    other = ["-o", "deployment.lepton_config.endpoint_name=teammate-ep", "-o", "stack=teammate"]
    assert run_cli(["apply", "-f", str(config), "--auto-approve", *other], live).code == 0
    emulator.configure(job_duration=120)  # the eval job is still running when the state is lost
    lost = _state(env, tmp_path / "a" / "state" / "nimctl.state.json")
    applied = run_cli(
        ["apply", "-f", str(config), "--auto-approve", "--no-wait", "-o", "deployment.lepton_config.max_lifetime=6h"],
        lost,
    )
    assert applied.code == 0, applied.text
    assert world.deployment_names() == ["llama-3-1-8b", "teammate-ep"]

    (tmp_path / "a" / "state" / "nimctl.state.json").unlink()
    status = run_cli(["status"], lost)
    assert "No invocations recorded." in status.out
    assert "are not recorded by this state (" in status.out and "`nimctl gc`" in status.out
    destroyed = run_cli(["destroy", "--all", "--auto-approve"], lost)
    assert destroyed.code == 0 and "Nothing to destroy." in destroyed.out
    assert "`nimctl gc --dry-run` lists them" in destroyed.out

    elsewhere = _state(env, tmp_path / "b" / "state" / "nimctl.state.json")
    listed = run_cli(["gc", "--dry-run", "--json"], elsewhere, cwd=tmp_path)
    assert listed.code == 0, listed.text
    found = {f["name"]: f for f in json.loads(listed.out)["found"]}
    assert set(found) >= {"llama-3-1-8b", "ttl-llama-3-1-8b", "teammate-ep"}
    assert found["llama-3-1-8b"]["verdict"] == "orphan" and "is gone" in found["llama-3-1-8b"]["reason"]
    assert found["teammate-ep"]["verdict"] == "owned" and "recorded by the live state" in found["teammate-ep"]["reason"]
    assert found["llama-3-1-8b"]["resource_shape"] == "gpu.1xh200" and found["llama-3-1-8b"]["replicas"] >= 1
    running = [f for f in found.values() if f["kind"] == "job" and f["name"].startswith("eval-")]
    assert running and all(f["verdict"] == "orphan" for f in running)

    collected = run_cli(["gc", "--auto-approve"], elsewhere, cwd=tmp_path)
    assert collected.code == 0, collected.text
    assert collected.out.startswith("State: file:")
    assert "llama-3-1-8b: gone" in collected.out and "gc complete" in collected.out
    assert world.deployment_names() == ["teammate-ep"]  # the live state's endpoint is untouched
    alive = [j for j in world.jobs() if j["status"]["state"] not in ("Completed", "Failed", "Stopped")]
    assert [j["metadata"]["name"] for j in alive] == []  # eval job and lifetime job removed

    again = run_cli(["gc", "--dry-run"], elsewhere)
    assert "teammate-ep" in again.out and "keep: owned" in again.out
    named = run_cli(["gc", "--auto-approve", "teammate-ep"], elsewhere)
    assert named.code == 0, named.text
    assert world.deployment_names() == []


def test_gc_rejects_bad_input_without_touching_anything(world, env, tmp_path: Path) -> None:
    listed = run_cli(["gc", "--dry-run"], env)
    assert listed.code == 0 and "Nothing to collect" in listed.out
    bad = run_cli(["gc", "--older-than", "soon"], env)
    assert bad.code == 1 and "--older-than 'soon' is not a duration" in bad.err
    assert not (tmp_path / "state").exists()  # no state file, no lock file: nothing written
    unknown = run_cli(["gc", "--auto-approve", "nope"], env)
    assert unknown.code == 1 and "named nope" in unknown.err
    assert not (tmp_path / "state" / "nimctl.state.json").exists()
