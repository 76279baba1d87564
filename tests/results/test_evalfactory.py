"""results.yml / eval_factory_metrics.json parsing, on files written by nemo-evaluator 0.2.8 and
0.2.5 (the tests/evalfw framework against nimctl's mock server; kept under fixtures/ as written)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nimctl.results.evalfactory import (
    ResultsFileError,
    format_number,
    parse_metrics_json,
    parse_results_yml,
    read_output_dir,
    results_document,
)

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize("version", ["0.2.8", "0.2.5"])
def test_real_results_yml_scores_and_stats(version: str) -> None:
    results, metrics = read_output_dir(FIXTURES / f"echo-{version}-half")
    assert results is not None and metrics is not None
    accuracy = results.tasks["echo"].metrics["exact_word"].scores["accuracy"]
    assert accuracy.value == 0.5
    assert accuracy.stats["count"] == 6 and accuracy.stats["stderr"] == pytest.approx(0.2041241452319315)
    assert results.tasks["echo"].metrics["answer_words"].scores["mean"].value == 19.0
    assert results.groups == {}
    assert results.versions == {"nemo_evaluator": version}
    assert [h.text() for h in results.headlines()] == ["answer_words.mean=19", "exact_word.accuracy=0.5"]
    assert (metrics.requests, metrics.successful_requests, metrics.status_codes) == (6, 6, {"200": 6})
    assert metrics.runtime_seconds is not None and metrics.avg_latency_ms is not None


def test_json_form_has_the_numbers_under_their_names() -> None:
    results, _ = read_output_dir(FIXTURES / "echo-0.2.8-full")
    assert results is not None
    document = results.to_json()
    assert document["tasks"]["echo"]["metrics"]["exact_word"]["scores"]["accuracy"]["value"] == 1.0
    assert isinstance(document["tasks"]["echo"]["metrics"]["exact_word"]["scores"]["accuracy"]["stats"]["mean"], float)


def test_groups_nest_and_come_first_in_headlines() -> None:
    text = """
results:
  tasks:
    mmlu_a: {metrics: {acc: {scores: {acc: {value: 0.25, stats: {}}}}}}
  groups:
    mmlu:
      metrics: {acc: {scores: {acc: {value: 0.5, stats: {stderr: 0.01}}}}}
      groups:
        stem: {metrics: {acc: {scores: {acc: {value: 0.4}}}}}
"""
    results = parse_results_yml(text)
    assert results.groups["mmlu"].groups["stem"].metrics["acc"].scores["acc"].value == 0.4
    assert [(h.task, h.value) for h in results.headlines()] == [("mmlu", 0.5), ("mmlu_a", 0.25)]


def test_ifbench_shape_with_empty_stats() -> None:
    # The layout nemo-evaluator 0.2.8 + nvidia-ifbench wrote (see docs): score named like its metric.
    text = "results:\n  tasks:\n    ifbench:\n      metrics:\n        strict:prompt-level:\n          scores:\n            strict:prompt-level: {stats: {}, value: 0.2}\n"
    (head,) = parse_results_yml(text).headlines()
    assert head.text() == "strict:prompt-level=0.2"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[1, 2", "not YAML"),
        ("- a\n- b\n", "not a mapping"),
        ("config: {}\n", "no `results` mapping"),
        ("results: {tasks: [1]}\n", "results.tasks"),
        ("results: {tasks: {t: {metrics: {m: {value: 1}}}}}\n", "must have a `scores` mapping"),
        ("results: {tasks: {t: {metrics: {m: {scores: {s: {value: high}}}}}}}\n", "t.metrics.m.scores.s.value"),
        ("results: {tasks: {t: {metrics: {m: {scores: {s: {value: .nan}}}}}}}\n", "not a number"),
    ],
)
def test_bad_files_name_the_file_and_the_key(text: str, problem: str) -> None:
    with pytest.raises(ResultsFileError) as caught:
        parse_results_yml(text, "out/results.yml")
    assert caught.value.message.startswith("out/results.yml")
    assert problem in caught.value.message


def test_metrics_json_is_optional_field_by_field() -> None:
    assert parse_metrics_json("{}").requests is None
    with pytest.raises(ResultsFileError, match="not JSON"):
        parse_metrics_json("{", "x.json")


def test_builtin_document_round_trips() -> None:
    import yaml

    document = results_document("smoke", {"checks_passed": 3.0, "pass_rate": 1.0}, versions={"nimctl": "0.1.0"})
    results = parse_results_yml(yaml.safe_dump(document))
    assert results.tasks["smoke"].metrics["pass_rate"].scores["pass_rate"].value == 1.0
    assert [h.text() for h in results.headlines()] == ["checks_passed=3", "pass_rate=1"]


def test_format_number() -> None:
    assert [format_number(v) for v in (1.0, 0.5, 0.123456, 19.0, 1234.5678)] == ["1", "0.5", "0.1235", "19", "1235"]
