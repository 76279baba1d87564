"""Specs parse in the leptonai SDK's own models; check_specs_with_sdk reports what does not."""

from __future__ import annotations

import copy
import dataclasses
import glob

import pytest

from nimctl.stack.builder import build_stacks, check_specs_with_sdk
from nimctl.stack.specs.lepton import DEPLOYMENT_SPEC_FIELDS
from tests.support.stack_configs import build, seed_config

EXAMPLES = sorted(glob.glob("examples/*.yaml"))


def test_deployment_field_list_matches_the_sdk() -> None:
    from leptonai.api.v2.types.deployment import LeptonDeploymentUserSpec

    assert set(LeptonDeploymentUserSpec.model_fields) == DEPLOYMENT_SPEC_FIELDS


def test_every_example_parses_in_the_sdk_models() -> None:
    from nimctl.config.loader import load_configs

    stacks = build_stacks(load_configs(EXAMPLES))
    assert len(stacks) == len(EXAMPLES) >= 6
    lepton = [s for s in stacks if s.platform == "lepton"]
    assert len(lepton) >= 4 and sum(len(s.jobs) for s in lepton) >= 8
    assert check_specs_with_sdk(stacks) == []


def test_sdk_round_trip_keeps_every_field() -> None:
    from leptonai.api.v2.types.deployment import LeptonDeploymentUserSpec

    spec = build(seed_config()).endpoint.spec
    dumped = LeptonDeploymentUserSpec.model_validate(spec).model_dump(mode="json", exclude_none=True, by_alias=True)
    assert dumped == spec


def with_endpoint_spec(change) -> list:
    stack = build(seed_config())
    spec = copy.deepcopy(stack.endpoint.spec)
    change(spec)
    endpoint = dataclasses.replace(stack.endpoint, spec=spec)
    return check_specs_with_sdk([dataclasses.replace(stack, endpoint=endpoint)])


@pytest.mark.parametrize(
    ("change", "text"),
    [
        (lambda s: s["container"]["ports"][0].update(container_port=70000), "container.ports.0.container_port"),
        (lambda s: s["resource_requirement"].update(min_replicas=4), "min_replicas must be smaller"),
        (lambda s: s.update(scale_from_zero=True), "scale_from_zero is not part of the Lepton API"),
        (
            lambda s: s.update(auto_scaler={"scale_down": {"idle": 5}}),
            "auto_scaler.scale_down.idle is not part of the Lepton API",
        ),
        (lambda s: s["envs"].append({"name": "LEPTON_JOB_NAME", "value": "x"}), "reserved"),
        (lambda s: s["mounts"][0].update(mount_path="/etc"), "reserved by Lepton"),
    ],
)
def test_problems_in_endpoint_specs_are_reported(change, text: str) -> None:
    problems = with_endpoint_spec(change)
    assert problems and any(text in p for p in problems), problems
    assert all(p.startswith("demo.yaml: endpoint.llama-3-1-8b: ") for p in problems)


def with_job_template(change) -> list:
    stack = build(seed_config())
    job = stack.jobs[0]
    template = copy.deepcopy(job.spec_template)
    change(template)
    return check_specs_with_sdk(
        [dataclasses.replace(stack, endpoint=None, jobs=(dataclasses.replace(job, spec_template=template),))]
    )


@pytest.mark.parametrize(
    ("change", "text"),
    [
        (lambda t: t.update(ttl_seconds_after_finished=-1), "ttl_seconds_after_finished"),
        (lambda t: t.update(parallelism=0), "parallelism must be a positive integer"),
        (lambda t: t["envs"].append({"name": "9BAD", "value": "x"}), "cannot start with a digit"),
        (
            lambda t: t.update(mounts=[{"path": "/x/(invocation id)", "from": "node-nfs:fs", "mount_path": "/usr"}]),
            "reserved by Lepton",
        ),
        (lambda t: t["container"].update(entrypoint=["x"]), "container.entrypoint is not part of the Lepton API"),
    ],
)
def test_problems_in_job_specs_are_reported(change, text: str) -> None:
    problems = with_job_template(change)
    assert problems and any(text in p for p in problems), problems
    assert all("job.demo.ifeval" in p for p in problems)


def test_local_stacks_are_not_checked_against_lepton() -> None:
    from tests.support.stack_configs import local_mock_config

    assert check_specs_with_sdk([build(local_mock_config())]) == []
