"""Terraform habits: -h, --no-color, global options after the command, `nimctl output`,
`nimctl state show`. The state is the one the real applier records (in-memory platform)."""

from __future__ import annotations

import json

import pytest

from nimctl.state.store import StateStore
from tests.support.cli import run_cli
from tests.support.factories import stack
from tests.support.memory import MemoryWorkspace, apply

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def applied(tmp_path):
    path = tmp_path / "state" / "nimctl.state.json"
    ws = MemoryWorkspace(StateStore(path))
    code, _ = apply(ws, [stack("llama", ("ifeval",), token="tok-literal-5150")], invocation_id="d" * 16)
    assert code == 0
    return path, ws


def env_for(tmp_path) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("NIMCTL_", "LEPTON_"))}
    env["NIMCTL_STATE"] = str(tmp_path / "elsewhere.json")  # the tests pass --state explicitly
    return env


def test_dash_h_is_help_everywhere(tmp_path):
    for args in (["-h"], ["plan", "-h"], ["state", "-h"], ["state", "show", "-h"], ["output", "-h"]):
        result = run_cli(args, env_for(tmp_path))
        assert result.code == 0 and result.out.startswith("Usage: nimctl"), (args, result.text)


def test_output_and_state_show_read_the_state_given_after_the_command(applied, tmp_path):
    path, ws = applied
    env = env_for(tmp_path)
    url = ws.platform.endpoints["llama-ep"].url

    listed = run_cli(["output", "--state", str(path)], env)
    assert listed.code == 0, listed.text
    assert f'llama.url = "{url}"' in listed.out.splitlines()
    assert 'llama.model_id = "meta/llama-3.1-8b-instruct"' in listed.out.splitlines()

    one = run_cli(["output", "llama.url", f"--state={path}"], env)
    assert one.code == 0 and one.out == url + "\n"
    doc = json.loads(run_cli(["--state", str(path), "output", "--json"], env).out)
    assert doc["llama"] == {**doc["llama"], "endpoint": "llama-ep", "invocation": "d" * 16, "platform": "lepton"}

    missing = run_cli(["output", "qwen", "--state", str(path)], env)
    assert missing.code == 1 and "no output 'qwen'" in missing.err and "Traceback" not in missing.err

    shown = run_cli(["state", "show", "endpoint.llama-ep", "--state", str(path), "--no-color"], env)
    assert shown.code == 0, shown.text
    assert shown.out.startswith('# endpoint.llama-ep:\nendpoint "llama-ep" {')
    assert "tok-literal-5150" not in shown.out  # specs in the state are redacted
    record = json.loads(run_cli(["state", "show", "job.llama.ifeval", "--json", "--state", str(path)], env).out)
    assert record["type"] == "job" and record["invocation_id"] == "d" * 16
    gone = run_cli(["state", "show", "job.llama.nope", "--state", str(path)], env)
    assert gone.code == 1 and "is not in the state" in gone.err
