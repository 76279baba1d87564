"""Between nimctl's Lepton specs and the SDK's models.

Takes the plain spec dicts the stack builds (``nimctl.stack.specs``) and gives the SDK models to
send (``deployment_model``, ``job_model``; a spec the SDK refuses is ``Rejected`` before any
request), with ``host:VAR`` values filled in from nimctl's environment (``with_host_values``).
Takes the SDK models Lepton answers with and gives ``EndpointInfo`` / ``JobInfo`` (``endpoint_info``,
``job_info``), their spec as a plain dict (``dump``) and event lines. ``spec_matches`` says whether
a live object is the one that was sent (for adopting it after an ambiguous create).

The SDK's models are imported inside ``deployment_model`` and ``job_model`` only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from nimctl.common.envref import MissingHostVariables, resolve_host_markers
from nimctl.providers.base import EndpointInfo, JobInfo, Rejected
from nimctl.providers.lepton.failures import classify, secret_values
from nimctl.providers.sdk import prepare as prepare_sdk
from nimctl.providers.states import endpoint_state, job_state
from nimctl.stack import ownership

if TYPE_CHECKING:  # pragma: no cover - typing only; the SDK is imported lazily
    from leptonai.api.v2.types.deployment import LeptonDeployment
    from leptonai.api.v2.types.job import LeptonJob

T = TypeVar("T")

# The platform state of an endpoint or job that is being deleted.
DELETING = "Deleting"


# -- spec -> SDK model -----------------------------------------------------------------------------


def with_host_values(spec: dict[str, Any], what: str) -> tuple[dict[str, Any], list[str]]:
    """The spec as sent: host:VAR values read from nimctl's environment now (they are in no
    stored spec), and those values, to scrub from every message."""
    try:
        return resolve_host_markers(spec)
    except MissingHostVariables as exc:
        raise Rejected(
            f"cannot send {what}: {exc}",
            resource=what,
            hint="export the variable(s) in the shell that runs nimctl, or change the host: value in the config",
        ) from None


def build(fn: Callable[[], T], *, what: str, spec: dict[str, Any]) -> T:
    """Build an SDK model from our spec; a spec the SDK refuses is Rejected before any request."""
    try:
        return fn()
    except TypeError as exc:
        requirement = spec.get("resource_requirement") if isinstance(spec, dict) else None
        if isinstance(requirement, dict) and requirement.get("min_replicas") is None:
            # SDK quirk: max_replicas without min_replicas fails with a raw TypeError.
            raise Rejected(
                f"the spec of {what} is invalid: resource_requirement needs both min_replicas and max_replicas",
                resource=what,
                hint="set deployment.lepton_config.min_replicas and max_replicas",
            ) from None
        raise Rejected(
            f"the spec of {what} is invalid: {type(exc).__name__}",
            resource=what,
            hint="the spec must be a mapping of Lepton spec fields; run `nimctl validate`",
        ) from None
    except ValueError as exc:  # includes pydantic's ValidationError
        failure = classify(exc, secret_values(spec))
        raise Rejected(
            f"the spec of {what} is invalid: {failure.detail}",
            resource=what,
            hint="fix it in your config and run `nimctl validate`",
        ) from None


def deployment_model(name: str, spec: dict[str, Any]) -> LeptonDeployment:
    prepare_sdk()
    from leptonai.api.v2.types.common import Metadata
    from leptonai.api.v2.types.deployment import LeptonDeployment, LeptonDeploymentUserSpec

    return build(
        lambda: LeptonDeployment(metadata=Metadata(id=name, name=name), spec=LeptonDeploymentUserSpec(**spec)),
        what=f"endpoint {name}",
        spec=spec,
    )


def job_model(name: str, spec: dict[str, Any]) -> LeptonJob:
    prepare_sdk()
    from leptonai.api.v2.types.common import Metadata
    from leptonai.api.v2.types.job import LeptonJob, LeptonJobUserSpec

    # metadata.id carries the name as `lep job create` sends it; the server assigns the id.
    # Jobs take labels on both endpoint API families: the ownership marker goes there too, so
    # a listing can select a state's jobs (`nimctl-lineage=<lineage>`).
    marker = ownership.read(spec)
    labels = marker.labels() if marker else {}
    return build(
        lambda: LeptonJob(metadata=Metadata(id=name, name=name, labels=labels or None), spec=LeptonJobUserSpec(**spec)),
        what=f"job {name}",
        spec=spec,
    )


# -- SDK model -> nimctl ---------------------------------------------------------------------------


def dump(model: Any) -> dict[str, Any]:
    return model.model_dump(exclude_none=True, by_alias=True, mode="json") if model is not None else {}


def state_word(value: Any) -> str | None:
    return getattr(value, "value", value)


def _ms_to_s(value: Any) -> float | None:
    """Epoch seconds from a platform timestamp: Lepton uses ms in metadata; other fields' units
    are undocumented, so the magnitude decides (s, ms, us or ns)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return None
    for scale in (1e18, 1e15, 1e12):
        if value >= scale / 10:
            return value / (scale / 1e9)
    return float(value)


def endpoint_info(dep: LeptonDeployment) -> EndpointInfo:
    meta, status = dep.metadata, dep.status
    name = (meta.name or meta.id_ or "") if meta else ""
    phase = state_word(status.phase) if status else None
    word = state_word(status.state) if status else None
    endpoint = status.endpoint if status else None
    autoscaler = status.autoscaler_status if status else None
    return EndpointInfo(
        name=name,
        state=endpoint_state(word, phase),
        platform_state=word or "",
        url=(endpoint.external_endpoint or None) if endpoint else None,
        spec=dump(dep.spec),
        ready_replicas=status.ready_replicas if status else None,
        created_at=_ms_to_s(meta.created_at) if meta else None,
        extra={
            "id": meta.id_ if meta else None,
            "phase": phase,
            "internal_url": endpoint.internal_endpoint if endpoint else None,
            "desired_replicas": autoscaler.desired_replicas if autoscaler else None,
        },
    )


def _job_created_s(job: LeptonJob) -> float | None:
    created = _ms_to_s(job.metadata.created_at)
    if created is None and job.status is not None:
        created = _ms_to_s(job.status.creation_time)
    return created


def job_info(job: LeptonJob) -> JobInfo:
    meta, status = job.metadata, job.status
    word = state_word(status.state) if status and status.state is not None else None
    spec = dump(job.spec)
    return JobInfo(
        id=meta.id_ or "",
        name=meta.name or (status.job_name if status else None) or meta.id_ or "",
        state=job_state(
            word,
            succeeded=status.succeeded if status else None,
            failed=status.failed if status else None,
            completions=spec.get("completions"),
        ),
        platform_state=word or "",
        spec=spec,
        created_at=_job_created_s(job),
        finished_at=_ms_to_s(status.completion_time) if status else None,
        extra={
            **({k: getattr(status, k) for k in ("ready", "active", "failed", "succeeded")} if status else {}),
            "labels": dict(meta.labels or {}),
        },
    )


def event_line(event: Any) -> str:
    when = event.last_observed_time.strftime("%Y-%m-%d %H:%M:%S")
    times = f" (x{event.count})" if event.count and event.count > 1 else ""
    regarding = (event.regarding or {}).get("name") if isinstance(event.regarding, dict) else None
    about = f" [{regarding}]" if regarding else ""
    return f"{when} {event.type_} {event.reason}{times}{about}"


# -- comparison ------------------------------------------------------------------------------------

REDACTED = "***"


def spec_matches(sent: Any, live: Any, *, path: str = "") -> bool:
    """Whether the live object carries everything we sent (server-populated extras ignored).

    Dicts: every key we sent must match. Lists: same length, items matched in any order.
    A token value the server shows as ``***`` cannot be compared and is accepted; a token list
    the server does not echo at all is skipped (write-only on some servers).
    """
    if isinstance(sent, dict):
        if not isinstance(live, dict):
            return False
        for key, value in sent.items():
            sub = f"{path}.{key}" if path else key
            if key not in live:
                if sub in ("api_tokens", "allow_unauthenticated_access") or value in (None, [], {}):
                    continue
                return False
            if not spec_matches(value, live[key], path=sub):
                return False
        return True
    if isinstance(sent, list):
        if not isinstance(live, list) or len(sent) != len(live):
            return False
        unused = list(live)
        for item in sent:
            match = next((i for i, cand in enumerate(unused) if spec_matches(item, cand, path=path)), None)
            if match is None:
                return False
            unused.pop(match)
        return True
    if path.startswith("api_tokens") and live == REDACTED:
        return True
    return sent == live
