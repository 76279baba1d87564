"""Injected faults: 429/5xx before the operation, latency, and lost responses after it."""

from __future__ import annotations

import time
from collections import Counter

import pytest
import requests
from leptonai.api.v2.api_resource import ClientError, ServerError

from nimctl.offline.emulator.server import EmulatorOptions, EmulatorServer
from tests.support.emulator import client_for, endpoint_model, job_model


def _ready_client(emulator):
    client = client_for(emulator)
    assert client.new_deployment_api_enabled is False  # resolve /workspace before faults start
    return client


def test_fault_rate_one_refuses_everything_and_applies_nothing(emulator):
    client = _ready_client(emulator)
    emulator.configure(fault_rate=1.0)
    statuses = Counter()
    for index in range(40):
        with pytest.raises((ClientError, ServerError)) as failure:
            client.deployment.create(endpoint_model(f"f{index}"))
        response = failure.value.response
        statuses[response.status_code] += 1
        if response.status_code == 429:
            assert response.headers["Retry-After"] == "1"
    assert set(statuses) <= {429, 500, 502, 503} and len(statuses) >= 3
    assert emulator.world.deployments() == []
    faults = [r.fault for r in emulator.requests if r.route == "/deployments"]
    assert len(faults) == 40 and all(f in {"429", "500", "502", "503"} for f in faults)


def test_same_seed_same_faults():
    def run() -> list[int]:
        with EmulatorServer(EmulatorOptions(fault_rate=0.5, seed=7)) as emu:
            headers = {"Authorization": f"Bearer {emu.token}"}
            return [requests.get(emu.url + "/deployments", headers=headers, timeout=5).status_code for _ in range(30)]

    first, second = run(), run()
    assert first == second
    assert 200 in first and any(s >= 429 for s in first)


def test_partial_fault_rate_is_roughly_respected(emulator):
    emulator.configure(fault_rate=0.3, seed=99)
    headers = {"Authorization": f"Bearer {emulator.token}"}
    codes = [requests.get(emulator.url + "/jobs", headers=headers, timeout=5).status_code for _ in range(200)]
    failed = sum(1 for c in codes if c != 200)
    assert 35 <= failed <= 85


def test_lost_create_response_still_creates_the_deployment(emulator):
    client = _ready_client(emulator)
    emulator.configure(lost_response_rate=1.0)
    with pytest.raises(ServerError) as lost:
        client.deployment.create(endpoint_model("trap"))
    assert lost.value.response.status_code == 502
    assert emulator.world.deployment("trap") is not None
    record = emulator.requests[-1]
    assert (record.method, record.route, record.status, record.fault, record.applied_status) == (
        "POST",
        "/deployments",
        502,
        "lost_response",
        200,
    )

    emulator.configure(lost_response_rate=0.0)
    # A blind retry is the duplicate-create trap: the server already has it.
    with pytest.raises(ClientError) as retry:
        client.deployment.create(endpoint_model("trap"))
    assert retry.value.response.status_code == 409
    assert client.deployment.get("trap").metadata.name == "trap"
    assert emulator.world.creates("deployment", "trap") == 1


def test_lost_job_create_leaves_a_job_to_find_by_name(emulator):
    client = _ready_client(emulator)
    emulator.configure(lost_response_rate=1.0)
    with pytest.raises(ServerError):
        client.job.create(job_model("orphan"))
    emulator.configure(lost_response_rate=0.0)
    found = [j for j in client.job.list_all() if j.metadata.name == "orphan"]
    assert len(found) == 1


def test_lost_delete_and_patch_are_applied(emulator):
    client = _ready_client(emulator)
    client.deployment.create(endpoint_model("victim"))
    job = client.job.create(job_model("victim-job"))
    emulator.configure(lost_response_rate=1.0, job_duration=30, delete_after=30)
    with pytest.raises(ServerError):
        client.job.update(job.metadata.id_, spec={"spec": {"stopped": True}})
    with pytest.raises(ServerError):
        client.deployment.delete("victim")
    emulator.configure(lost_response_rate=0.0)
    assert client.job.get(job.metadata.id_).spec.stopped is True
    assert client.deployment.get("victim").status.state.value == "Deleting"


def test_reads_are_never_lost(emulator):
    client = _ready_client(emulator)
    emulator.configure(lost_response_rate=1.0)
    assert client.deployment.list_all() == []
    assert client.job.list_all() == []
    assert all(r.fault is None for r in emulator.requests)


def test_latency_is_added(emulator):
    client = _ready_client(emulator)
    emulator.configure(latency=0.1)
    began = time.monotonic()
    client.deployment.list_all()
    assert time.monotonic() - began >= 0.1
    assert emulator.requests[-1].duration >= 0.1


def test_endpoint_traffic_has_its_own_fault_rate(emulator):
    client = _ready_client(emulator)
    client.deployment.create(endpoint_model("ep", tokens=[]))
    emulator.configure(fault_rate=1.0)
    health = f"{emulator.endpoint_url('ep')}/v1/health/ready"
    assert requests.get(health, timeout=5).status_code in (200, 503)  # not a fault: the API rate only
    emulator.configure(fault_rate=0.0, endpoint_fault_rate=1.0)
    assert requests.get(health, timeout=5).status_code in (429, 500, 502, 503)
    assert emulator.requests[-1].fault is not None
    assert client.deployment.list_all()[0].metadata.name == "ep"
