"""--dest wandb with the real W&B library in offline mode: the run files it writes are read back."""

from __future__ import annotations

import pytest

pytest.importorskip("wandb", reason="the wandb extra is part of the test extra")

from nimctl.export.destinations.wandb import run_id_for  # noqa: E402
from nimctl.export.report import Outcome  # noqa: E402
from nimctl.export.run import export  # noqa: E402
from nimctl.export.settings import Destination, resolve  # noqa: E402
from tests.support.export_runs import INVOCATION  # noqa: E402
from tests.support.wandb_files import offline_runs  # noqa: E402


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    return tmp_path


def _settings(**values):
    settings, _ = resolve(Destination.WANDB, {"entity": "team", "project": "evals", **values})
    return settings


def test_per_task_runs_and_their_files(offline, invocation) -> None:
    report = export([invocation], Destination.WANDB, _settings(tags=["nightly"]))
    assert [o.outcome for o in report.outcomes] == [Outcome.CREATED, Outcome.CREATED], report.outcomes
    runs = {run.config["stack"]: run for _, run in offline_runs(offline)}
    short = runs["short"]
    assert short.run_id == run_id_for(INVOCATION, "short", "tinyfw.recall")
    assert short.name == f"eval-{INVOCATION}-short-tinyfw.recall"
    assert short.group == INVOCATION and short.tags == ["nightly"]
    assert short.summary["recall_accuracy"] == pytest.approx(1 / 3)
    assert runs["long"].summary["recall_accuracy"] == 1.0
    assert short.history[0]["recall_accuracy"] == pytest.approx(1 / 3)
    assert short.config["job_id"] == f"{INVOCATION}.short.tinyfw.recall"
    assert short.config["config"]["deployment"]["served_model_name"] == "tiny/model"  # the redacted config
    (files,) = short.artifacts.values()
    assert sorted(files) == [
        "config.yml",
        "tinyfw.recall/artifacts/eval_factory_metrics.json",
        "tinyfw.recall/artifacts/results.yml",
    ]
    assert short.exit_code == 0


def test_second_export_writes_to_the_same_run_ids(offline, invocation) -> None:
    export([invocation], Destination.WANDB, _settings())
    export([invocation], Destination.WANDB, _settings())
    ids = [run.run_id for _, run in offline_runs(offline)]
    assert len(ids) == 4 and len(set(ids)) == 2  # two offline files per run id; `wandb sync` merges them


def test_multi_task_is_one_run_per_stack(offline, invocation) -> None:
    report = export([invocation], Destination.WANDB, _settings(log_mode="multi_task", run_id="nightly"))
    assert report.ok
    runs = [run for _, run in offline_runs(offline)]
    assert sorted(r.run_id for r in runs) == ["nightly-long", "nightly-short"]
    assert all(r.config["benchmarks"] == ["tinyfw.recall"] for r in runs)
