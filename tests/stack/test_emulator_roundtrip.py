"""The specs nimctl builds, sent through the real leptonai SDK to the workspace emulator over
HTTP on 127.0.0.1: accepted, and read back unchanged."""

from __future__ import annotations

from nimctl.config.loader import load_configs
from nimctl.providers.base import JobState, ResourceState
from nimctl.stack.builder import build_stacks, job_name, referenced_secrets, render_job_spec
from tests.support.polling import wait_until

LEPTON_EXAMPLES = [
    "examples/lepton_nim_seed_example.yaml",
    "examples/lepton_multi_task.yaml",
    "examples/lepton_literal_token.yaml",
    "examples/lepton_autoscaling.yaml",
]
INVOCATION = "5eed5eed5eed5eed"


def create_workspace_secrets(emulator, names: list[str]) -> None:
    """What a user does once per workspace (`lep secret create`): Lepton starts nothing whose
    referenced secret is missing, and the emulator checks that too."""
    from leptonai.api.v2.client import APIClient
    from leptonai.api.v2.types.secret import SecretItem

    client = APIClient(workspace_id=emulator.workspace_id, auth_token=emulator.token, url=emulator.url)
    client.secret.create([SecretItem(name=name, value=f"value-of-{name}") for name in names])


def test_example_specs_are_accepted_and_kept_by_lepton(emulator) -> None:
    from nimctl.providers.lepton.provider import LeptonProvider

    provider = LeptonProvider(workspace_id=emulator.workspace_id, token=emulator.token, url=emulator.url)
    stacks = build_stacks(load_configs(LEPTON_EXAMPLES))
    needed = referenced_secrets(stacks)
    assert set(needed) == {"ENDPOINT_API_KEY", "HUGGING_FACE_HUB_TOKEN"}
    assert "job.llama-3-1-8b.ifeval" in needed["ENDPOINT_API_KEY"]  # the job's wired key
    create_workspace_secrets(emulator, list(needed))
    submitted: list[tuple[str, dict]] = []
    for stack in stacks:
        endpoint = stack.endpoint
        created = provider.create_endpoint(endpoint.name, endpoint.spec)
        assert created.name == endpoint.name
        wait_until(lambda e=endpoint: provider.get_endpoint(e.name).state is ResourceState.READY, timeout=15)
        live = provider.get_endpoint(endpoint.name)
        for field in ("container", "resource_requirement", "envs", "mounts", "api_tokens", "auto_scaler"):
            assert live.spec.get(field) == endpoint.spec.get(field), (endpoint.name, field)
        for job in stack.jobs:
            name, spec = render_job_spec(job, invocation_id=INVOCATION, endpoint_url=live.url)
            info = provider.submit_job(name, spec)
            assert info.name == name == job_name(job, INVOCATION)
            submitted.append((info.id, spec))
    assert len(submitted) == 8
    for job_id, spec in submitted:
        wait_until(lambda j=job_id: provider.get_job(j).state.terminal, timeout=15)
        info = provider.get_job(job_id)
        assert info.state is JobState.SUCCEEDED
        for field in ("container", "envs", "mounts", "resource_shape", "shared_memory_size"):
            assert info.spec.get(field) == spec.get(field), field
