"""Desired resources and applied outcomes built in code, shaped like what nimctl.stack.builder produces
for the seed's example (a Lepton NIM endpoint plus evaluation jobs)."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from nimctl.providers.base import EndpointInfo, JobInfo, JobState, ResourceState
from nimctl.stack.resources import DesiredEndpoint, DesiredJob, ProbeToken, Stack

IMAGE = "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.8.6"
MODEL = "meta/llama-3.1-8b-instruct"


def lepton_endpoint_spec(
    *,
    image: str = IMAGE,
    min_replicas: int = 1,
    max_replicas: int = 3,
    token: str | None = None,
    extra_envs: dict[str, str] | None = None,
) -> dict[str, Any]:
    envs: list[dict[str, Any]] = [
        {"name": "HF_TOKEN", "value_from": {"secret_name_ref": "HUGGING_FACE_HUB_TOKEN"}},
        {"name": "SERVED_MODEL_NAME", "value": MODEL},
        {"name": "MODEL_PORT", "value": "8000"},
        {"name": "NIM_MODEL_NAME", "value": MODEL},
    ]
    envs += [{"name": k, "value": v} for k, v in (extra_envs or {}).items()]
    tokens = [{"value": token}] if token else [{"value_from": {"token_name_ref": "ENDPOINT_API_KEY"}}]
    return {
        "health": {"readiness": {}, "liveness": {}},
        "log": {"enable_collection": True},
        "resource_requirement": {
            "affinity": {"allowed_dedicated_node_groups": ["ng-1"]},
            "resource_shape": "gpu.1xh200",
            "min_replicas": min_replicas,
            "max_replicas": max_replicas,
        },
        "auto_scaler": {"scale_down": {"no_traffic_timeout": 3600}},
        "container": {"image": image, "ports": [{"container_port": 8000}]},
        "envs": envs,
        "mounts": [{"path": "/models", "from": "node-nfs:lepton-shared-fs", "mount_path": "/opt/nim/.cache"}],
        "api_tokens": tokens,
    }


def endpoint(stack: str = "llama", name: str | None = None, **spec_kw: Any) -> DesiredEndpoint:
    spec = lepton_endpoint_spec(**spec_kw)
    token = spec_kw.get("token")
    return DesiredEndpoint(
        stack=stack,
        name=name or f"{stack}-ep",
        platform="lepton",
        spec=spec,
        served_model_name=MODEL,
        probe_token=ProbeToken(literal=token) if token else ProbeToken(env_var="ENDPOINT_API_KEY"),
        source_file=f"{stack}.yaml",
    )


def job_spec_template(task: str, image: str = "nvcr.io/nvidia/eval-factory/lm-evaluation-harness:25.08") -> dict:
    return {
        "resource_shape": "cpu.small",
        "container": {"image": image, "command": ["nemo-evaluator", "run_eval"]},
        "completions": 1,
        "parallelism": 1,
        "shared_memory_size": 1024,
        "envs": [
            {"name": "NIMCTL_MODEL_ID", "value": MODEL},
            {"name": "API_KEY", "value_from": {"secret_name_ref": "ENDPOINT_API_KEY"}},
        ],
        "ttl_seconds_after_finished": 600,
    }


def job(
    stack: str = "llama",
    task: str = "ifeval",
    *,
    endpoint_name: str | None = None,
    image: str = IMAGE,
    salt_extra: str = "",
) -> DesiredJob:
    template = job_spec_template(task)
    inputs = f"{task}|{template}|{image}|{salt_extra}"
    return DesiredJob(
        stack=stack,
        task=task,
        resolved_task=f"lm-evaluation-harness.{task}",
        platform="lepton",
        endpoint=endpoint_name or f"{stack}-ep",
        spec_template=template,
        inputs_hash=hashlib.sha256(inputs.encode()).hexdigest()[:16],
        model_id=MODEL,
        name_slug=f"{stack}-{task}"[:12],
        source_file=f"{stack}.yaml",
    )


def stack(name: str = "llama", tasks: tuple[str, ...] = ("ifeval",), **endpoint_kw: Any) -> Stack:
    ep = endpoint(name, **endpoint_kw)
    image = ep.spec["container"]["image"]
    return Stack(
        name=name,
        source_file=f"{name}.yaml",
        platform="lepton",
        endpoint=ep,
        jobs=tuple(job(name, t, image=image) for t in tasks),
        output_dir="results",
    )


def endpoint_info(
    desired: DesiredEndpoint,
    *,
    state: ResourceState = ResourceState.READY,
    spec: dict[str, Any] | None = None,
    owner: tuple[str, str] | None = None,
) -> EndpointInfo:
    """What a platform answers for a created endpoint: the spec echoed with server extras.
    ``owner`` = (lineage, invocation): the ownership marker apply puts on what it creates."""
    live = copy.deepcopy(spec if spec is not None else desired.spec)
    if owner is not None:
        from nimctl.stack import ownership

        marker = ownership.Marker.new(lineage=owner[0], state="file:/x", stack=desired.stack, invocation=owner[1])
        live = ownership.mark(live, marker, local_spec=desired.platform == "local")
    live.setdefault("queue_config", {"priority_class": "mid-4000"})  # server-populated
    for port in (live.get("container") or {}).get("ports") or []:
        port.setdefault("protocol", "TCP")
    return EndpointInfo(
        name=desired.name,
        state=state,
        platform_state="Ready" if state == ResourceState.READY else state.value,
        url=f"https://ws-{desired.name}.example.invalid",
        spec=live,
        ready_replicas=1,
    )


def job_info(
    desired: DesiredJob,
    *,
    job_id: str | None = None,
    state: JobState = JobState.SUCCEEDED,
    name: str | None = None,
    owner: tuple[str, str] | None = None,
) -> JobInfo:
    word = {
        JobState.SUCCEEDED: "Completed",
        JobState.RUNNING: "Running",
        JobState.FAILED: "Failed",
        JobState.PENDING: "Queueing",
        JobState.STOPPED: "Stopped",
    }.get(state, state.value)
    spec = copy.deepcopy(desired.spec_template)
    if owner is not None:
        from nimctl.stack import ownership

        marker = ownership.Marker.new(lineage=owner[0], state="file:/x", stack=desired.stack, invocation=owner[1])
        spec = ownership.mark(spec, marker, local_spec=desired.platform == "local")
    return JobInfo(
        id=job_id or f"id-{desired.stack}-{desired.task}",
        name=name or f"eval-000000-{desired.task}",
        state=state,
        platform_state=word,
        spec=spec,
        created_at=1.0,
    )
