"""The apply and destroy engines driven in-process against an in-memory platform: the order of
platform calls, cleanup after a failure, the journal, and what the engines report."""

from __future__ import annotations

from nimctl.apply.events import (
    ApplyComplete,
    CleanupStart,
    DestroyComplete,
    EndpointKept,
    InvocationStarted,
    JobsFailed,
    Outcome,
    ResourceStep,
    RunStart,
    Step,
)
from nimctl.providers.base import JobState, Rejected, Transient
from tests.support.factories import stack
from tests.support.memory import apply, destroy, memory_workspace


def steps(events) -> list[tuple[str, Step]]:
    return [(e.address, e.step) for e in events.of(ResourceStep)]


def test_apply_creates_the_endpoint_then_submits_every_job_and_records_them():
    with memory_workspace() as ws:
        code, events = apply(ws, [stack("llama", ("ifeval", "gsm8k"))], invocation_id="a" * 16)
        assert code == 0
        calls = [c for c in ws.platform.calls if not c.startswith(("list_", "get_", "find_"))]
        assert calls == ["create_endpoint", "submit_job", "submit_job"]
        assert steps(events)[0] == ("endpoint.llama-ep", Step.CREATING)
        assert sorted(steps(events)[1:]) == [("job.llama.gsm8k", Step.SUBMITTED), ("job.llama.ifeval", Step.SUBMITTED)]
        first, last = events.events[0], events.events[-1]
        assert isinstance(first, RunStart) and first.invocation_id == "a" * 16
        assert isinstance(last, ApplyComplete) and last.outcome is Outcome.SUCCEEDED and last.exit_code == 0
        assert last.summary["add"] == 1 and last.summary["jobs_succeeded"] == 2
        [kept] = events.of(EndpointKept)
        assert kept.destroy_invocation == "a" * 16
        state = ws.state()
        assert state.pending == []
        inv = state.invocations["a" * 16]
        assert inv.status == "succeeded"
        assert sorted(inv.created) == ["endpoint.llama-ep", "job.llama.gsm8k", "job.llama.ifeval"]
        assert {r["state"] for r in inv.job_results.values()} == {"succeeded"}


def test_nothing_to_do_records_no_invocation():
    with memory_workspace() as ws:
        apply(ws, [stack("llama", ("ifeval",))])
        before = ws.state()
        code, events = apply(ws, [stack("llama", ("ifeval",))])
        assert code == 0 and events.events[-1].outcome is Outcome.NO_CHANGES
        assert not events.of(InvocationStarted)
        assert ws.state().invocations.keys() == before.invocations.keys()


def test_a_replacement_deletes_the_old_endpoint_before_creating_the_new_one():
    with memory_workspace() as ws:
        apply(ws, [stack("llama", ("ifeval",))])
        ws.platform.calls.clear()
        code, events = apply(ws, [stack("llama", ("ifeval",), image="nvcr.io/nim/meta/llama:2.0.0")])
        assert code == 0
        writes = [c for c in ws.platform.calls if c in ("delete_endpoint", "create_endpoint", "submit_job")]
        assert writes == ["delete_endpoint", "create_endpoint", "submit_job"]
        assert [s for a, s in steps(events) if a == "endpoint.llama-ep"] == [Step.DELETING, Step.CREATING]
        assert ws.platform.endpoints["llama-ep"].spec["container"]["image"] == "nvcr.io/nim/meta/llama:2.0.0"


def test_a_refused_submission_removes_the_endpoint_this_run_created():
    with memory_workspace() as ws:
        ws.platform.submit_error = Rejected("lepton: 400 job spec refused", resource="job")
        code, events = apply(ws, [stack("llama", ("ifeval",))], invocation_id="b" * 16)
        assert code == 1
        assert events.of(CleanupStart) and events.events[-1].outcome is Outcome.FAILED
        assert ("endpoint.llama-ep", Step.DESTROYED) in steps(events)
        assert ws.platform.endpoints == {} and ws.platform.jobs == {}
        state = ws.state()
        assert state.resources == {} and state.pending == []
        assert state.invocations["b" * 16].status == "failed"


def test_keep_on_failure_leaves_what_the_run_created():
    with memory_workspace() as ws:
        ws.platform.submit_error = Rejected("lepton: 400 job spec refused", resource="job")
        code, events = apply(ws, [stack("llama", ("ifeval",))], keep_on_failure=True)
        assert code == 1 and not events.of(CleanupStart)
        assert list(ws.platform.endpoints) == ["llama-ep"]
        assert "endpoint.llama-ep" in ws.state().resources


def test_a_submission_whose_answer_was_lost_is_settled_and_stopped_by_the_cleanup():
    with memory_workspace(job_state=JobState.RUNNING) as ws:
        ws.platform.submit_error = Transient("lepton: 502 after 5 attempts", resource="job")
        ws.platform.submit_lands = True
        code, _ = apply(ws, [stack("llama", ("ifeval",))])
        assert code == 1
        [job] = ws.platform.jobs.values()
        assert job.state == JobState.STOPPED  # adopted from the journal, then stopped
        state = ws.state()
        assert state.pending == []
        assert state.resources["job.llama.ifeval"].observed["state"] == "stopped"
        assert ws.platform.endpoints == {}


def test_failed_jobs_keep_the_endpoint_and_exit_1():
    with memory_workspace(job_state=JobState.FAILED) as ws:
        code, events = apply(ws, [stack("llama", ("ifeval",))])
        assert code == 1
        assert events.of(JobsFailed)[0].addresses == ["job.llama.ifeval"]
        assert events.of(EndpointKept) and not events.of(CleanupStart)
        assert list(ws.platform.endpoints) == ["llama-ep"]


def test_destroy_removes_jobs_before_the_endpoint_and_forgets_them():
    with memory_workspace() as ws:
        apply(ws, [stack("llama", ("ifeval", "gsm8k"))], invocation_id="c" * 16)
        ws.platform.calls.clear()
        code, events = destroy(ws, "c" * 6)
        assert code == 0
        removals = [c for c in ws.platform.calls if c.startswith("delete_")]
        assert removals == ["delete_job", "delete_job", "delete_endpoint"]
        assert [a for a, _ in steps(events)] == ["job.llama.gsm8k", "job.llama.ifeval", "endpoint.llama-ep"]
        done = events.events[-1]
        assert isinstance(done, DestroyComplete) and done.outcome is Outcome.SUCCEEDED and len(done.removed) == 3
        state = ws.state()
        assert state.resources == {} and state.invocations["c" * 16].status == "destroyed"
        again, events = destroy(ws, "c" * 16)
        assert again == 0 and events.events[-1].outcome is Outcome.NOTHING_TO_DESTROY


def test_replace_recreates_an_endpoint_or_runs_a_job_again_though_nothing_changed():
    import pytest

    from nimctl.common.errors import NimctlError

    with memory_workspace() as ws:
        s = stack("llama", ("ifeval", "gsm8k"))
        apply(ws, [s])
        ws.platform.calls.clear()
        code, events = apply(ws, [s], replace=["job.llama.ifeval"])
        assert code == 0
        assert [c for c in ws.platform.calls if c in ("submit_job", "create_endpoint", "delete_endpoint")] == [
            "submit_job"
        ]
        assert steps(events) == [("job.llama.ifeval", Step.SUBMITTED)]
        ws.platform.calls.clear()
        code, events = apply(ws, [s], replace=["endpoint.llama-ep"])
        assert code == 0
        assert [a for a, _ in steps(events)] == ["endpoint.llama-ep", "endpoint.llama-ep"]  # deleted, created
        assert "submit_job" not in ws.platform.calls  # its jobs' results still stand
        with pytest.raises(NimctlError, match="--replace job.llama.nope: no such resource"):
            apply(ws, [s], replace=["job.llama.nope"])
