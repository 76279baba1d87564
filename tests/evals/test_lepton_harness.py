"""A real harness on Lepton (the emulator, through the real SDK over HTTP): the emulator runs each
job's container command as a local process (its env from the spec, the endpoint token's secret
resolved from the workspace's secrets, /results in a directory that goes with the job), the
harness authenticates against the endpoint with the token, and its scores come back through the
job's log, on success and on failure, also once the job is archived and nimctl's cache is gone.
A failing command fails its job; a job past its time limit is stopped and says so."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support.cli import ENDPOINT_TOKEN, cli_env, invocation_id, read_state, run_cli
from tests.support.evals import IMAGE, TASK_ENV, accuracy, echo_tasks, results_json, with_tools, write_config

pytestmark = pytest.mark.timeout(240)
STACK = "echo-ep"  # the stack is named after its endpoint
RESULTS_YML = "results:\n  tasks:\n    probe:\n      metrics:\n        ok:\n          scores:\n            ok: {value: 0.75, stats: {}}\n"


def config(tmp_path: Path, mounts: list | None = None) -> Path:
    # A `command:` task that leaves a results.yml, then fails: its scores must still come back.
    probe = {
        "name": "probe",
        "container": IMAGE,
        "command": [
            "python",
            "-c",
            f"import os, sys; open(os.environ['NIMCTL_OUTPUT_DIR'] + '/results.yml', 'w').write({RESULTS_YML!r}); sys.exit(2)",
        ],
    }
    return write_config(
        tmp_path / f"{STACK}.yaml",
        {
            "defaults": [{"execution": "lepton/default"}, {"deployment": "nim"}, "_self_"],
            "execution": {
                "output_dir": str(tmp_path / "out"),
                "lepton_platform": {"tasks": {"env_vars": dict(TASK_ENV), "mounts": mounts or []}},
            },
            "deployment": {
                "image": "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.8.6",
                "served_model_name": "test/echo",
                "lepton_config": {
                    "endpoint_name": "echo-ep",
                    "resource_shape": "gpu.1xh200",
                    "api_tokens": [{"value_from": {"token_name_ref": "ENDPOINT_API_KEY"}}],
                },
            },
            "evaluation": {"tasks": [*echo_tasks(), probe]},
        },
    )


@pytest.fixture
def env(world, emulator, tmp_path: Path) -> dict[str, str]:
    emulator.configure(
        run_job_images="^evalfw\\.local/", job_files=str(tmp_path / "emulated-files"), require_secrets=True
    )
    return with_tools(cli_env(emulator, tmp_path))


def test_harness_job_authenticates_runs_and_its_scores_come_back(world, emulator, env, tmp_path: Path) -> None:
    path = config(tmp_path)
    plan = run_cli(["plan", "-f", str(path)], env)
    assert plan.code == 0, plan.text
    assert "only the scores" in plan.out  # no task mount: per-sample outputs go with the pod

    applied = run_cli(["apply", "-f", str(path), "--auto-approve"], env, timeout=200)
    assert applied.code == 1, applied.text  # fail, sleep and probe fail on purpose
    inv = invocation_id(applied.out)
    table = applied.out.rsplit("\ntask  ", 1)[1].splitlines()
    row = {line.split()[0]: line for line in table[1:] if line and not line.startswith((" ", "-"))}
    assert "succeeded" in row["nimctl_echo.echo"] and "exact_word.accuracy=0.5" in row["nimctl_echo.echo"]
    assert "failed" in row["nimctl_echo.fail"]
    assert "timed out (3 s)" in row["nimctl_echo.sleep"]
    assert "failed" in row["probe"] and "ok=0.75" in row["probe"]

    by_address = results_json(inv, env)
    echo = by_address[f"job.{STACK}.nimctl_echo.echo"]
    assert echo["source"] == "log" and accuracy(echo) == 0.5
    assert echo["run_metrics"]["status_codes"] == {"200": 6}  # the token was accepted
    assert by_address[f"job.{STACK}.probe"]["tasks"]["probe"]["metrics"]["ok"]["scores"]["ok"]["value"] == 0.75
    slept = by_address[f"job.{STACK}.nimctl_echo.sleep"]
    assert slept["timed_out"] and slept["state"] == "failed"
    assert not list((tmp_path / "emulated-files" / "jobs").iterdir())  # every pod's disk is gone

    # The job is archived (three days later, in emulated time) and nimctl's cache is lost: the
    # log API still answers a job_query_mode query, so `nimctl results` reads the scores again.
    emulator.configure(clock_offset=4 * 86400)
    assert all(j["metadata"]["name"] not in {x["metadata"]["name"] for x in _alive(world)} for j in world.jobs())
    shutil.rmtree(tmp_path / "state" / "cache")
    again = results_json(inv, env)
    assert accuracy(again[f"job.{STACK}.nimctl_echo.echo"]) == 0.5
    logs = [r for r in emulator.requests if r.route == "/logs" and "q=nimctl-results" in r.query]
    assert logs and all("job_query_mode=alive_and_archive" in r.query for r in logs)
    # ...and offline, from the cache, with the emulator unreachable.
    offline = dict(env, LEPTON_WORKSPACE_ORIGIN_URL="http://127.0.0.1:9")
    assert accuracy(results_json(inv, offline)[f"job.{STACK}.nimctl_echo.echo"]) == 0.5
    assert ENDPOINT_TOKEN not in json.dumps(read_state(tmp_path)) and ENDPOINT_TOKEN not in applied.text


def _alive(world) -> list[dict]:
    import requests

    body = requests.get(
        f"{world.url}/jobs", headers=world.headers, params={"job_query_mode": "alive_only"}, timeout=10
    ).json()
    return body.get("jobs", []) if isinstance(body, dict) else body


def test_a_task_mount_keeps_the_files_on_storage_and_the_table_says_where(world, emulator, env, tmp_path: Path) -> None:
    mounts = [{"from": "node-nfs:lepton-shared-fs", "path": "/shared/evals", "mount_path": "/workspace"}]
    path = config(tmp_path, mounts)
    applied = run_cli(
        ["apply", "-f", str(path), "--auto-approve", "--target", f"job.{STACK}.nimctl_echo.echo"], env, timeout=200
    )
    assert applied.code == 0, applied.text
    inv = invocation_id(applied.out)
    storage = f"/shared/evals/{inv}/nimctl_echo.echo on node-nfs:lepton-shared-fs"
    table = applied.out.rsplit("\ntask  ", 1)[1]
    assert storage in table and "/workspace/nimctl_echo.echo" not in table, table
    kept = (
        tmp_path
        / "emulated-files"
        / "storage"
        / "node-nfs_lepton-shared-fs"
        / "shared"
        / "evals"
        / inv
        / "nimctl_echo.echo"
    )
    assert (kept / "results.yml").is_file() and (kept / "echo_scores.json").is_file()  # the per-sample file too
    assert results_json(inv, env)[f"job.{STACK}.nimctl_echo.echo"]["storage"] == storage
