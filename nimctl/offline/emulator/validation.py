"""Server-side validation of posted specs, with the SDK's own pydantic models and validators.

The emulator accepts exactly what the ``leptonai`` models accept (plus the few server rules
the SDK documents), normalises it the way the SDK serialises it (``exclude_none``,
``by_alias``), and turns every rejection into a :class:`Invalid` with a readable message.
"""

from __future__ import annotations

import re
from typing import Any

from leptonai.api.v2.job_validation import validate_job_create, validate_mount_path
from leptonai.api.v2.spec_utils import validate_environment_variable_name
from leptonai.api.v2.types.deployment import LeptonDeploymentUserSpec
from leptonai.api.v2.types.job import LeptonJob, LeptonJobUserSpec
from leptonai.api.v2.types.secret import SecretItem
from pydantic import ValidationError

from nimctl.config.rules import MAX_NAME_LENGTH, NAME_PATTERN
from nimctl.offline.emulator.errors import Invalid

SECRET_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9._-]*$")


def _describe(error: Exception) -> str:
    if isinstance(error, ValidationError):
        parts = []
        for item in error.errors(include_url=False, include_input=False):
            location = ".".join(str(p) for p in item.get("loc", ())) or "<root>"
            parts.append(f"{location}: {item.get('msg', 'invalid')}")
        return "; ".join(parts)
    return str(error) or type(error).__name__


def _dump(model: Any) -> dict[str, Any]:
    return model.model_dump(exclude_none=True, by_alias=True, mode="json")


def endpoint_name_problem(name: Any) -> str | None:
    # Endpoint names follow the job rules (the SDK has none of its own for endpoints): Lepton's
    # name rule, the one nimctl's own checks apply (nimctl.config.rules).
    if not isinstance(name, str) or not name:
        return "metadata.name is required"
    if len(name) > MAX_NAME_LENGTH:
        return f"endpoint name {name!r} is longer than {MAX_NAME_LENGTH} characters"
    if not NAME_PATTERN.fullmatch(name) or name.endswith("-"):
        return (
            f"endpoint name {name!r} must start with a lowercase letter, contain only lowercase "
            "letters, digits and '-', and not end with '-'"
        )
    return None


def _check_envs(envs: list[dict[str, Any]], where: str) -> None:
    for index, env in enumerate(envs):
        try:
            validate_environment_variable_name(env.get("name", ""))
        except ValueError as error:
            raise Invalid(f"{where}.envs[{index}]: {error}") from None
        if env.get("value") is not None and env.get("value_from") is not None:
            raise Invalid(f"{where}.envs[{index}] ({env['name']}): set either value or value_from, not both")


def _check_mounts(mounts: list[dict[str, Any]], where: str) -> None:
    for index, mount in enumerate(mounts):
        try:
            validate_mount_path(mount.get("mount_path"))
        except ValueError as error:
            raise Invalid(f"{where}.mounts[{index}]: {error}") from None


def validate_deployment_spec(spec: Any) -> dict[str, Any]:
    """A deployment's ``spec`` as the server stores it, or :class:`Invalid`."""
    if not isinstance(spec, dict):
        raise Invalid("spec must be an object")
    try:
        model = LeptonDeploymentUserSpec(**spec)
    except Exception as error:  # the SDK's validators also raise bare TypeErrors
        raise Invalid(f"invalid deployment spec: {_describe(error)}") from None
    data = _dump(model)
    if data.get("is_pod"):
        return data
    if not (data.get("container") or {}).get("image"):
        raise Invalid("spec.container.image is required")
    requirement = data.get("resource_requirement") or {}
    low, high = requirement.get("min_replicas"), requirement.get("max_replicas")
    if low is not None and high is not None and low > high:
        raise Invalid(f"min_replicas ({low}) must not exceed max_replicas ({high})")
    if data.get("allow_unauthenticated_access") and data.get("api_tokens"):
        raise Invalid("allow_unauthenticated_access=true cannot be combined with api_tokens")
    for index, token in enumerate(data.get("api_tokens") or []):
        if not token.get("value") and not (token.get("value_from") or {}).get("token_name_ref"):
            raise Invalid(f"spec.api_tokens[{index}] needs a value or value_from.token_name_ref")
        if token.get("value") == "***":
            raise Invalid(f"spec.api_tokens[{index}]: '***' is a redaction placeholder, not a token")
    _check_envs(data.get("envs") or [], "spec")
    _check_mounts(data.get("mounts") or [], "spec")
    return data


def with_server_defaults(spec: dict[str, Any]) -> dict[str, Any]:
    """Fill what the server fills when a create leaves it out (replica counts, shape)."""
    requirement = spec.setdefault("resource_requirement", {})
    requirement.setdefault("resource_shape", "cpu.small")
    requirement.setdefault("min_replicas", 1)
    requirement.setdefault("max_replicas", max(1, requirement["min_replicas"]))
    return spec


def validate_job(body: Any) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(name, metadata, spec) of a posted job, or :class:`Invalid`."""
    if not isinstance(body, dict):
        raise Invalid("the job must be a JSON object")
    try:
        job = LeptonJob(**body)
    except Exception as error:
        raise Invalid(f"invalid job: {_describe(error)}") from None
    try:
        validate_job_create(job)
    except ValueError as error:
        raise Invalid(str(error)) from None
    spec = _dump(job.spec)
    if not (spec.get("container") or {}).get("image"):
        raise Invalid("spec.container.image is required")
    _check_envs(spec.get("envs") or [], "spec")
    metadata = _dump(job.metadata)
    name = job.metadata.name or job.metadata.id_ or ""
    return name, metadata, spec


def validate_job_spec(spec: Any) -> dict[str, Any]:
    """A job ``spec`` after a merge patch, or :class:`Invalid`."""
    if not isinstance(spec, dict):
        raise Invalid("spec must be an object")
    try:
        return _dump(LeptonJobUserSpec(**spec))
    except Exception as error:
        raise Invalid(f"invalid job spec: {_describe(error)}") from None


def validate_secrets(body: Any) -> list[dict[str, Any]]:
    """The secrets of a ``POST /usersecrets`` body (a JSON array), or :class:`Invalid`."""
    if not isinstance(body, list):
        raise Invalid("the body must be a JSON array of secrets")
    items = []
    for index, raw in enumerate(body):
        if not isinstance(raw, dict):
            raise Invalid(f"secret {index} must be an object")
        try:
            item = SecretItem(**raw)
        except Exception as error:
            raise Invalid(f"secret {index}: {_describe(error)}") from None
        if not SECRET_NAME_PATTERN.fullmatch(item.name):
            raise Invalid(f"secret name {item.name!r} is not a valid name")
        if item.name.lower().startswith("lepton_"):
            raise Invalid(f"secret name {item.name!r} is reserved: names starting with LEPTON_ are for system use")
        if item.value is None:
            raise Invalid(f"secret {item.name!r} has no value")
        items.append(_dump(item))
    return items
