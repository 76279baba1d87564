"""Secrets, logs, auth and the admin routes, through the real SDK and plain HTTP."""

from __future__ import annotations

import pytest
import requests
from leptonai.api.v2.api_resource import ClientError
from leptonai.api.v2.client import APIClient
from leptonai.api.v2.types.deployment import LeptonDeploymentState
from leptonai.api.v2.types.secret import SecretItem
from leptonai.api.v2.utils import WorkspaceNotFoundError, WorkspaceUnauthorizedError

from tests.support.emulator import client_for, endpoint_model, job_model
from tests.support.polling import wait_until


def test_secrets_create_list_delete(emulator):
    client = client_for(emulator)
    assert (
        client.secret.create(
            [
                SecretItem(name="HF_TOKEN", value="hf-1"),
                SecretItem(name="ngc-key", value="nvapi-2", visibility="public"),
            ]
        )
        is True
    )
    listed = client.secret.list_all()
    assert [(s.name, s.value) for s in listed] == [("HF_TOKEN", None), ("ngc-key", None)]
    assert listed[1].visibility.value == "public"
    raw = requests.get(
        f"{emulator.url}/usersecrets", headers={"Authorization": f"Bearer {emulator.token}"}, timeout=5
    ).json()
    assert all("value" not in item for item in raw)
    assert emulator.world.secret_value("ngc-key") == "nvapi-2"

    with pytest.raises(ClientError) as dup:
        client.secret.create([SecretItem(name="HF_TOKEN", value="again")])
    assert dup.value.response.status_code == 409
    assert client.secret.delete("HF_TOKEN") is True
    assert [s.name for s in client.secret.list_all()] == ["ngc-key"]
    with pytest.raises(ClientError) as missing:
        client.secret.delete("HF_TOKEN")
    assert missing.value.response.status_code == 404


def test_secret_body_must_be_an_array(emulator):
    headers = {"Authorization": f"Bearer {emulator.token}"}
    reply = requests.post(f"{emulator.url}/usersecrets", json={"name": "x", "value": "y"}, headers=headers, timeout=5)
    assert reply.status_code == 400 and "array" in reply.json()["message"]
    reserved = requests.post(
        f"{emulator.url}/usersecrets", json=[{"name": "LEPTON_X", "value": "y"}], headers=headers, timeout=5
    )
    assert reserved.status_code == 400


def test_logs_for_deployments_and_jobs(emulator):
    client = client_for(emulator)
    client.deployment.create(endpoint_model("logged", envs=[{"name": "NIM_SERVED_MODEL_NAME", "value": "m"}]))
    wait_until(lambda: client.deployment.get("logged").status.state == LeptonDeploymentState.Ready)
    result = client.log.get_log(name_or_deployment="logged")
    streams = result["data"]["result"]
    assert streams and streams[0]["stream"]["deployment"] == "logged"
    lines = [line for stream in streams for _, line in stream["values"]]
    assert any("serving m" in line for line in lines)
    timestamps = [int(ns) for stream in streams for ns, _ in stream["values"]]
    assert timestamps == sorted(timestamps, reverse=True)  # backward by default

    job = client.job.create(job_model("logjob"))
    wait_until(lambda: client.job.get(job.metadata.id_).status.state.value == "Completed")
    job_lines = [
        line for s in client.log.get_log(name_or_job=job.metadata.id_)["data"]["result"] for _, line in s["values"]
    ]
    assert "[emulator] command exited with code 0" in job_lines
    assert client.log.get_log(name_or_job="never-existed")["data"]["result"] == []


def test_every_route_wants_the_workspace_token(emulator):
    routes = [
        ("GET", "/workspace"),
        ("GET", "/deployments"),
        ("POST", "/deployments"),
        ("GET", "/deployments/x"),
        ("PATCH", "/deployments/x"),
        ("DELETE", "/deployments/x"),
        ("GET", "/deployments/x/readiness"),
        ("GET", "/deployments/x/events"),
        ("PUT", "/deployments/x/restart"),
        ("GET", "/jobs"),
        ("POST", "/jobs"),
        ("GET", "/jobs/x"),
        ("PATCH", "/jobs/x"),
        ("DELETE", "/jobs/x"),
        ("GET", "/jobs/x/events"),
        ("GET", "/usersecrets"),
        ("POST", "/usersecrets"),
        ("DELETE", "/usersecrets/x"),
        ("GET", "/logs"),
        ("GET", "/nonexistent"),
    ]
    for method, route in routes:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": emulator.token}):
            reply = requests.request(method, emulator.url + route, headers=headers, json={}, timeout=5)
            assert reply.status_code == 401, (method, route, headers)
    for admin in ("requests", "state"):
        assert requests.get(f"{emulator.base_url}/_emulator/{admin}", timeout=5).status_code == 401


def test_sdk_sees_unauthorized_and_unknown_workspaces(emulator):
    with pytest.raises(WorkspaceUnauthorizedError):
        APIClient(workspace_id=emulator.workspace_id, auth_token="wrong", url=emulator.url).info()
    with pytest.raises(ClientError) as denied:
        APIClient(workspace_id=emulator.workspace_id, auth_token="wrong", url=emulator.url).job.list_all()
    assert denied.value.response.status_code == 401
    other = emulator.url.rsplit("/", 1)[0] + "/other-ws"
    with pytest.raises(WorkspaceNotFoundError):
        APIClient(workspace_id="other-ws", auth_token=emulator.token, url=other).info()


def test_credential_string_form(emulator):
    client = APIClient(workspace_id=f"{emulator.workspace_id}:{emulator.token}", url=emulator.url)
    assert client.info().workspace_name.startswith(emulator.workspace_id)


def test_workspace_info_counts_workloads(emulator):
    client = client_for(emulator)
    client.deployment.create(endpoint_model("w1"))
    client.job.create(job_model("w2"))
    client.secret.create([SecretItem(name="S", value="v")])
    info = client.info()
    assert (info.workloads.num_deployments, info.workloads.num_jobs, info.workloads.num_secrets) == (1, 1, 1)
    assert info.features.enable_new_deployment_api is False
    assert client.new_deployment_api_enabled is False


def test_admin_routes(emulator):
    headers = {"Authorization": f"Bearer {emulator.token}"}
    client = client_for(emulator)
    client.deployment.create(endpoint_model("adm"))
    log = requests.get(f"{emulator.base_url}/_emulator/requests", headers=headers, timeout=5).json()
    assert [(r["method"], r["route"], r["status"]) for r in log][-1] == ("POST", "/deployments", 200)
    state = requests.get(f"{emulator.base_url}/_emulator/state", headers=headers, timeout=5).json()
    assert [d["metadata"]["name"] for d in state["deployments"]] == ["adm"]
    assert "token" not in state["options"]

    changed = requests.post(
        f"{emulator.base_url}/_emulator/config",
        headers=headers,
        json={"ready_after": "1.5", "fault_rate": 0},
        timeout=5,
    )
    assert changed.status_code == 200 and changed.json()["ready_after"] == 1.5
    assert emulator.options.ready_after == 1.5
    for bad in ({"token": "new"}, {"no_such_option": 1}, {"fault_rate": 2}):
        reply = requests.post(f"{emulator.base_url}/_emulator/config", headers=headers, json=bad, timeout=5)
        assert reply.status_code == 400, bad

    assert requests.post(f"{emulator.base_url}/_emulator/reset", headers=headers, timeout=5).status_code == 200
    assert emulator.world.deployments() == [] and emulator.requests == []
    # Admin calls are never logged themselves.
    assert all(not r.path.startswith("/_emulator") for r in emulator.requests)
