"""The whole path as a user runs it: `nimctl apply` on the local platform with two configs whose
tasks leave real nemo-evaluator result files (tests/export/fixtures), auto-export to a real MLflow
store and to files, `nimctl export` again, `nimctl results --compare`."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

pytest.importorskip("mlflow", reason="the mlflow extra is part of the test extra")

from mlflow.tracking import MlflowClient  # noqa: E402

from tests.support.cli import clean_env, invocation_id, run_cli  # noqa: E402
from tests.support.export_runs import FIXTURES  # noqa: E402

pytestmark = pytest.mark.timeout(240)

# The task "runs" by leaving the files a real nemo-evaluator run wrote where nimctl reads results.
COPY = (
    "import os, shutil; out = os.environ['NIMCTL_OUTPUT_DIR']; os.makedirs(out, exist_ok=True); "
    "[shutil.copy(os.path.join({src!r}, n), out) for n in ('results.yml', 'eval_factory_metrics.json')]"
)


def write_configs(tmp_path: Path, tracking_uri: str) -> Path:
    folder = tmp_path / "configs"
    folder.mkdir()
    for name in ("short", "long"):
        (folder / f"{name}.yaml").write_text(
            f"""
defaults:
  - execution: local
  - deployment: none
  - _self_
name: {name}
execution:
  output_dir: {tmp_path / "results" / name}
  auto_export:
    destinations: [mlflow, local]
target:
  api_endpoint:
    url: http://127.0.0.1:9/v1/chat/completions
    model_id: tiny/model-{name}
export:
  mlflow:
    tracking_uri: {tracking_uri}
    experiment_name: e2e
    tags: {{team: evals}}
  local:
    output_dir: {tmp_path / "exported"}
    format: csv
evaluation:
  tasks:
    - name: tinyfw.recall
      command: [python3, -c, {json.dumps(COPY.format(src=str(FIXTURES / name)))}]
"""
        )
    return folder


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in clean_env().items() if not k.startswith("MLFLOW_")}  # nor MLflow settings
    env.update(
        {
            "NIMCTL_STATE": str(tmp_path / "state" / "nimctl.state.json"),
            "NIMCTL_POLL_INTERVAL": "0.05",
            "MLFLOW_DISABLE_TELEMETRY": "true",
        }
    )
    env.update(extra)
    return env


def test_apply_auto_exports_then_export_updates_and_results_compare(tmp_path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    configs = write_configs(tmp_path, uri)
    env = env_for(tmp_path)
    applied = run_cli(["apply", "-f", str(configs), "--auto-approve"], env, cwd=tmp_path)
    assert applied.code == 0, applied.text
    inv = invocation_id(applied.out)
    assert (
        f"Exported to mlflow: 2 created. Again (updates the same runs): nimctl export {inv} --dest mlflow"
        in applied.out
    )
    assert "Exported to local: 2 created" in applied.out

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("e2e")
    runs = {r.data.tags["stack"]: r for r in client.search_runs([experiment.experiment_id])}
    assert set(runs) == {"short", "long"}
    assert runs["long"].data.metrics["recall_accuracy"] == 1.0
    assert runs["short"].data.tags["model_id"] == "tiny/model-short"
    assert runs["short"].data.params["config.target.api_endpoint.model_id"] == "tiny/model-short"

    again = run_cli(["export", inv, "--dest", "mlflow", "--json"], env, cwd=tmp_path)
    assert again.code == 0, again.text
    report = json.loads(again.out)
    assert [j["outcome"] for j in report["jobs"]] == ["updated", "updated"]
    assert {j["where"] for j in report["jobs"]} == {r.info.run_id for r in runs.values()}
    assert len(client.search_runs([experiment.experiment_id])) == 2

    compared = run_cli(["results", inv, "--compare", "--json"], env, cwd=tmp_path)
    assert compared.code == 0, compared.text
    table = json.loads(compared.out)
    assert [c["label"] for c in table["columns"]] == ["long", "short"]  # the configs' order
    accuracy = next(r for r in table["rows"] if r["metric"] == "accuracy")
    assert accuracy["values"] == [1.0, pytest.approx(1 / 3)]
    assert accuracy["deltas"][1] == pytest.approx(1 / 3 - 1.0)
    text = run_cli(["results", inv, "--compare"], env, cwd=tmp_path).out
    assert "tinyfw.recall  accuracy" in text and "0.3333 (-0.6667)" in text

    # Bad input: a clear message, exit 1, no traceback, nothing sent.
    typo = run_cli(["export", inv, "--dest", "mlflow", "-o", "export.mlflow.experiment=x"], env, cwd=tmp_path)
    assert typo.code == 1 and "export.mlflow.experiment: is not a setting" in typo.err
    assert "did you mean experiment_name" in typo.err and "Traceback" not in typo.text
    sheets = run_cli(["export", inv, "--dest", "gsheets"], env, cwd=tmp_path)
    assert sheets.code == 1 and "not supported by nimctl" in sheets.err and "--format csv" in sheets.err
    assert len(client.search_runs([experiment.experiment_id])) == 2


def test_a_failed_auto_export_leaves_the_apply_succeeded_and_says_how_to_retry(tmp_path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    configs = write_configs(tmp_path, f"http://127.0.0.1:{port}")
    env = env_for(tmp_path, MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_HTTP_REQUEST_TIMEOUT="5")
    applied = run_cli(["apply", "-f", str(configs), "--auto-approve"], env, cwd=tmp_path)
    assert applied.code == 0, applied.text
    inv = invocation_id(applied.out)
    assert "Export to mlflow failed (the evaluation is not affected)" in applied.err
    assert f"To retry: nimctl export {inv} --dest mlflow" in applied.err
    assert "Exported to local: 2 created" in applied.out  # the other destination is unaffected
    status = json.loads(run_cli(["status", inv, "--json"], env, cwd=tmp_path).out)
    assert status["invocations"][0]["status"] == "succeeded"
