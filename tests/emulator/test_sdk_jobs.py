"""The real leptonai SDK drives jobs on the emulator."""

from __future__ import annotations

import time

import pytest
import requests
from leptonai.api.v2.api_resource import ClientError
from leptonai.api.v2.types.job import LeptonJobState

from tests.support.emulator import client_for, job_model
from tests.support.polling import wait_until

State = LeptonJobState


def _state(client, job_id):
    return client.job.get(job_id).status.state


def test_create_assigns_an_id_and_runs_to_completion(emulator):
    emulator.configure(queue_time=0.15, job_duration=0.15)
    client = client_for(emulator)
    began = time.monotonic()
    job = client.job.create(job_model("eval-task"))
    assert job.metadata.name == "eval-task"
    assert job.metadata.id_.startswith("eval-task-") and job.metadata.id_ != "eval-task"
    assert job.status.state == State.Queueing
    assert job.spec.ttl_seconds_after_finished == 600 and job.spec.completions == 1

    wait_until(lambda: _state(client, job.metadata.id_) == State.Running)
    running = client.job.get(job.metadata.id_)
    assert running.status.active == 1
    assert len(client.job.get_replicas(job)) == 1
    wait_until(lambda: _state(client, job.metadata.id_) == State.Completed)
    assert time.monotonic() - began >= 0.3
    done = client.job.get(job.metadata.id_)
    assert done.status.succeeded == 1 and done.status.completion_time >= done.status.creation_time
    assert [e.reason for e in client.job.get_events(job)] == ["Queueing", "Started", "Completed"]


def test_names_are_not_unique(emulator):
    client = client_for(emulator)
    first = client.job.create(job_model("same"))
    second = client.job.create(job_model("same"))
    assert first.metadata.id_ != second.metadata.id_
    assert len(emulator.world.jobs("same")) == 2
    assert emulator.world.creates("job", "same") == 2


def test_fail_job_pattern_fails_with_an_event(emulator):
    emulator.configure(fail_job_pattern=r"exit 1")
    client = client_for(emulator)
    job = client.job.create(job_model("bad", command=["bash", "-c", "exit 1"]))
    wait_until(lambda: _state(client, job.metadata.id_) == State.Failed)
    failed = client.job.get(job.metadata.id_)
    assert failed.status.failed == 1
    assert "BackoffLimitExceeded" in [e.reason for e in client.job.get_events(job)]


def test_list_all_pages_until_an_empty_page(emulator):
    client = client_for(emulator)
    emulator.configure(queue_time=60)  # keep them all alive and queued
    ids = [
        emulator.world.create_job(job_model(f"bulk-{i % 3}").model_dump(by_alias=True, exclude_none=True))["metadata"][
            "id"
        ]
        for i in range(501)
    ]
    listed = client.job.list_all()
    assert [j.metadata.id_ for j in listed] == ids
    pages = [r.query for r in emulator.requests if r.route == "/jobs"]
    assert pages == [f"job_query_mode=alive_only&page={n}&page_size=500" for n in (1, 2, 3)]

    page_two = client.job.list_all(page=2, page_size=200)
    assert [j.metadata.id_ for j in page_two] == ids[200:400]
    assert client.job.list_all(page=9, page_size=200) == []
    assert {j.metadata.name for j in client.job.list_all(q="bulk-2")} == {"bulk-2"}


def test_unpaged_listing_is_a_bare_array(emulator):
    client = client_for(emulator)
    client.job.create(job_model("bare"))
    reply = requests.get(f"{emulator.url}/jobs", headers={"Authorization": f"Bearer {emulator.token}"}, timeout=5)
    assert isinstance(reply.json(), list)
    assert [j.metadata.name for j in client.job.list_matching("")] == ["bare"]


def test_status_filter(emulator):
    emulator.configure(fail_job_pattern="^boom")
    client = client_for(emulator)
    ok = client.job.create(job_model("fine"))
    bad = client.job.create(job_model("boom"))
    wait_until(
        lambda: _state(client, bad.metadata.id_) == State.Failed and _state(client, ok.metadata.id_) == State.Completed
    )
    assert [j.metadata.id_ for j in client.job.list_all(status=["Failed"])] == [bad.metadata.id_]
    assert [j.metadata.id_ for j in client.job.list_all(status=["comp", "queue"])] == [ok.metadata.id_]
    assert len(client.job.list_all(created_by="EMULATOR-user")) == 2
    assert client.job.list_all(created_by="alice") == []


def test_stop_and_start_again_with_patch(emulator):
    emulator.configure(job_duration=30, delete_after=0.15)
    client = client_for(emulator)
    job = client.job.create(job_model("stoppable"))
    wait_until(lambda: _state(client, job.metadata.id_) == State.Running)
    assert client.job.update(job.metadata.id_, spec={"spec": {"stopped": True}}) is True
    assert _state(client, job.metadata.id_) == State.Stopping
    wait_until(lambda: _state(client, job.metadata.id_) == State.Stopped)
    assert client.job.get(job.metadata.id_).spec.stopped is True

    emulator.configure(job_duration=0.05)
    client.job.update(job.metadata.id_, spec={"spec": {"stopped": False}})
    wait_until(lambda: _state(client, job.metadata.id_) == State.Completed)


def test_delete_is_asynchronous(emulator):
    emulator.configure(delete_after=0.2)
    client = client_for(emulator)
    job = client.job.create(job_model("gone"))
    assert client.job.delete(job.metadata.id_) is True
    assert _state(client, job.metadata.id_) == State.Deleting
    wait_until(lambda: emulator.world.jobs("gone") == [])
    with pytest.raises(ClientError) as missing:
        client.job.get(job.metadata.id_)
    assert missing.value.response.status_code == 404
    with pytest.raises(ClientError):
        client.job.delete(job.metadata.id_)


def test_finished_jobs_are_archived_after_their_ttl(emulator):
    client = client_for(emulator)
    job = client.job.create(job_model("short-lived", ttl_seconds_after_finished=0))
    wait_until(lambda: client.job.list_all() == [])
    archived = client.job.list_all(job_query_mode="archive_only")
    assert [j.metadata.id_ for j in archived] == [job.metadata.id_]
    assert client.job.get(job.metadata.id_).status.state == State.Completed  # alive_and_archive
    with pytest.raises(ClientError):
        client.job.get(job.metadata.id_, job_query_mode="alive_only")


def test_job_replica_log(emulator):
    emulator.configure(job_duration=30)
    client = client_for(emulator)
    job = client.job.create(job_model("chatty", command=["python", "-m", "nimctl.builtin_tasks.smoke"]))
    wait_until(lambda: _state(client, job.metadata.id_) == State.Running)
    replica = client.job.get_replicas(job)[0]
    text = "".join(client.job.get_log(job, replica, timeout=5))
    assert "running: python -m nimctl.builtin_tasks.smoke" in text


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"id": "Upper"}, "lowercase"),
        ({"id": "a" * 37}, "at most 36"),
        ({"id": "ends-by-lepton"}, "by-lepton"),
    ],
)
def test_server_rejects_bad_job_names(emulator, metadata, message):
    body = {"metadata": metadata, "spec": {"container": {"image": "x", "command": ["true"]}}}
    reply = requests.post(
        f"{emulator.url}/jobs", json=body, headers={"Authorization": f"Bearer {emulator.token}"}, timeout=5
    )
    assert reply.status_code == 400 and message in reply.json()["message"]


def test_job_secret_reference_must_exist(emulator):
    client = client_for(emulator)
    job = client.job.create(
        job_model("needs-key", envs=[{"name": "API_KEY", "value_from": {"secret_name_ref": "nope"}}])
    )
    wait_until(lambda: _state(client, job.metadata.id_) == State.Failed)
    assert "CreateContainerConfigError" in [e.reason for e in client.job.get_events(job)]
