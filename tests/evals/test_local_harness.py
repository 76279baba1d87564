"""A real harness on the local platform: `nemo-evaluator run_eval` (the PyPI package) runs the
tests' framework against a mock server that requires a key; the key reaches it from nimctl's
environment (api_key_name alone), its results.yml scores come back in apply's table and in
`nimctl results`, a failing harness fails its job, and a job past its time limit is stopped and
says so."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.cli import invocation_id, local_env, read_state, run_cli
from tests.support.evals import accuracy, echo_tasks, results_json, with_tools, write_config

pytestmark = pytest.mark.timeout(240)
KEY = "local-eval-key-5d1e"  # planted: the endpoint's key, never in state or output


@pytest.fixture
def mock_endpoint(tmp_path: Path):
    """nimctl's mock server on a free loopback port, requiring KEY."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nimctl.offline.mock_server",
            "--port",
            "0",
            "--api-key",
            KEY,
            "--served-model-name",
            "test/echo",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = proc.stdout.readline()  # "... serving 'test/echo' on http://127.0.0.1:PORT/v1 (...)"
        url = line.split(" on ", 1)[1].split("/v1", 1)[0] if " on http://" in line else ""
        assert url.startswith("http://127.0.0.1:"), line
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def config(tmp_path: Path, url: str) -> Path:
    return write_config(
        tmp_path / "local-evals.yaml",
        {
            "defaults": [{"execution": "local"}, {"deployment": "none"}, "_self_"],
            "execution": {"output_dir": str(tmp_path / "results")},
            "target": {
                "api_endpoint": {
                    "url": f"{url}/v1/chat/completions",
                    "model_id": "test/echo",
                    "api_key_name": "ECHO_ENDPOINT_KEY",
                }
            },
            "evaluation": {"tasks": echo_tasks()},
        },
    )


def test_harness_runs_authenticates_and_its_scores_come_back(tmp_path: Path, mock_endpoint: str) -> None:
    env = with_tools({**local_env(tmp_path), "ECHO_ENDPOINT_KEY": KEY})
    path = config(tmp_path, mock_endpoint)
    plan = run_cli(["plan", "-f", str(path)], env, cwd=tmp_path)
    assert "API key: $ECHO_ENDPOINT_KEY from nimctl's environment" in plan.out, plan.text
    assert "time_limit" in plan.out and "3 s # evaluation.tasks.2.timeout" in plan.out

    started = time.monotonic()
    applied = run_cli(["apply", "-f", str(path), "--auto-approve"], env, cwd=tmp_path, timeout=200)
    assert applied.code == 1, applied.text  # two of the three jobs fail, on purpose
    assert "The next `nimctl apply` re-runs only these." in applied.err  # no endpoint of its own to keep
    assert time.monotonic() - started < 150
    inv = invocation_id(applied.out)
    table = applied.out[applied.out.index("task  ") :].splitlines()
    echo = next(line for line in table if line.startswith("nimctl_echo.echo "))
    assert "succeeded" in echo and "exact_word.accuracy=0.5" in echo
    assert "failed" in next(line for line in table if line.startswith("nimctl_echo.fail "))
    assert "timed out (3 s)" in next(line for line in table if line.startswith("nimctl_echo.sleep "))

    by_address = results_json(inv, env, cwd=tmp_path)
    scored = by_address["job.local-evals.nimctl_echo.echo"]
    assert scored["state"] == "succeeded" and accuracy(scored) == 0.5
    assert scored["versions"]["nemo_evaluator"].startswith("0.2.")
    assert scored["run_metrics"]["requests"] == 6 and scored["run_metrics"]["status_codes"] == {"200": 6}
    # the run config nemo-evaluator validated names the key only by its variable
    run_config = (Path(scored["results_dir"]) / "run_config.yml").read_text()
    assert "api_key_name: ECHO_ENDPOINT_KEY" in run_config and "api_key:" not in run_config
    failed = by_address["job.local-evals.nimctl_echo.fail"]
    assert failed["state"] == "failed" and failed["tasks"] == {} and not failed["timed_out"]
    slept = by_address["job.local-evals.nimctl_echo.sleep"]
    assert slept["timed_out"] is True and slept["time_limit_s"] == 3.0 and slept["duration_s"] < 60
    assert read_state(tmp_path)["invocations"][inv]["job_results"]["job.local-evals.nimctl_echo.sleep"]["timed_out"]

    # The scores outlive the output directory: they are cached beside the state.
    shutil.rmtree(tmp_path / "results")
    assert accuracy(results_json(inv, env, cwd=tmp_path)["job.local-evals.nimctl_echo.echo"]) == 0.5
    for place in (tmp_path / "state",):
        for file in place.rglob("*"):
            if file.is_file():
                assert KEY not in file.read_text(errors="replace"), file
    assert KEY not in applied.text


def test_without_the_key_the_harness_gets_401_and_fails(tmp_path: Path, mock_endpoint: str) -> None:
    env = with_tools({**local_env(tmp_path), "ECHO_ENDPOINT_KEY": "wrong-key"})
    path = config(tmp_path, mock_endpoint)
    applied = run_cli(
        ["apply", "-f", str(path), "--auto-approve", "--target", "job.local-evals.nimctl_echo.echo"],
        env,
        cwd=tmp_path,
        timeout=200,
    )
    assert applied.code == 1, applied.text
    log = next((tmp_path / "results").rglob("job.log")).read_text()
    assert "HTTP 401" in log


def test_nemo_evaluator_beside_nimctl_runs_without_it_on_path(tmp_path: Path, mock_endpoint: str) -> None:
    """`.venv/bin/nimctl apply` from a shell whose venv is not activated (the README's commands):
    the job finds the nemo-evaluator installed beside nimctl's interpreter."""
    minimal = "/usr/bin:/bin"
    if shutil.which("nemo-evaluator", path=minimal) or shutil.which("eval-factory", path=minimal):
        pytest.skip(f"nemo-evaluator is installed in {minimal}: the test needs it only beside {sys.executable}")
    env = {**local_env(tmp_path), "ECHO_ENDPOINT_KEY": KEY, "PATH": minimal}
    path = config(tmp_path, mock_endpoint)
    applied = run_cli(
        ["apply", "-f", str(path), "--auto-approve", "--target", "job.local-evals.nimctl_echo.echo"],
        env,
        cwd=tmp_path,
        timeout=200,
    )
    assert applied.code == 0, applied.text
    scored = results_json(invocation_id(applied.out), env, cwd=tmp_path)["job.local-evals.nimctl_echo.echo"]
    assert scored["state"] == "succeeded" and accuracy(scored) == 0.5
