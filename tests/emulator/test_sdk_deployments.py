"""The real leptonai SDK drives endpoints (legacy /deployments) on the emulator."""

from __future__ import annotations

import time
import warnings

import pytest
import requests
from leptonai.api.v2.api_resource import ClientError
from leptonai.api.v2.types.deployment import LeptonDeployment, LeptonDeploymentState

from tests.support.emulator import client_for, endpoint_model
from tests.support.polling import wait_until

State = LeptonDeploymentState


def _state(client, name):
    return client.deployment.get(name).status.state


def test_create_get_list_and_lifecycle_to_ready(emulator):
    emulator.configure(ready_after=0.4)  # long enough to look at the Starting state
    client = client_for(emulator)
    assert client.deployment.list_all() == []
    assert client.deployment.create(endpoint_model("ep1")) is True

    created = client.deployment.get("ep1")
    assert created.metadata.name == created.metadata.id_ == "ep1"
    assert created.metadata.created_at and created.metadata.version == 1
    assert created.status.state == State.Starting
    assert created.status.endpoint.external_endpoint == emulator.endpoint_url("ep1")
    assert created.spec.container.image.startswith("nvcr.io/nim/")
    assert created.spec.resource_requirement.min_replicas == 1
    assert [t.value for t in created.spec.api_tokens] == ["endpoint-token"]
    starting = client.deployment.get_readiness("ep1").root
    assert [issues[0].reason.value for issues in starting.values()] == ["InProgress"]

    wait_until(lambda: _state(client, "ep1") == State.Ready)
    readiness = client.deployment.get_readiness("ep1").root
    assert [issues[0].reason.value for issues in readiness.values()] == ["Ready"]
    replicas = client.deployment.get_replicas("ep1")
    assert len(replicas) == 1 and replicas[0].metadata.id_ in readiness
    reasons = [event.reason for event in client.deployment.get_events("ep1")]
    assert reasons[:3] == ["Created", "Scheduled", "Pulling"] and reasons[-2:] == ["Pulled", "Started"]
    assert client.deployment.get_termination("ep1").root == {}
    assert [d.metadata.name for d in client.deployment.list_all()] == ["ep1"]


def test_ready_takes_ready_after(emulator):
    emulator.configure(ready_after=0.3)
    client = client_for(emulator)
    began = time.monotonic()
    client.deployment.create(endpoint_model("slow"))
    assert _state(client, "slow") == State.Starting
    wait_until(lambda: _state(client, "slow") == State.Ready)
    assert time.monotonic() - began >= 0.3


def test_create_with_response_and_replica_count(emulator):
    client = client_for(emulator)
    created = client.deployment.create_with_response(endpoint_model("ep2", min_replicas=2, max_replicas=3))
    assert isinstance(created, LeptonDeployment) and created.metadata.name == "ep2"
    wait_until(lambda: _state(client, "ep2") == State.Ready)
    assert len(client.deployment.get_replicas("ep2")) == 2


def test_create_without_tokens_gets_server_defaults(emulator):
    client = client_for(emulator)
    body = {"metadata": {"name": "bare"}, "spec": {"container": {"image": "nginx:1"}}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the SDK warns about token-less creates
        client.deployment.create(LeptonDeployment(**body))
    live = client.deployment.get("bare")
    requirement = live.spec.resource_requirement
    assert (requirement.resource_shape, requirement.min_replicas, requirement.max_replicas) == ("cpu.small", 1, 1)


def test_duplicate_create_is_409_also_while_deleting(emulator):
    emulator.configure(delete_after=0.3)
    client = client_for(emulator)
    client.deployment.create(endpoint_model("dup"))
    with pytest.raises(ClientError) as first:
        client.deployment.create(endpoint_model("dup"))
    assert first.value.response.status_code == 409
    assert "already exists" in first.value.response.json()["message"]

    assert client.deployment.delete("dup") is True
    assert _state(client, "dup") == State.Deleting
    assert [d.status.state for d in client.deployment.list_all()] == [State.Deleting]
    with pytest.raises(ClientError) as during:
        client.deployment.create(endpoint_model("dup"))
    assert during.value.response.status_code == 409
    assert "being deleted" in during.value.response.json()["message"]

    wait_until(lambda: client.deployment.list_all() == [])
    with pytest.raises(ClientError) as gone:
        client.deployment.get("dup")
    assert gone.value.response.status_code == 404
    assert client.deployment.create(endpoint_model("dup")) is True
    assert emulator.world.creates("deployment", "dup") == 2


def test_deletion_is_asynchronous_and_takes_delete_after(emulator):
    emulator.configure(delete_after=0.25)
    client = client_for(emulator)
    client.deployment.create(endpoint_model("del"))
    began = time.monotonic()
    client.deployment.delete("del")
    client.deployment.delete("del")  # deleting twice is harmless while it is in progress
    wait_until(lambda: emulator.world.deployment("del") is None)
    assert time.monotonic() - began >= 0.25
    with pytest.raises(ClientError) as missing:
        client.deployment.delete("del")
    assert missing.value.response.status_code == 404


def test_update_is_a_merge_patch_with_dryrun(emulator):
    emulator.configure(ready_after=0.2)
    client = client_for(emulator)
    envs = [{"name": "SERVED_MODEL_NAME", "value": "meta/llama-3.1-8b-instruct"}]
    client.deployment.create(endpoint_model("upd", envs=envs))
    wait_until(lambda: _state(client, "upd") == State.Ready)

    patch = LeptonDeployment(spec={"resource_requirement": {"min_replicas": 2, "max_replicas": 4}})
    preview = client.deployment.update("upd", patch, dryrun=True)
    assert preview.spec.resource_requirement.max_replicas == 4
    unchanged = client.deployment.get("upd")
    assert unchanged.spec.resource_requirement.max_replicas == 1 and unchanged.metadata.version == 1
    assert emulator.requests[-2].query == "dryrun=true"

    updated = client.deployment.update("upd", patch)
    assert updated.spec.resource_requirement.min_replicas == 2
    assert updated.spec.resource_requirement.resource_shape == "gpu.a10"  # kept by the merge
    assert [e.value for e in updated.spec.envs] == ["meta/llama-3.1-8b-instruct"]
    assert [t.value for t in updated.spec.api_tokens] == ["endpoint-token"]
    assert updated.metadata.version == 2
    assert updated.status.state == State.Updating
    wait_until(lambda: _state(client, "upd") == State.Ready)
    assert len(client.deployment.get_replicas("upd")) == 2


def test_merge_patch_null_removes_a_field(emulator):
    client = client_for(emulator)
    client.deployment.create(endpoint_model("nul", auto_scaler={"scale_down": {"no_traffic_timeout": 600}}))
    reply = requests.patch(
        f"{emulator.url}/deployments/nul",
        json={"spec": {"auto_scaler": None}},
        headers={"Authorization": f"Bearer {emulator.token}"},
        timeout=5,
    )
    assert reply.status_code == 200
    assert "auto_scaler" not in reply.json()["spec"]
    assert client.deployment.get("nul").spec.auto_scaler is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"metadata": {"name": "Bad_Name"}, "spec": {"container": {"image": "x"}}}, "must start with a lowercase"),
        ({"metadata": {"name": "a" * 37}, "spec": {"container": {"image": "x"}}}, "longer than 36"),
        ({"metadata": {"name": "noimage"}, "spec": {"container": {}}}, "container.image is required"),
        (
            {"metadata": {"name": "port"}, "spec": {"container": {"image": "x", "ports": [{"container_port": 70000}]}}},
            "Port must be between 1 and 65535",
        ),
        (
            {
                "metadata": {"name": "rep"},
                "spec": {"container": {"image": "x"}, "resource_requirement": {"min_replicas": 3, "max_replicas": 1}},
            },
            "min_replicas",
        ),
        (
            {
                "metadata": {"name": "maxonly"},
                "spec": {"container": {"image": "x"}, "resource_requirement": {"max_replicas": 1}},
            },
            "invalid",
        ),
        (
            {
                "metadata": {"name": "env"},
                "spec": {"container": {"image": "x"}, "envs": [{"name": "LEPTON_WORKSPACE_ID", "value": "x"}]},
            },
            "reserved",
        ),
        (
            {"metadata": {"name": "tok"}, "spec": {"container": {"image": "x"}, "api_tokens": [{"value": "***"}]}},
            "placeholder",
        ),
        (
            {"metadata": {"name": "ing"}, "spec": {"container": {"image": "x"}, "ingress_timeout_seconds": 10}},
            "ingress_timeout_seconds",
        ),
    ],
)
def test_invalid_specs_are_400_with_a_message(emulator, body, message):
    reply = requests.post(
        f"{emulator.url}/deployments", json=body, headers={"Authorization": f"Bearer {emulator.token}"}, timeout=5
    )
    assert reply.status_code == 400, reply.text
    assert message in reply.json()["message"]
    assert emulator.world.deployments() == []


def test_invalid_patch_is_400_and_changes_nothing(emulator):
    client = client_for(emulator)
    client.deployment.create(endpoint_model("keep"))
    reply = requests.patch(
        f"{emulator.url}/deployments/keep",
        json={"spec": {"resource_requirement": {"min_replicas": 5}}},
        headers={"Authorization": f"Bearer {emulator.token}"},
        timeout=5,
    )
    assert reply.status_code == 400 and "min_replicas" in reply.json()["message"]
    assert client.deployment.get("keep").spec.resource_requirement.min_replicas == 1


def test_error_image_pattern_gives_error_with_events(emulator):
    emulator.configure(error_image_pattern=r"does-not-exist")
    client = client_for(emulator)
    client.deployment.create(endpoint_model("badimg", image="nvcr.io/nim/does-not-exist:1"))
    wait_until(lambda: _state(client, "badimg") == State.Error)
    failures = [e for e in client.deployment.get_events("badimg") if e.type_ == "Warning"]
    assert failures and failures[0].reason == "ErrImagePull"
    raw_events = emulator.world.deployment_events("badimg")
    assert any("does-not-exist" in e["message"] for e in raw_events if e["type"] == "Warning")
    issues = client.deployment.get_readiness("badimg").root
    assert {i[0].reason.value for i in issues.values()} == {"ConfigError"}

    # Fixing the image through an update brings it up.
    client.deployment.update("badimg", LeptonDeployment(spec={"container": {"image": "nvcr.io/nim/ok:1"}}))
    wait_until(lambda: _state(client, "badimg") == State.Ready)


def test_error_name_pattern_crashes_with_terminations(emulator):
    emulator.configure(error_name_pattern=r"^crash-")
    client = client_for(emulator)
    client.deployment.create(endpoint_model("crash-me"))
    wait_until(lambda: _state(client, "crash-me") == State.Error)
    assert "CrashLoopBackOff" in [e.reason for e in client.deployment.get_events("crash-me")]
    terminations = client.deployment.get_termination("crash-me").root
    assert [t[0].exit_code for t in terminations.values()] == [1]


def test_missing_secret_reference_is_an_error_until_the_secret_exists(emulator):
    from leptonai.api.v2.types.secret import SecretItem

    client = client_for(emulator)
    envs = [{"name": "NGC_API_KEY", "value_from": {"secret_name_ref": "ngc-key"}}]
    client.deployment.create(endpoint_model("needs-secret", envs=envs))
    wait_until(lambda: _state(client, "needs-secret") == State.Error)
    emulator.configure(ready_after=0.3)
    assert any('secret "ngc-key" not found' in e["message"] for e in emulator.world.deployment_events("needs-secret"))

    client.secret.create([SecretItem(name="ngc-key", value="nvapi-xyz")])
    restarted = client.deployment.restart("needs-secret")
    assert restarted.status.state == State.Restarting
    wait_until(lambda: _state(client, "needs-secret") == State.Ready)


def test_restart_replaces_replicas(emulator):
    client = client_for(emulator)
    client.deployment.create(endpoint_model("rst"))
    wait_until(lambda: _state(client, "rst") == State.Ready)
    before = {r.metadata.id_ for r in client.deployment.get_replicas("rst")}
    client.deployment.restart("rst")
    wait_until(lambda: _state(client, "rst") == State.Ready)
    after = {r.metadata.id_ for r in client.deployment.get_replicas("rst")}
    assert before and after and before.isdisjoint(after)


def test_replica_log_streams_lines(emulator):
    client = client_for(emulator)
    client.deployment.create(endpoint_model("logs", envs=[{"name": "SERVED_MODEL_NAME", "value": "m1"}]))
    wait_until(lambda: _state(client, "logs") == State.Ready)
    replica = client.deployment.get_replicas("logs")[0]
    text = "".join(client.deployment.get_log("logs", replica, timeout=5))
    assert "pulling image" in text and "serving m1" in text


def test_stop_scales_to_zero_and_reports_stopped(emulator):
    client = client_for(emulator)
    client.deployment.create(endpoint_model("stp"))
    wait_until(lambda: _state(client, "stp") == State.Ready)
    stopped = client.deployment.stop("stp")
    assert stopped.status.state == State.NotReady and stopped.status.phase == State.Stopped
    assert client.deployment.get_replicas("stp") == []


def test_labels_are_kept(emulator):
    client = client_for(emulator)
    model = endpoint_model("lbl")
    model.metadata.labels = {"nimctl.invocation": "abc123"}
    client.deployment.create(model)
    assert client.deployment.get("lbl").metadata.labels == {"nimctl.invocation": "abc123"}


def test_missing_secret_reference_is_tolerated_when_the_check_is_off(emulator):
    emulator.configure(require_secrets=False)
    client = client_for(emulator)
    envs = [{"name": "HF_TOKEN", "value_from": {"secret_name_ref": "absent"}}]
    client.deployment.create(endpoint_model("lenient", envs=envs))
    wait_until(lambda: _state(client, "lenient") == State.Ready)
