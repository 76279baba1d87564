"""The new endpoint API family (``/endpoints``, HTTPEndpoint bodies) on top of the emulator's
deployments.

A workspace with ``features.enable_new_deployment_api`` makes ``leptonai`` 0.47 speak these routes
instead of ``/deployments``. The wire shape, as the SDK sends and parses it: one component in
``spec.components`` carries the container, resources, scaling (``autoscaling``), envs, mounts,
health and placement; the endpoint-level fields (``api_tokens``, ``image_pull_secrets``, ``log``,
``metrics``, ``routing_policy``, ``ingress_*``, ``access_config``, ``load_balancing``,
``allow_unauthenticated_access``) sit beside it; ``metadata.lepton_metadata`` holds owner and
visibility; ``status`` has ``state`` (``NotReady`` without the space), ``external_url`` and
``ready_replicas``; a deletion in progress shows as ``metadata.deleted_at``. An update is a merge
patch whose ``spec.components`` replaces the list.

The emulator keeps deployments in the legacy form; this module converts at the HTTP boundary.
Takes and gives plain JSON dicts.
"""

from __future__ import annotations

import copy
from typing import Any

from nimctl.offline.emulator.errors import ApiError

# component field -> (legacy section, legacy key); section "" is the spec itself
_COMPONENT_FIELDS = {
    "image": ("container", "image"),
    "command": ("container", "command"),
    "ports": ("container", "ports"),
    "resource_shape": ("resource_requirement", "resource_shape"),
    "min_replicas": ("resource_requirement", "min_replicas"),
    "max_replicas": ("resource_requirement", "max_replicas"),
    "shared_memory_size": ("resource_requirement", "shared_memory_size"),
    "affinity": ("resource_requirement", "affinity"),
    "host_network": ("resource_requirement", "host_network"),
    "autoscaling": ("", "auto_scaler"),
    "envs": ("", "envs"),
    "mounts": ("", "mounts"),
    "storage_attachments": ("", "storage_attachments"),
    "scheduling_policy": ("", "scheduling_policy"),
    "queue_config": ("", "queue_config"),
    "reservation_config": ("", "reservation_config"),
    "health": ("", "health"),
    "user_security_context": ("", "user_security_context"),
}
# endpoint-level field -> legacy spec key
_ENDPOINT_FIELDS = {
    "api_tokens": "api_tokens",
    "image_pull_secrets": "image_pull_secrets",
    "log": "log",
    "metrics": "metrics",
    "routing_policy": "routing_policy",
    "ingress_enabled": "ingress_enabled",
    "ingress_timeout_seconds": "ingress_timeout_seconds",
    "allow_unauthenticated_access": "allow_unauthenticated_access",
    "access_config": "auth_config",
    "load_balancing": "load_balance_config",
}
_STATES = {"Not Ready": "NotReady"}
COMPONENT_NAME = "default"


def legacy_spec(spec: Any) -> dict[str, Any]:
    """An HTTPEndpoint ``spec`` as a legacy deployment spec (the first, or frontend, component)."""
    if not isinstance(spec, dict):
        raise ApiError(400, "spec must be an object")
    components = spec.get("components")
    if not isinstance(components, list) or not components or not all(isinstance(c, dict) for c in components):
        raise ApiError(400, "spec.components must be a non-empty list of components")
    if len(components) > 1:
        raise ApiError(400, "this workspace serves single-component endpoints only")
    component = components[0]
    out: dict[str, Any] = {}
    for key, value in component.items():
        if key in ("name", "frontend") or value is None:
            continue
        if key not in _COMPONENT_FIELDS:
            raise ApiError(400, f"spec.components[0].{key}: unknown field")
        section, legacy_key = _COMPONENT_FIELDS[key]
        target = out.setdefault(section, {}) if section else out
        target[legacy_key] = copy.deepcopy(value)
    for key, value in spec.items():
        if key == "components" or value is None:
            continue
        if key not in _ENDPOINT_FIELDS:
            raise ApiError(400, f"spec.{key}: unknown field")
        out[_ENDPOINT_FIELDS[key]] = copy.deepcopy(value)
    return out


def http_spec(legacy: dict[str, Any]) -> dict[str, Any]:
    """A legacy deployment spec as an HTTPEndpoint ``spec``."""
    component: dict[str, Any] = {"name": COMPONENT_NAME}
    for key, (section, legacy_key) in _COMPONENT_FIELDS.items():
        source = legacy.get(section) if section else legacy
        if isinstance(source, dict) and source.get(legacy_key) is not None:
            component[key] = copy.deepcopy(source[legacy_key])
    spec: dict[str, Any] = {"components": [component]}
    for key, legacy_key in _ENDPOINT_FIELDS.items():
        if legacy.get(legacy_key) is not None:
            spec[key] = copy.deepcopy(legacy[legacy_key])
    return spec


def create_body(body: Any) -> dict[str, Any]:
    """A ``POST /endpoints`` body as the legacy ``{metadata, spec}`` a deployment create takes."""
    if not isinstance(body, dict):
        raise ApiError(400, "the endpoint must be a JSON object")
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise ApiError(400, "metadata must be an object")
    if metadata.get("labels"):
        raise ApiError(400, "metadata.labels is not part of the endpoint API")
    name = metadata.get("name")
    legacy_metadata = {"name": name, "id": name}
    return {"metadata": legacy_metadata, "spec": legacy_spec(body.get("spec"))}


def endpoint_json(deployment: dict[str, Any], deleting: bool) -> dict[str, Any]:
    """A deployment (as ``GET /deployments/{name}`` gives it) in the HTTPEndpoint form."""
    metadata = deployment.get("metadata") or {}
    status = deployment.get("status") or {}
    out_metadata: dict[str, Any] = {
        "name": metadata.get("name"),
        "created_at": metadata.get("created_at"),
        "version": metadata.get("version"),
        "lepton_metadata": {
            key: metadata[key]
            for key in ("owner", "created_by", "last_modified_at", "visibility")
            if metadata.get(key) is not None
        },
    }
    if deleting:
        out_metadata["deleted_at"] = metadata.get("last_modified_at") or 1
    state = status.get("phase") or status.get("state") or ""
    out_status: dict[str, Any] = {
        "state": _STATES.get(state, state),
        "external_url": (status.get("endpoint") or {}).get("external_endpoint", ""),
    }
    ready = (status.get("autoscaler_status") or {}).get("desired_replicas")
    if state == "Ready" and ready:
        out_status["ready_replicas"] = ready
    return {"metadata": out_metadata, "spec": http_spec(deployment.get("spec") or {}), "status": out_status}


def merged_spec(current: dict[str, Any], patch: Any) -> dict[str, Any]:
    """The legacy spec after an HTTPEndpoint merge patch: ``spec.components`` replaces the list,
    every other field merges (null deletes)."""
    if not isinstance(patch, dict):
        raise ApiError(400, "the patch must be a JSON object")
    if (patch.get("metadata") or {}).get("labels"):
        raise ApiError(400, "metadata.labels is not part of the endpoint API")
    changes = patch.get("spec") or {}
    if not isinstance(changes, dict):
        raise ApiError(400, "spec must be an object")
    http = http_spec(current)
    for key, value in changes.items():
        if value is None:
            http.pop(key, None)
        elif key == "components" or not isinstance(value, dict) or not isinstance(http.get(key), dict):
            http[key] = copy.deepcopy(value)
        else:
            http[key] = {**http[key], **copy.deepcopy(value)}
    return legacy_spec(http)
