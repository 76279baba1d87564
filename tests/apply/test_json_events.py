"""`apply --json` and `destroy --json`: one JSON object per line, each with a type; the first
carries the invocation id, the last the outcome and exit code. Through the real CLI and SDK."""

from __future__ import annotations

import json

import pytest

from tests.support.cli import ENDPOINT_TOKEN, cli_env, copy_config, run_cli

pytestmark = pytest.mark.timeout(180)


def events(out: str) -> list[dict]:
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines and all(isinstance(e, dict) and e.get("type") for e in lines), out
    return lines


def test_apply_and_destroy_speak_json(emulator, world, tmp_path):
    config = copy_config(tmp_path)
    env = cli_env(emulator, tmp_path)

    applied = run_cli(["apply", "-f", str(config), "--json", "--auto-approve"], env)
    assert applied.code == 0, applied.text
    stream = events(applied.out)
    first, last = stream[0], stream[-1]
    assert first["type"] == "run_start" and first["command"] == "apply"
    inv = first["invocation_id"]
    assert inv and len(inv) == 16
    kinds = [e["type"] for e in stream]
    assert kinds.index("plan") < kinds.index("invocation_started") < kinds.index("job_results")
    assert {"address": "endpoint.llama-3-1-8b", "step": "creating"}.items() <= next(
        e for e in stream if e["type"] == "resource_step"
    ).items()
    assert any(e["type"] == "progress" and e["phase"] == "endpoints_ready" for e in stream)
    [results] = [e["results"] for e in stream if e["type"] == "job_results"]
    assert [r["state"] for r in results] == ["succeeded"]
    assert last["type"] == "apply_complete" and last["outcome"] == "succeeded" and last["exit_code"] == 0
    assert last["invocation_id"] == inv and last["summary"]["add"] == 1 and last["summary"]["jobs_succeeded"] == 1
    assert ENDPOINT_TOKEN not in applied.out + applied.err

    again = run_cli(["apply", "-f", str(config), "--json", "--auto-approve"], env)
    assert again.code == 0, again.text
    assert [e["type"] for e in events(again.out)][-1] == "apply_complete"
    assert events(again.out)[-1]["outcome"] == "no_changes"

    gone = run_cli(["destroy", inv, "--json", "--auto-approve"], env)
    assert gone.code == 0, gone.text
    stream = events(gone.out)
    assert stream[0] == {**stream[0], "type": "run_start", "command": "destroy", "invocation_id": inv}
    [planned] = [e for e in stream if e["type"] == "destroy_plan"]
    assert {r["address"] for r in planned["resources"]} == {"endpoint.llama-3-1-8b", *_job_addresses(results)}
    assert stream[-1]["type"] == "destroy_complete" and stream[-1]["outcome"] == "succeeded"
    assert sorted(stream[-1]["removed"]) == sorted(r["address"] for r in planned["resources"])
    assert world.wait_no_deployments() == []


def _job_addresses(results: list[dict]) -> set[str]:
    return {r["address"] for r in results}


def test_json_needs_auto_approve_and_reports_errors_as_json(emulator, world, tmp_path):
    config = copy_config(tmp_path)
    env = cli_env(emulator, tmp_path)

    refused = run_cli(["apply", "-f", str(config), "--json"], env)
    assert refused.code == 1 and refused.err == ""
    stream = events(refused.out)
    assert [e["type"] for e in stream] == ["run_start", "error", "apply_complete"]
    assert "--auto-approve" in stream[1]["hint"]
    assert stream[-1]["exit_code"] == 1 and stream[-1]["outcome"] == "failed"
    assert world.deployment_names() == []

    missing = run_cli(["destroy", "0123abcd", "--json", "--auto-approve"], env)
    assert missing.code == 1
    stream = events(missing.out)
    assert stream[0]["type"] == "run_start" and stream[-1]["type"] == "destroy_complete"
    assert "no invocation" in stream[1]["message"]
