"""The two views of the apply/destroy events: the human text and the JSON lines."""

from __future__ import annotations

import io
import json

from nimctl.apply.events import (
    ApplyComplete,
    DestroyComplete,
    DestroyPlanned,
    Event,
    JobResults,
    JobsFailed,
    Outcome,
    Phase,
    Progress,
    ResourceStep,
    RunStart,
    Step,
    WaitEnd,
    WaitStart,
    WarningMessage,
)
from nimctl.cli.ui import UI
from nimctl.cli.views import HumanView, JsonView


def human(*events: Event) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    view = HumanView(UI(out, err))
    for event in events:
        view.emit(event)
    return out.getvalue(), err.getvalue()


def json_lines(*events: Event) -> list[dict]:
    out = io.StringIO()
    view = JsonView(out)
    for event in events:
        view.emit(event)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_human_view_prints_the_familiar_lines():
    out, err = human(
        RunStart("apply", "abc", "0"),
        WarningMessage("careful"),
        ResourceStep("endpoint.a", Step.CREATING, "a", "lepton"),
        WaitStart(Phase.ENDPOINTS_READY, ["endpoint.a"]),
        Progress(Phase.ENDPOINTS_READY, "endpoint.a", "Starting", 0.1, ready_replicas=0),
        Progress(Phase.ENDPOINTS_READY, "endpoint.a", "Starting", 0.2, ready_replicas=0),
        Progress(Phase.ENDPOINTS_READY, "endpoint.a", "ready", 0.3, ready_replicas=1),
        WaitEnd(Phase.ENDPOINTS_READY),
        ResourceStep("job.a.t", Step.SUBMITTED, "eval-1", "lepton"),
        ApplyComplete(Outcome.SUCCEEDED, 0, "abc"),
    )
    assert out.splitlines() == [
        "endpoint.a: creating a on lepton",
        "endpoint.a: Starting",  # repeated status printed once
        "endpoint.a: ready, 1 replica(s) ready",
        "job.a.t: submitted as eval-1",
        "Apply complete.",
    ]
    assert err == "Warning: careful\n"


def test_human_view_results_table_and_destroy_lines():
    out, _ = human(
        JobResults(
            [{"address": "job.s.t", "state": "succeeded", "started_at": 1.0, "finished_at": 3.5, "summary": "ok"}]
        ),
        DestroyPlanned(
            [{"address": "endpoint.s", "type": "endpoint", "name": "s", "provider": "local", "live": "Ready"}]
        ),
        ResourceStep("endpoint.s", Step.DESTROYED, "s", "local"),
        DestroyComplete(Outcome.SUCCEEDED, 0, None, ["endpoint.s"]),
    )
    lines = out.splitlines()
    assert lines[1].split() == ["task", "state", "duration", "scores"]
    assert lines[3].split() == ["t", "succeeded", "2.5s", "ok"]  # no scores: the built-in's summary
    assert "  - endpoint.s  (endpoint s on local, now Ready)" in lines
    assert lines[-2:] == ["endpoint.s: destroyed", "Destroy complete: 1 resource(s) removed."]


def test_json_view_starts_with_run_start_and_drops_repeated_progress():
    lines = json_lines(
        WarningMessage("config warning before the run started"),
        RunStart("apply", "abc", "0"),
        Progress(Phase.JOBS_FINISHED, "job.a.t", "eval-1: Running", 0.1, state="running"),
        Progress(Phase.JOBS_FINISHED, "job.a.t", "eval-1: Running", 0.2, state="running"),
        Progress(Phase.JOBS_FINISHED, "job.a.t", "eval-1: Completed", 0.3, state="succeeded"),
        ApplyComplete(Outcome.INTERRUPTED, Outcome.INTERRUPTED.exit_code, "abc", {"add": 1}),
    )
    assert [line["type"] for line in lines] == ["run_start", "warning", "progress", "progress", "apply_complete"]
    assert lines[0]["invocation_id"] == "abc"
    assert lines[3]["state"] == "succeeded" and lines[3]["phase"] == "jobs_finished"
    assert lines[-1] == {**lines[-1], "outcome": "interrupted", "exit_code": 130, "summary": {"add": 1}}
    assert all(line["@timestamp"].endswith("Z") for line in lines)


def test_failed_jobs_say_what_became_of_the_endpoints():
    def said(event: JobsFailed) -> str:
        return human(event)[1].strip()

    head = "Error: 1 job(s) did not succeed: job.s.t. "
    assert said(JobsFailed(["job.s.t"], endpoints_kept=["endpoint.s"])) == (
        head + "The endpoint is kept; the next `nimctl apply` re-runs only these."
    )
    assert said(JobsFailed(["job.s.t"], endpoints_deleted=["endpoint.s"])) == (
        head + "The endpoint was deleted (--destroy-after); the next `nimctl apply` starts it again and "
        "re-runs only these."
    )
    assert said(JobsFailed(["job.s.t"], endpoints_deleted=["endpoint.s", "endpoint.u"])).endswith(
        "The endpoints were deleted (--destroy-after); the next `nimctl apply` starts them again and re-runs only these."
    )
    assert said(JobsFailed(["job.s.t"], endpoints_kept=["endpoint.u"], endpoints_deleted=["endpoint.s"])).endswith(
        "Kept: endpoint.u; deleted (--destroy-after): endpoint.s. The next `nimctl apply` starts the deleted "
        "again and re-runs only these."
    )
    assert said(JobsFailed(["job.s.t"])) == head + "The next `nimctl apply` re-runs only these."  # an external target
    _, line = json_lines(RunStart("apply", "abc", "0"), JobsFailed(["job.s.t"], endpoints_deleted=["endpoint.s"]))
    assert (
        line["addresses"] == ["job.s.t"]
        and line["endpoints_kept"] == []
        and line["endpoints_deleted"] == ["endpoint.s"]
    )


def test_outcomes_carry_their_exit_codes():
    assert {o: o.exit_code for o in Outcome} == {
        Outcome.SUCCEEDED: 0,
        Outcome.NO_CHANGES: 0,
        Outcome.SUBMITTED: 0,
        Outcome.NOTHING_TO_DESTROY: 0,
        Outcome.CANCELLED: 1,
        Outcome.FAILED: 1,
        Outcome.INTERRUPTED: 130,
    }


def test_results_table_fits_100_columns_with_long_paths_and_many_scores():
    from nimctl.cli.results_view import table_lines

    metrics = {f"metric_{i}": {"scores": {f"metric_{i}": {"value": i / 7, "stats": {}}}} for i in range(30)}
    job = {
        "address": "job.a-rather-long-stack-name.lm-evaluation-harness.mmlu_pro_instruct",
        "task": "lm-evaluation-harness.mmlu_pro_instruct",
        "state": "failed",
        "timed_out": True,
        "time_limit_s": 43200,
        "duration_s": 43230.5,
        "tasks": {"mmlu_pro": {"metrics": metrics}},
        "storage": "/very/long/storage/" + "x" * 200 + "/0123456789abcdef/mmlu_pro_instruct on node-nfs:shared",
    }
    lines = table_lines([job, {**job, "address": "job.other.t", "task": "t", "timed_out": False}])
    assert max(len(line) for line in lines) <= 100
    assert "timed out (43200 s)" in lines[2] and "12h00m" in lines[2] and "metric_0=0" in lines[2]
    assert lines[-1].endswith("mmlu_pro_instruct on node-nfs:shared")  # the path's end is kept
