"""The emulator refuses what Lepton refuses (shapes it does not offer, node groups that are not its
ids), lists node groups and shapes, and speaks the new endpoint API family when the workspace
flag is on, all through the real ``leptonai`` SDK."""

from __future__ import annotations

import pytest

from tests.support.emulator import client_for, endpoint_body, endpoint_model, job_model
from tests.support.polling import wait_until


def _routes(emulator) -> list[str]:
    return [f"{r.method} {r.route}" for r in emulator.requests]


def test_node_groups_and_shapes_are_listed_by_the_sdk(emulator):
    emulator.configure(node_groups={"h200-pool": "h200-pool-x1y2z3"}, shapes=["cpu.small", "gpu.1xh200"])
    client = client_for(emulator)
    [group] = client.nodegroup.list_all()
    assert (group.metadata.name, group.metadata.id_) == ("h200-pool", "h200-pool-x1y2z3")
    assert [n.metadata.id_ for n in client.nodegroup.list_nodes("h200-pool-x1y2z3")] == ["h200-pool-x1y2z3-node-1"]
    shapes = {s.metadata.name: s.spec for s in client.shapes.list_shapes()}
    assert set(shapes) == {"cpu.small", "gpu.1xh200"} and shapes["gpu.1xh200"].accelerator_num == 1


def test_unknown_shape_and_node_group_name_are_refused(emulator):
    from leptonai.api.v2.api_resource import ClientError

    emulator.configure(node_groups={"h200-pool": "h200-pool-x1y2z3"})
    client = client_for(emulator)
    with pytest.raises(ClientError, match="resource shape 'gpu.made-up' is not available"):
        client.deployment.create(_model_with(shape="gpu.made-up"))
    with pytest.raises(ClientError, match="node group id 'h200-pool' not found"):
        client.deployment.create(_model_with(node_groups=["h200-pool"]))  # a name, not the id
    client.deployment.create(_model_with(node_groups=["h200-pool-x1y2z3"]))
    with pytest.raises(ClientError, match="dedicated node group id"):
        client.job.create(job_model("job-ng", affinity={"allowed_dedicated_node_groups": ["h200-pool"]}))
    with pytest.raises(ClientError, match="resource shape"):
        client.job.create(job_model("job-shape", resource_shape="gpu.nothing"))
    client.job.create(job_model("job-ok", affinity={"allowed_dedicated_node_groups": ["h200-pool-x1y2z3"]}))


def _model_with(*, shape: str = "gpu.1xh200", node_groups: list[str] | None = None, name: str = "placed"):
    from leptonai.api.v2.types.deployment import LeptonDeployment

    body = endpoint_body(name)
    requirement = body["spec"]["resource_requirement"]
    requirement["resource_shape"] = shape
    if node_groups:
        requirement["affinity"] = {"allowed_dedicated_node_groups": node_groups}
    return LeptonDeployment(**body)


def test_new_endpoint_api_family_round_trips_through_the_sdk(emulator):
    from leptonai.api.v2.deployment import DeploymentAPI
    from leptonai.api.v2.endpoint import EndpointAPI
    from leptonai.api.v2.types.deployment import LeptonDeploymentState as State

    emulator.configure(new_deployment_api=True)
    client = client_for(emulator)
    assert isinstance(client.deployment, EndpointAPI) and not isinstance(client.deployment, DeploymentAPI)
    envs = [{"name": "SERVED_MODEL_NAME", "value": "m1"}]
    created = client.deployment.create_with_response(endpoint_model("fresh", envs=envs))
    assert created.metadata.name == "fresh" and created.spec.container.image.startswith("nvcr.io/nim/")
    wait_until(lambda: client.deployment.get("fresh").status.state == State.Ready)
    live = client.deployment.get("fresh")
    assert live.spec.resource_requirement.resource_shape == "gpu.a10"
    assert live.status.endpoint.external_endpoint.endswith("/_endpoints/fresh")
    assert [d.metadata.name for d in client.deployment.list_all()] == ["fresh"]
    assert [e.reason for e in client.deployment.get_events("fresh")][:1] == ["Created"]

    patch = endpoint_model("fresh", max_replicas=2)
    updated = client.deployment.update("fresh", patch)
    assert updated.spec.resource_requirement.max_replicas == 2
    assert emulator.world.deployment("fresh")["spec"]["resource_requirement"]["max_replicas"] == 2

    labelled = endpoint_model("labelled")
    labelled.metadata.labels = {"a": "b"}
    with pytest.raises(ValueError, match="metadata labels"):
        client.deployment.create(labelled)  # the SDK itself refuses labels on this family
    client.deployment.delete("fresh")
    assert client.deployment.get("fresh").status.state == State.Deleting
    routes = _routes(emulator)
    assert "POST /endpoints" in routes and "PATCH /endpoints/fresh" in routes and "DELETE /endpoints/fresh" in routes
    assert not any("/deployments" in r for r in routes)
