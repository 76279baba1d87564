"""--dest mlflow against a real MLflow tracking store (sqlite, created by MLflow itself)."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import pytest

pytest.importorskip("mlflow", reason="the mlflow extra is part of the test extra")

from mlflow.tracking import MlflowClient  # noqa: E402

from nimctl.export.report import Outcome  # noqa: E402
from nimctl.export.run import export  # noqa: E402
from nimctl.export.settings import Destination, resolve  # noqa: E402
from tests.support.export_runs import INVOCATION  # noqa: E402


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory) -> str:
    # One store per module: MLflow creates its schema on first use (~1-5 s); tests use own experiments.
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture(autouse=True)
def _artifacts_beside(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # a sqlite store keeps artefacts in ./mlruns


def _settings(uri: str, **values):
    settings, _ = resolve(
        Destination.MLFLOW, {"tracking_uri": uri, "experiment_name": f"e-{uuid.uuid4().hex[:8]}", **values}
    )
    return settings


def _runs(uri: str, experiment: str):
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    return client, client.search_runs([exp.experiment_id])


def test_export_creates_one_run_per_job(tracking_uri, invocation) -> None:
    settings = _settings(tracking_uri, tags={"team": "evals"})
    report = export([invocation], Destination.MLFLOW, settings)
    assert [o.outcome for o in report.outcomes] == [Outcome.CREATED, Outcome.CREATED], report.outcomes
    client, runs = _runs(tracking_uri, settings["experiment_name"])
    by_stack = {r.data.tags["stack"]: r for r in runs}
    assert set(by_stack) == {"short", "long"}
    short = by_stack["short"]
    assert short.data.metrics == {"recall_accuracy": pytest.approx(1 / 3), "recall_samples_count": 6.0}
    assert by_stack["long"].data.metrics["recall_accuracy"] == 1.0
    tags = short.data.tags
    assert tags["invocation_id"] == INVOCATION
    assert tags["job_id"] == f"{INVOCATION}.short.tinyfw.recall"
    assert tags["task_name"] == "tinyfw.recall" and tags["harness"] == "tinyfw" and tags["executor"] == "local"
    assert tags["team"] == "evals"
    assert tags["mlflow.runName"] == f"eval-{INVOCATION}-short-tinyfw.recall"
    params = short.data.params
    assert params["config.deployment.served_model_name"] == "tiny/model"
    assert params["config.evaluation.tasks.0.nemo_evaluator_config.config.params.max_new_tokens"] == "24"
    assert params["stack"] == "short" and params["invocation_id"] == INVOCATION
    assert short.info.status == "FINISHED"
    top = {f.path for f in client.list_artifacts(short.info.run_id)}
    assert top == {"config.yml", "tinyfw.recall"}
    files = {f.path for f in client.list_artifacts(short.info.run_id, "tinyfw.recall/artifacts")}
    assert files == {
        f"tinyfw.recall/artifacts/{n}" for n in ("results.yml", "eval_factory_metrics.json", "metrics.json")
    }
    local = Path(client.download_artifacts(short.info.run_id, "tinyfw.recall/artifacts/results.yml"))
    assert local.read_bytes() == invocation.tasks[0].files["results.yml"].read_bytes()


def test_second_export_updates_the_same_runs(tracking_uri, invocation) -> None:
    settings = _settings(tracking_uri, log_config_params=False)
    first = export([invocation], Destination.MLFLOW, settings)
    settings["log_config_params"] = True
    second = export([invocation], Destination.MLFLOW, settings)
    assert [o.outcome for o in second.outcomes] == [Outcome.UPDATED, Outcome.UPDATED]
    assert [o.where for o in second.outcomes] == [o.where for o in first.outcomes]
    assert "param(s) added" in second.outcomes[0].detail  # the config params, now asked for
    client, runs = _runs(tracking_uri, settings["experiment_name"])
    assert len(runs) == 2
    history = client.get_metric_history(runs[0].info.run_id, "recall_accuracy")
    assert len(history) == 1  # the same value at the same time and step is not logged twice
    assert any(k.startswith("config.") for k in runs[0].data.params)


def test_skip_existing(tracking_uri, invocation) -> None:
    settings = _settings(tracking_uri)
    export([invocation], Destination.MLFLOW, settings)
    settings["skip_existing"] = True
    again = export([invocation], Destination.MLFLOW, settings)
    assert [(o.outcome, o.detail) for o in again.outcomes] == [(Outcome.SKIPPED, "skip_existing")] * 2


def test_unreachable_server_fails_each_task_without_raising(invocation, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket is closed
    settings = _settings(f"http://user:hunter2@127.0.0.1:{port}")
    report = export([invocation], Destination.MLFLOW, settings)
    assert [o.outcome for o in report.outcomes] == [Outcome.FAILED, Outcome.FAILED]
    assert f"127.0.0.1:{port}" in report.outcomes[0].detail
    assert "hunter2" not in report.outcomes[0].detail
