"""Driving the real Lepton SDK against the emulator: a client for it (``client_for``), endpoint and
job bodies and models in the shapes the SDK sends (``endpoint_body``, ``endpoint_model``,
``job_model``), ``isolate_lepton_cache`` (an empty ``lep login`` cache) and ``request_counts``:
the emulator's request log counted by method and route kind (for the request budgets and bench/)."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any, TypeVar

T = TypeVar("T")


def client_for(emulator):
    """A real ``APIClient`` for this emulator (explicit arguments, no environment needed)."""
    from leptonai.api.v2.client import APIClient

    return APIClient(workspace_id=emulator.workspace_id, auth_token=emulator.token, url=emulator.url)


def isolate_lepton_cache(cache_dir) -> None:
    """An empty ``lep login`` cache; the version-check stamp keeps ``lep`` from calling PyPI."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    (cache_dir / "latest_version_check").write_text(str(time.time()))


def endpoint_body(
    name: str,
    image: str = "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.8.0",
    *,
    tokens: list[dict[str, Any]] | None = None,
    envs: list[dict[str, Any]] | None = None,
    min_replicas: int = 1,
    max_replicas: int = 1,
    **spec: Any,
) -> dict[str, Any]:
    """The JSON a provider would post for an endpoint (the shape `lep endpoint create` sends)."""
    body: dict[str, Any] = {
        "metadata": {"id": name, "name": name},
        "spec": {
            "container": {"image": image, "ports": [{"container_port": 8000}]},
            "resource_requirement": {
                "resource_shape": "gpu.a10",
                "min_replicas": min_replicas,
                "max_replicas": max_replicas,
            },
            "api_tokens": tokens if tokens is not None else [{"value": "endpoint-token"}],
            "envs": envs or [],
            **spec,
        },
    }
    return body


def endpoint_model(name: str, **kwargs: Any):
    from leptonai.api.v2.types.deployment import LeptonDeployment

    return LeptonDeployment(**endpoint_body(name, **kwargs))


def job_model(name: str, image: str = "python:3.11", command: list[str] | None = None, **spec: Any):
    from leptonai.api.v2.types.job import LeptonJob

    return LeptonJob(
        **{
            "metadata": {"id": name},
            "spec": {
                "resource_shape": "cpu.small",
                "container": {"image": image, "command": command or ["echo", "hi"]},
                **spec,
            },
        }
    )


def request_counts(server: Any) -> dict[str, int]:
    """``METHOD route-kind`` -> count, e.g. ``GET /deployments``, ``GET /jobs`` (pages counted)."""
    counts: Counter[str] = Counter()
    for record in server.requests:
        parts = record.route.strip("/").split("/")
        kind = "/" + parts[0]
        if len(parts) > 1:
            kind += "/{id}"  # one object's name or id
        if len(parts) > 2:
            kind += "/" + "/".join(parts[2:])
        counts[f"{record.method} {kind}"] += 1
    return dict(sorted(counts.items()))
