"""Comparison: tasks as rows, runs as columns, deltas to the first column."""

from __future__ import annotations

from dataclasses import replace

import pytest

from nimctl.cli.commands.results import comparison_lines
from nimctl.export.compare import compare
from tests.support.export_runs import task_run, two_stacks


def test_stacks_of_one_invocation(invocation) -> None:
    table = compare([invocation])
    assert [c.label for c in table.columns] == ["short", "long"]
    by_metric = {r.metric: r for r in table.rows}
    assert set(by_metric) == {"accuracy", "samples.count"}
    assert by_metric["accuracy"].values == (pytest.approx(1 / 3), 1.0)
    assert by_metric["accuracy"].deltas == (None, pytest.approx(2 / 3))
    assert by_metric["samples.count"].deltas == (None, 0.0)


def test_invocations_as_columns_with_a_missing_and_a_failed_task(tmp_path) -> None:
    first = two_stacks(tmp_path / "a", invocation="aaaaaaaa00000000")
    first = replace(first, tasks=(first.tasks[0],), stacks={"short": first.stacks["short"]})
    second = two_stacks(tmp_path / "b", invocation="bbbbbbbb00000000")
    failed = task_run(tmp_path / "c", "bbbbbbbb00000000", "short", "short", task="extra", state="failed")
    second = replace(second, tasks=(second.tasks[1], failed), stacks={"long": second.stacks["long"]})
    table = compare([first, second])
    assert [c.label for c in table.columns] == ["aaaaaaaa/short", "bbbbbbbb/long", "bbbbbbbb/short"]
    extra = next(r for r in table.rows if r.task == "extra")
    assert extra.metric == "" and extra.states == ("", "", "failed")
    lines = comparison_lines(table)
    assert lines[0].split() == ["task", "metric", "aaaaaaaa/short", "bbbbbbbb/long", "bbbbbbbb/short"]
    assert any("0.3333" in line and "1 (+0.6667)" in line for line in lines)
    assert any(line.startswith("extra") and line.rstrip().endswith("failed") for line in lines)
    assert table.to_json()["baseline"] == "aaaaaaaa/short"
