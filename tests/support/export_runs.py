"""Invocations for the export tests, built from real nemo-evaluator result files
(tests/export/fixtures): ``task_run`` copies one fixture's files into a task's results directory
and reads its scores; ``two_stacks`` is one invocation of two stacks (``INVOCATION``), one task
each."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from nimctl.export.model import InvocationRuns, Scores, StackInfo, TaskRun

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "export" / "fixtures"
INVOCATION = "0123456789abcdef"


def scores_of(results_yml: Path) -> Scores:
    doc = yaml.safe_load(results_yml.read_text())
    return {
        task: {
            metric: {score: float(s["value"]) for score, s in m["scores"].items()} for metric, m in t["metrics"].items()
        }
        for task, t in doc["results"]["tasks"].items()
    }


def stack_config(name: str, max_tokens: int) -> dict:
    return {
        "execution": {"type": "local", "output_dir": f"results/{name}"},
        "deployment": {"type": "mock", "served_model_name": "tiny/model", "port": "auto"},
        "target": {"api_endpoint": {"api_key_name": "API_KEY"}},
        "evaluation": {
            "tasks": [
                {
                    "name": "tinyfw.recall",
                    "nemo_evaluator_config": {"config": {"params": {"max_new_tokens": max_tokens}}},
                }
            ]
        },
    }


def task_run(
    tmp: Path, invocation: str, stack: str, fixture: str, *, task: str = "tinyfw.recall", state: str = "succeeded"
) -> TaskRun:
    directory = tmp / "out" / invocation / stack / task
    directory.mkdir(parents=True)
    files = {}
    for name in ("results.yml", "eval_factory_metrics.json"):
        shutil.copyfile(FIXTURES / fixture / name, directory / name)
        files[name] = directory / name
    return TaskRun(
        invocation_id=invocation,
        stack=stack,
        task=task,
        resolved_task=task,
        address=f"job.{stack}.{task}",
        job_name=f"eval-{invocation[:6]}-{stack}",
        platform="local",
        state=state,
        model_id="tiny/model",
        started_at=1796174360.0,
        finished_at=1796174367.5,
        scores=scores_of(directory / "results.yml") if state == "succeeded" else {},
        files=files if state == "succeeded" else {},
        results_dir=str(directory),
        extra_files_dir=directory,
    )


def two_stacks(tmp: Path, invocation: str = INVOCATION) -> InvocationRuns:
    """One invocation of two stacks (short: 24 tokens, long: 40) with one task each."""
    return InvocationRuns(
        invocation_id=invocation,
        status="succeeded",
        started_at=1796174350.0,
        stacks={
            "short": StackInfo("short", "configs/short.yaml", stack_config("short", 24)),
            "long": StackInfo("long", "configs/long.yaml", stack_config("long", 40)),
        },
        tasks=(task_run(tmp, invocation, "short", "short"), task_run(tmp, invocation, "long", "long")),
    )
