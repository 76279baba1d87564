"""The Lepton provider through the real SDK against the emulator over HTTP on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from nimctl.providers.base import (
    Conflict,
    JobState,
    NotFound,
    Provider,
    Rejected,
    ResourceState,
    Transient,
    Unauthorized,
)
from nimctl.providers.lepton.provider import LeptonProvider
from nimctl.providers.retry import RetryPolicy
from tests.support.polling import wait_until

# Many tiny waits: enough attempts that a 50% fault rate cannot exhaust them by chance, still bounded.
FAST_RETRY = RetryPolicy(max_attempts=40, base_delay=0.001, max_delay=0.01, max_total_s=30)


def endpoint_spec(image: str = "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.8.6", replicas: int = 1) -> dict:
    return {
        "container": {"image": image, "ports": [{"container_port": 8000}]},
        "resource_requirement": {"resource_shape": "gpu.1xH200", "min_replicas": replicas, "max_replicas": replicas},
        "auto_scaler": {"scale_down": {"no_traffic_timeout": 3600}},
        "envs": [{"name": "SERVED_MODEL_NAME", "value": "meta/llama-3.1-8b-instruct"}],
        "api_tokens": [{"value": "endpoint-token-123"}],
        "log": {"enable_collection": True},
    }


def job_spec(command: str = "echo hi") -> dict:
    return {
        "resource_shape": "cpu.small",
        "container": {"image": "python:3.11", "command": ["sh", "-c", command]},
        "envs": [{"name": "NIMCTL_MODEL_ID", "value": "m"}],
    }


def make_provider(emulator, retry: RetryPolicy = FAST_RETRY, token: str | None = None) -> LeptonProvider:
    return LeptonProvider(
        workspace_id=emulator.workspace_id, token=token or emulator.token, url=emulator.url, retry=retry
    )


@pytest.fixture
def provider(emulator) -> LeptonProvider:
    return make_provider(emulator)


def settled_requests(emulator) -> list:
    """The request log once the last answer is recorded (the emulator logs just after replying)."""
    time.sleep(0.05)
    return emulator.requests


def endpoint_gone(provider: LeptonProvider, name: str) -> bool:
    try:
        provider.get_endpoint(name)
    except NotFound:
        return True
    return False


# -- CRUD --------------------------------------------------------------------------------------------


def test_provider_satisfies_the_protocol(provider):
    assert isinstance(provider, Provider)


def test_endpoint_lifecycle(provider, emulator):
    created = provider.create_endpoint("ep-crud", endpoint_spec())
    assert created.name == "ep-crud"
    assert created.state in (ResourceState.PENDING, ResourceState.READY)
    assert created.url == emulator.endpoint_url("ep-crud")  # status.endpoint.external_endpoint

    wait_until(lambda: provider.get_endpoint("ep-crud").state is ResourceState.READY)
    ready = provider.get_endpoint("ep-crud")
    assert ready.platform_state == "Ready"
    assert ready.spec["container"]["image"] == endpoint_spec()["container"]["image"]
    assert ready.spec["resource_requirement"]["resource_shape"] == "gpu.1xh200"  # lower-cased, as Lepton does
    assert ready.created_at and abs(ready.created_at - time.time()) < 60
    assert [e.name for e in provider.list_endpoints()] == ["ep-crud"]

    updated = provider.update_endpoint("ep-crud", endpoint_spec(replicas=2))
    assert updated.spec["resource_requirement"]["min_replicas"] == 2
    assert updated.spec["resource_requirement"]["max_replicas"] == 2
    assert updated.spec["api_tokens"]  # authentication untouched by an update
    assert emulator.world.deployment("ep-crud")["spec"]["resource_requirement"]["max_replicas"] == 2
    wait_until(lambda: provider.get_endpoint("ep-crud").state is ResourceState.READY)

    events = provider.endpoint_events("ep-crud", limit=5)
    assert 0 < len(events) <= 5 and all(isinstance(line, str) and line for line in events)
    assert any("Started" in line or "Pulled" in line for line in events)
    assert any("serving meta/llama-3.1-8b-instruct" in line for line in provider.logs(endpoint="ep-crud"))

    provider.delete_endpoint("ep-crud")
    wait_until(lambda: endpoint_gone(provider, "ep-crud"))
    with pytest.raises(NotFound) as info:
        provider.delete_endpoint("ep-crud")
    assert "endpoint ep-crud" in str(info.value)
    assert emulator.world.creates("deployment", "ep-crud") == 1


def test_failed_endpoint_maps_to_failed_with_events(provider, emulator):
    emulator.configure(error_image_pattern="broken")
    provider.create_endpoint("ep-bad", endpoint_spec(image="registry/broken:1"))
    wait_until(lambda: provider.get_endpoint("ep-bad").state is ResourceState.FAILED)
    assert provider.get_endpoint("ep-bad").platform_state == "Error"
    events = provider.endpoint_events("ep-bad", limit=4)
    assert len(events) == 4
    assert any("ErrImagePull" in line for line in events[:-1])
    # The readiness report (last) says why: the SDK's event model carries no message.
    assert events[-1].startswith("readiness (1 replica): ConfigError: ErrImagePull")
    assert "registry/broken:1" in events[-1]


def test_job_lifecycle(provider, emulator):
    job = provider.submit_job("eval-abc123-smoke-0", job_spec())
    assert job.name == "eval-abc123-smoke-0" and job.id and job.id != job.name  # the server assigns ids
    assert job.state in (JobState.PENDING, JobState.RUNNING)
    assert provider.get_job(job.id).spec["container"]["image"] == "python:3.11"

    wait_until(lambda: provider.get_job(job.id).state is JobState.SUCCEEDED)
    done = provider.get_job(job.id)
    assert done.platform_state == "Completed" and done.finished_at
    assert [j.id for j in provider.find_jobs("eval-abc123-smoke-0")] == [job.id]
    assert provider.find_jobs("eval-abc123-smoke") == []  # exact names only
    assert [j.id for j in provider.list_jobs()] == [job.id]
    assert any("exited with code 0" in line for line in provider.logs(job_id=job.id))

    provider.delete_job(job.id)
    wait_until(lambda: not emulator.world.jobs("eval-abc123-smoke-0"))
    with pytest.raises(NotFound):
        provider.get_job(job.id)
    with pytest.raises(NotFound):
        provider.delete_job(job.id)


def test_stop_job(provider, emulator):
    emulator.configure(job_duration=30)
    job = provider.submit_job("eval-stop-me", job_spec("sleep 100"))
    wait_until(lambda: provider.get_job(job.id).state is JobState.RUNNING)
    provider.stop_job(job.id)
    wait_until(lambda: provider.get_job(job.id).state is JobState.STOPPED)
    assert provider.get_job(job.id).platform_state in ("Stopping", "Stopped")
    provider.stop_job(job.id)  # stopping twice is harmless


def test_stop_of_a_job_being_deleted_is_done(provider, emulator):
    emulator.configure(job_duration=30, delete_after=30)
    job = provider.submit_job("eval-going", job_spec("sleep 100"))
    provider.delete_job(job.id)
    provider.stop_job(job.id)  # Lepton answers 409; the job is going away, which is enough
    assert provider.get_job(job.id).state is JobState.STOPPED


def test_failed_job_maps_to_failed(provider, emulator):
    emulator.configure(fail_job_pattern="doomed")
    job = provider.submit_job("eval-doomed", job_spec())
    wait_until(lambda: provider.get_job(job.id).state is JobState.FAILED)
    assert provider.get_job(job.id).state.terminal


def test_archived_jobs_are_still_listed_with_their_outcome(provider, emulator):
    spec = dict(job_spec(), ttl_seconds_after_finished=0)
    job = provider.submit_job("eval-archived", spec)
    wait_until(lambda: emulator.world.jobs("eval-archived")[0]["status"]["state"] == "Completed")
    time.sleep(0.05)  # archived right after finishing (ttl 0)
    listed = {j.id: j for j in provider.list_jobs()}
    assert job.id in listed
    assert listed[job.id].state is JobState.SUCCEEDED


# -- errors from real HTTP answers ---------------------------------------------------------------------


def test_wrong_token_is_unauthorized_with_login_hint(emulator):
    bad = make_provider(emulator, token="not-the-token")
    with pytest.raises(Unauthorized) as info:
        bad.list_endpoints()
    error = info.value
    assert error.status == 401
    assert emulator.workspace_id in error.message
    assert "lep login" in error.hint and "LEPTON_WORKSPACE_TOKEN" in error.hint
    assert "not-the-token" not in str(error)


def test_credentials_from_the_environment(emulator_env):
    provider = LeptonProvider(retry=FAST_RETRY)  # LEPTON_WORKSPACE_ID/_TOKEN/_URL from the fixture
    assert provider.list_endpoints() == []
    assert provider.client.url == emulator_env.url


def test_missing_objects_are_not_found(provider):
    with pytest.raises(NotFound, match="endpoint nope does not exist"):
        provider.get_endpoint("nope")
    with pytest.raises(NotFound, match="job nope-1234"):
        provider.get_job("nope-1234")
    with pytest.raises(NotFound):
        provider.stop_job("nope-1234")
    with pytest.raises(NotFound):
        provider.endpoint_events("nope")


def test_server_side_rejection_is_rejected_and_not_retried(provider, emulator):
    emulator.clear_requests()
    with pytest.raises(Rejected) as info:
        provider.create_endpoint("Not_A_Valid_Name", endpoint_spec())
    assert info.value.status == 400
    assert "endpoint Not_A_Valid_Name" in info.value.message and info.value.hint
    assert "endpoint-token-123" not in str(info.value)
    posts = [r for r in settled_requests(emulator) if r.method == "POST"]
    assert len(posts) == 1


def test_persistent_faults_give_up_within_the_bounds(emulator):
    emulator.configure(fault_rate=1.0, retry_after=0)
    provider = make_provider(emulator, RetryPolicy(max_attempts=5, base_delay=0.001, max_delay=0.002, max_total_s=10))
    provider.client.deployment  # noqa: B018 - resolve the SDK's one-off /workspace probe first
    emulator.clear_requests()
    with pytest.raises(Transient) as info:
        provider.list_endpoints()
    assert len([r for r in settled_requests(emulator) if r.route == "/deployments"]) == 5
    assert "5 tries" in info.value.message and "NIMCTL_RETRY_MAX_ATTEMPTS" in info.value.hint


def test_time_bound_cuts_retries_short(emulator):
    emulator.configure(fault_rate=1.0, retry_after=0, latency=0.05)
    provider = make_provider(emulator, RetryPolicy(max_attempts=1000, base_delay=0.05, max_delay=0.05, max_total_s=0.5))
    with pytest.raises(Transient):
        provider.get_endpoint("x")
    # Counted, not timed: without the 0.5 s bound the 1,000 attempts would all be made.
    tries = [r for r in settled_requests(emulator) if r.route.startswith("/deployments")]
    assert 1 <= len(tries) < 100


def test_retry_after_is_honoured(emulator):
    emulator.configure(fault_rate=1.0, retry_after=1)
    provider = make_provider(emulator, RetryPolicy(max_attempts=4, base_delay=0.0, max_delay=0.0, max_total_s=30))
    provider.client.deployment  # noqa: B018 - resolve the SDK's one-off /workspace probe first
    emulator.clear_requests()
    started = time.monotonic()
    with pytest.raises(Transient):
        provider.list_endpoints()
    elapsed = time.monotonic() - started
    faults = [r.fault for r in settled_requests(emulator) if r.route == "/deployments"]
    assert len(faults) == 4
    waited_on_429 = faults[:-1].count("429")  # no wait after the last failure
    assert elapsed >= waited_on_429 * 1.0 - 0.05  # a lower bound: a loaded machine only adds time


# -- 409: adopt vs conflict ------------------------------------------------------------------------------


def test_create_of_an_existing_identical_endpoint_adopts_it(provider, emulator):
    first = provider.create_endpoint("ep-same", endpoint_spec())
    again = provider.create_endpoint("ep-same", endpoint_spec())
    assert again.name == first.name == "ep-same"
    assert emulator.world.creates("deployment", "ep-same") == 1
    assert any(r.status == 409 for r in emulator.requests if r.method == "POST")


def test_create_over_a_foreign_endpoint_is_a_conflict(provider, emulator):
    provider.create_endpoint("ep-taken", endpoint_spec(image="someone/else:1"))
    with pytest.raises(Conflict) as info:
        provider.create_endpoint("ep-taken", endpoint_spec())
    error = info.value
    assert "endpoint ep-taken exists" in error.message and "not managed by this config" in error.message
    assert "endpoint_name" in error.hint and "lep endpoint remove -n ep-taken" in error.hint
    assert emulator.world.deployment("ep-taken")["spec"]["container"]["image"] == "someone/else:1"


def test_create_waits_for_a_deletion_in_progress(provider, emulator):
    emulator.configure(delete_after=0.4)
    provider.create_endpoint("ep-recycle", endpoint_spec())
    provider.delete_endpoint("ep-recycle")
    slow = make_provider(emulator, RetryPolicy(max_attempts=50, base_delay=0.05, max_delay=0.1, max_total_s=10))
    info = slow.create_endpoint("ep-recycle", endpoint_spec())
    assert info.name == "ep-recycle" and info.platform_state != "Deleting"
    assert emulator.world.creates("deployment", "ep-recycle") == 2


def test_create_during_a_long_deletion_gives_a_clear_conflict(provider, emulator):
    emulator.configure(delete_after=30)
    provider.create_endpoint("ep-slow-delete", endpoint_spec())
    provider.delete_endpoint("ep-slow-delete")
    impatient = make_provider(emulator, RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.01, max_total_s=5))
    with pytest.raises(Conflict, match="still being deleted") as info:
        impatient.create_endpoint("ep-slow-delete", endpoint_spec())
    assert "lep endpoint list" in info.value.hint


def test_delete_of_an_endpoint_being_deleted_is_done(provider, emulator):
    emulator.configure(delete_after=30)
    provider.create_endpoint("ep-twice", endpoint_spec())
    provider.delete_endpoint("ep-twice")
    provider.delete_endpoint("ep-twice")  # still Deleting: nothing more to do, no error
    assert emulator.world.deployment("ep-twice")["status"]["state"] == "Deleting"


# -- faults: converge, bounded, never duplicate ------------------------------------------------------------


@pytest.mark.parametrize(
    "fault_rate,lost_rate",
    [
        (0.1, 0.0),
        (0.3, 0.0),
        (0.5, 0.0),
        (0.0, 0.3),
        (0.0, 0.5),
        (0.3, 0.3),
        (0.5, 0.5),
    ],
)
def test_faults_converge_without_duplicates(emulator, fault_rate, lost_rate):
    emulator.configure(
        fault_rate=fault_rate, lost_response_rate=lost_rate, retry_after=0, seed=int(fault_rate * 100 + lost_rate * 10)
    )
    provider = make_provider(emulator)
    endpoints = [f"ep-fault-{i}" for i in range(4)]
    jobs = [f"eval-fault-{i}" for i in range(6)]
    started = time.monotonic()

    infos = [provider.create_endpoint(name, endpoint_spec()) for name in endpoints]
    submitted = [provider.submit_job(name, job_spec()) for name in jobs]
    assert [i.name for i in infos] == endpoints and [j.name for j in submitted] == jobs
    assert sorted(e.name for e in provider.list_endpoints()) == endpoints
    assert {j.id for j in provider.list_jobs()} == {j.id for j in submitted}
    for name in endpoints:
        assert emulator.world.creates("deployment", name) == 1, f"{name} created twice"
    for name in jobs:
        assert emulator.world.creates("job", name) == 1, f"{name} submitted twice"
        assert len(emulator.world.jobs(name)) == 1

    for name in endpoints:
        provider.delete_endpoint(name)
    for job in submitted:
        provider.delete_job(job.id)
    emulator.configure(fault_rate=0.0, lost_response_rate=0.0)
    wait_until(lambda: not emulator.world.deployments() and not emulator.world.jobs())
    assert time.monotonic() - started < 60
    faults = [r for r in emulator.requests if r.fault]
    if fault_rate or lost_rate:
        assert faults, "the emulator injected no faults: the test proves nothing"
    if lost_rate:
        assert any(r.fault == "lost_response" and r.method == "POST" for r in faults)
        assert any(r.fault == "lost_response" and r.method == "DELETE" for r in faults)


# -- refresh cost --------------------------------------------------------------------------------------------


def listing_requests(emulator, call: Callable[[], object]) -> int:
    emulator.clear_requests()
    call()
    return len(settled_requests(emulator))


def test_listing_costs_do_not_grow_with_the_number_of_objects(provider, emulator):
    provider.create_endpoint("ep-count-0", endpoint_spec())
    provider.submit_job("eval-count-0", job_spec())
    one = (listing_requests(emulator, provider.list_endpoints), listing_requests(emulator, provider.list_jobs))

    for i in range(1, 50):  # straight into the emulated workspace: only the listings are measured
        emulator.world.create_deployment({"metadata": {"name": f"ep-count-{i}"}, "spec": endpoint_spec()})
        emulator.world.create_job({"metadata": {"name": f"eval-count-{i}"}, "spec": job_spec()})
    assert len(provider.list_endpoints()) == 50 and len(provider.list_jobs()) == 50
    fifty = (listing_requests(emulator, provider.list_endpoints), listing_requests(emulator, provider.list_jobs))

    assert one == fifty == (1, 2)  # one GET /deployments; one page of jobs plus the empty page that ends paging
    assert listing_requests(emulator, lambda: provider.find_jobs("eval-count-7")) == 2


def test_pods_in_the_deployment_listing_are_not_endpoints(provider, emulator):
    provider.create_endpoint("ep-real", endpoint_spec())
    emulator.world.create_deployment(
        {"metadata": {"name": "my-pod"}, "spec": {"is_pod": True, "container": {"image": "ubuntu"}}}
    )
    assert [e.name for e in provider.list_endpoints()] == ["ep-real"]


# -- job adoption never takes a job that belongs to another submit -------------------------------------------


def test_lost_submit_adopts_the_new_job_not_an_earlier_one_of_the_same_name(provider, emulator):
    earlier = provider.submit_job("eval-rerun", job_spec())
    emulator.configure(lost_response_rate=1.0)  # every create happens, every answer is lost
    again = provider.submit_job("eval-rerun", job_spec())
    emulator.configure(lost_response_rate=0.0)
    assert again.id != earlier.id
    assert sorted(j["metadata"]["id"] for j in emulator.world.jobs("eval-rerun")) == sorted([earlier.id, again.id])


def test_lost_submit_does_not_adopt_a_job_with_another_spec(provider, emulator):
    other = provider.submit_job("eval-spec", job_spec("echo other"))
    fresh = make_provider(emulator)  # knows nothing of `other`
    emulator.configure(lost_response_rate=1.0)
    mine = fresh.submit_job("eval-spec", job_spec("echo mine"))
    emulator.configure(lost_response_rate=0.0)
    assert mine.id != other.id and mine.spec["container"]["command"][-1] == "echo mine"


def test_parallel_submits_under_lost_responses_never_duplicate(provider, emulator):
    from concurrent.futures import ThreadPoolExecutor

    emulator.configure(lost_response_rate=0.4, fault_rate=0.2, retry_after=0, seed=7)
    names = [f"eval-par-{i}" for i in range(8)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        infos = list(pool.map(lambda n: provider.submit_job(n, job_spec()), names))
    assert [i.name for i in infos] == names
    assert len({i.id for i in infos}) == len(names)
    for name in names:
        assert emulator.world.creates("job", name) == 1, f"{name} submitted twice"
