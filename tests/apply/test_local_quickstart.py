"""The README's quick start, end to end, as a user runs it: real processes on the local platform."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.support.cli import REPO, invocation_id, local_env, read_state, run_cli

pytestmark = pytest.mark.timeout(180)
QUICKSTART = REPO / "examples" / "local-quickstart.yaml"


def processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line or environment mention ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            blob = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
            status = (entry / "status").read_text()
        except OSError:
            continue
        if "State:\tZ" in status:
            continue
        if text.encode() in blob:
            found.append(int(entry.name))
    return found


def endpoint_pid(tmp_path: Path) -> int:
    [record] = (tmp_path / "state" / "local" / "endpoints").glob("*.json")
    return int(json.loads(record.read_text())["pid"])


def test_quickstart_apply_results_destroy(tmp_path):
    env = local_env(tmp_path)
    applied = run_cli(["apply", "-f", str(QUICKSTART), "--auto-approve"], env, cwd=tmp_path)
    assert applied.code == 0, applied.text
    inv = invocation_id(applied.out)
    assert "checks_passed=5, pass_rate=1" in applied.out  # built-ins report eval-factory scores too
    assert f"nimctl destroy {inv}" in applied.out
    lines = applied.out.splitlines()
    table = lines[next(i for i, line in enumerate(lines) if line.startswith("task ")) :]
    table = table[: next(i for i, line in enumerate(table) if line.startswith("Endpoint "))]
    assert len(table) >= 4 and max(len(line) for line in table) <= 100  # the results table fits 100 columns

    results = run_cli(["results", inv, "--json"], env, cwd=tmp_path)
    assert results.code == 0, results.text
    doc = json.loads(results.out)
    by_task = {r["address"]: r for r in doc["results"]}
    smoke = by_task["job.local-quickstart.nimctl.smoke"]["results"]
    perf = by_task["job.local-quickstart.nimctl.perf"]["results"]
    assert smoke["passed"] is True and all(c["passed"] for c in smoke["checks"])
    assert [level["concurrency"] for level in perf["levels"]] == [1, 4, 16]
    assert Path(by_task["job.local-quickstart.nimctl.smoke"]["results_dir"]).is_relative_to(tmp_path)
    scores = by_task["job.local-quickstart.nimctl.smoke"]["tasks"]["smoke"]["metrics"]
    assert scores["pass_rate"]["scores"]["pass_rate"]["value"] == 1.0
    assert "5/5 checks passed" in run_cli(["results", inv], env, cwd=tmp_path).out

    again = run_cli(["apply", "-f", str(QUICKSTART), "--auto-approve"], env, cwd=tmp_path)
    assert again.code == 0 and "No changes." in again.out, again.text

    state_dir = str(tmp_path / "state")
    assert processes_mentioning(state_dir)  # the endpoint outlives apply
    gone = run_cli(["destroy", inv, "--auto-approve"], env, cwd=tmp_path)
    assert gone.code == 0, gone.text
    assert processes_mentioning(state_dir) == []
    assert read_state(tmp_path)["resources"] == {}


def test_dead_endpoint_is_noticed_and_restarted(tmp_path):
    env = local_env(tmp_path)
    assert run_cli(["apply", "-f", str(QUICKSTART), "--auto-approve"], env, cwd=tmp_path).code == 0
    os.killpg(endpoint_pid(tmp_path), signal.SIGKILL)
    time.sleep(0.3)
    plan = run_cli(["plan", "-f", str(QUICKSTART)], env, cwd=tmp_path)
    assert plan.code == 0, plan.text
    assert "endpoint.local-quickstart" in plan.out and "No changes." not in plan.out
    reapplied = run_cli(["apply", "-f", str(QUICKSTART), "--auto-approve"], env, cwd=tmp_path)
    assert reapplied.code == 0, reapplied.text
    status = json.loads(run_cli(["status", "--json"], env, cwd=tmp_path).out)
    live = [r for inv in status["invocations"] for r in inv["resources"] if r["type"] == "endpoint"]
    assert live and live[0]["state"] == "ready"
    assert run_cli(["destroy", "--all", "--auto-approve"], env, cwd=tmp_path).code == 0
    assert processes_mentioning(str(tmp_path / "state")) == []


def failing_config(tmp_path: Path) -> Path:
    config = tmp_path / "failing.yaml"
    config.write_text(
        QUICKSTART.read_text().replace(
            "    - name: nimctl.smoke",
            "    - name: broken\n      command: [python3, -c, 'raise SystemExit(3)']\n    - name: nimctl.smoke",
        )
    )
    return config


def test_failing_task_command_fails_the_apply_and_keeps_the_endpoint(tmp_path):
    config = failing_config(tmp_path)
    env = local_env(tmp_path)
    result = run_cli(["apply", "-f", str(config), "--auto-approve"], env, cwd=tmp_path)
    assert result.code == 1, result.text
    assert "job.failing.broken" in result.err  # the stack is named after the file
    assert "The endpoint is kept; the next `nimctl apply` re-runs only these." in result.err
    assert "Endpoint failing is still running" in result.out
    assert processes_mentioning(str(tmp_path / "state"))  # an eval failure keeps the endpoint
    assert run_cli(["destroy", "--all", "--auto-approve"], env, cwd=tmp_path).code == 0
    assert processes_mentioning(str(tmp_path / "state")) == []


def test_busy_port_is_a_clear_error(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = local_env(tmp_path)
        result = run_cli(
            ["apply", "-f", str(QUICKSTART), "--auto-approve", "-o", f"deployment.port={port}"], env, cwd=tmp_path
        )
    assert result.code == 1
    assert str(port) in result.err and "Traceback" not in result.text
    assert processes_mentioning(str(tmp_path / "state")) == []


def test_endpoint_command_beside_nimctl_runs_without_it_on_path(tmp_path):
    """`.venv/bin/nimctl apply` from a shell whose venv is not activated: an endpoint whose command
    is a tool installed beside nimctl's interpreter (here `nimctl mock-server`) is found."""
    minimal = "/usr/bin:/bin"
    if shutil.which("nimctl", path=minimal):
        pytest.skip(f"nimctl is installed in {minimal}: the test needs it only beside {sys.executable}")
    config = tmp_path / "tools.yaml"
    config.write_text(
        QUICKSTART.read_text().replace(
            "  port: auto  # the local provider picks a free port\n",
            '  port: auto\n  command: [nimctl, mock-server, --port, "{port}", --served-model-name, mock-model]\n',
        )
    )
    env = {**local_env(tmp_path), "PATH": minimal}
    result = run_cli(["apply", "-f", str(config), "--auto-approve", "--destroy-after"], env, cwd=tmp_path)
    assert result.code == 0, result.text
    assert "checks_passed=5, pass_rate=1" in result.out
    assert processes_mentioning(str(tmp_path / "state")) == []


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ("  local:\n    readiness_timeout: 1\n", "execution.local.readiness_timeout"),
        ("  endpoint_readiness_timeout: 1\n", "execution.endpoint_readiness_timeout"),  # the launcher's key
    ],
)
def test_readiness_timeout_names_the_local_setting_and_keeps_the_logs(tmp_path, setting, named):
    config = tmp_path / "slow.yaml"
    config.write_text(
        QUICKSTART.read_text()
        .replace("  output_dir: results/quickstart\n", f"  output_dir: results/quickstart\n{setting}")
        .replace(
            "  port: auto  # the local provider picks a free port\n",
            "  port: auto\n  command: ['${nimctl.python:}', -m, nimctl.offline.mock_server, --port, '{port}', "
            "--served-model-name, mock-model, --startup-delay, '60']\n",
        )
    )
    env = local_env(tmp_path)
    result = run_cli(["apply", "-f", str(config), "--auto-approve"], env, cwd=tmp_path)
    assert result.code == 1, result.text
    assert "endpoint slow was not ready after 1 s" in result.err
    assert f"raise {named};" in result.err and "lepton" not in result.err
    [report] = (tmp_path / "state").glob(f"failure-{invocation_id(result.out)}-slow.log")
    assert "ready in 60 s" in report.read_text()  # the server's own log line
    assert processes_mentioning(str(tmp_path / "state")) == []


def test_destroy_after_a_failed_job_says_the_endpoint_was_deleted(tmp_path):
    config = failing_config(tmp_path)
    env = local_env(tmp_path)
    result = run_cli(["apply", "-f", str(config), "--auto-approve", "--destroy-after"], env, cwd=tmp_path)
    assert result.code == 1, result.text
    assert "The endpoint was deleted (--destroy-after); the next `nimctl apply` starts it again" in result.err
    assert "kept" not in result.err and "still running" not in result.out
    assert processes_mentioning(str(tmp_path / "state")) == []

    # The JSON stream says the same; the next apply started the endpoint again for the failed job only.
    again = run_cli(["apply", "-f", str(config), "--auto-approve", "--destroy-after", "--json"], env, cwd=tmp_path)
    assert again.code == 1, again.text
    stream = [json.loads(line) for line in again.out.splitlines()]
    [failed] = [e for e in stream if e["type"] == "jobs_failed"]
    assert failed["addresses"] == ["job.failing.broken"]
    assert failed["endpoints_deleted"] == ["endpoint.failing"] and failed["endpoints_kept"] == []
    assert not [e for e in stream if e["type"] == "endpoint_kept"]
    assert stream[-1]["summary"]["add"] == 1 and stream[-1]["summary"]["run"] == 1
    assert processes_mentioning(str(tmp_path / "state")) == []
