"""nemo-evaluator's hook: the scorer's echo_scores.json → EvaluationResult (→ results.yml)."""

from __future__ import annotations

import json
import math
import os

from nemo_evaluator.api.api_dataclasses import EvaluationResult, MetricResult, Score, ScoreStats, TaskResult


def parse_output(output_dir: str) -> EvaluationResult:
    with open(os.path.join(output_dir, "echo_scores.json"), encoding="utf-8") as handle:
        data = json.load(handle)
    values = [1.0 if s["correct"] else 0.0 for s in data["samples"]]
    n = len(values)
    mean = sum(values) / n if n else 0.0
    variance = sum((v - mean) ** 2 for v in values) / n if n else 0.0
    stats = ScoreStats(
        count=n,
        sum=sum(values),
        sum_squared=sum(v * v for v in values),
        min=min(values, default=0.0),
        max=max(values, default=0.0),
        mean=mean,
        variance=variance,
        stddev=math.sqrt(variance),
        stderr=math.sqrt(variance / n) if n else 0.0,
    )
    lengths = [float(len(s["answer"].split())) for s in data["samples"]]
    words = sum(lengths) / n if n else 0.0
    return EvaluationResult(
        tasks={
            "echo": TaskResult(
                metrics={
                    "exact_word": MetricResult(scores={"accuracy": Score(value=mean, stats=stats)}),
                    "answer_words": MetricResult(scores={"mean": Score(value=words, stats=ScoreStats(count=n))}),
                }
            )
        }
    )
