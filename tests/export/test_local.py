"""--dest local: the launcher's summary layouts, the result files copied, re-export in place."""

from __future__ import annotations

import csv
import json

from nimctl.export.report import Outcome
from nimctl.export.run import export
from nimctl.export.settings import Destination, resolve
from tests.support.export_runs import INVOCATION, task_run, two_stacks


def _settings(tmp_path, **values):
    settings, _ = resolve(Destination.LOCAL, {"output_dir": str(tmp_path / "exported"), **values})
    return settings


def test_json_summary_and_files(tmp_path, invocation) -> None:
    report = export([invocation], Destination.LOCAL, _settings(tmp_path))
    assert [o.outcome for o in report.outcomes] == [Outcome.CREATED, Outcome.CREATED]
    data = json.loads((tmp_path / "exported" / "processed_results.json").read_text())
    models = data["benchmarks"]["tinyfw.recall"]["models"]["tiny/model"]
    by_stack = {e["stack"]: e for e in models}
    assert by_stack["short"]["scores"] == {"recall_accuracy": 1 / 3, "recall_samples_count": 6.0}
    assert by_stack["long"]["scores"]["recall_accuracy"] == 1.0
    assert by_stack["long"]["job_id"] == f"{INVOCATION}.long.tinyfw.recall"
    copied = tmp_path / "exported" / INVOCATION / "short.tinyfw.recall"
    assert sorted(p.name for p in copied.iterdir()) == ["eval_factory_metrics.json", "results.yml"]
    assert (tmp_path / "exported" / INVOCATION / "processed_results.json").is_file()


def test_reexport_replaces_entries(tmp_path, invocation) -> None:
    settings = _settings(tmp_path)
    export([invocation], Destination.LOCAL, settings)
    again = export([invocation], Destination.LOCAL, settings)
    assert [o.outcome for o in again.outcomes] == [Outcome.UPDATED, Outcome.UPDATED]
    data = json.loads((tmp_path / "exported" / "processed_results.json").read_text())
    assert len(data["benchmarks"]["tinyfw.recall"]["models"]["tiny/model"]) == 2


def test_csv_upsert_across_invocations(tmp_path, invocation) -> None:
    settings = _settings(tmp_path, format="csv", log_metrics=["accuracy"])
    export([invocation], Destination.LOCAL, settings)
    other = two_stacks(tmp_path / "second", invocation="fedcba9876543210")
    export([other, invocation], Destination.LOCAL, settings)
    with (tmp_path / "exported" / "processed_results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4  # two invocations x two stacks, none twice
    assert {r["Invocation ID"] for r in rows} == {INVOCATION, "fedcba9876543210"}
    assert "recall_samples_count" not in rows[0]  # log_metrics keeps names containing "accuracy"
    assert {float(r["recall_accuracy"]) for r in rows} == {1 / 3, 1.0}


def test_failed_job_is_skipped_with_its_reason(tmp_path, invocation) -> None:
    failed = task_run(tmp_path / "f", INVOCATION, "broken", "short", state="failed")
    from dataclasses import replace

    report = export([replace(invocation, tasks=(*invocation.tasks, failed))], Destination.LOCAL, _settings(tmp_path))
    skipped = [o for o in report.outcomes if o.outcome is Outcome.SKIPPED]
    assert [(o.address, o.detail) for o in skipped] == [
        ("job.broken.tinyfw.recall", "no scores to export (job failed)")
    ]
    assert report.ok
