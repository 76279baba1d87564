"""Lepton SDK failures, classified and named.

Takes any exception an SDK call raised (the SDK's own, ``requests``', pydantic's) and the literal
secret values of the spec involved. Gives a ``Failure``: its kind (transient, not found,
conflict, rejected, unauthorized, unexpected), whether the request may have taken effect
(``ambiguous``), the server's Retry-After, and a short detail with every secret value scrubbed
out. ``LeptonClient._error`` turns a ``Failure`` into the typed ``ProviderError`` the user sees.

The SDK, ``requests`` and pydantic are imported by ``classify`` only, when a call has failed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from nimctl.common.secrets import SECRET_ENV_NAME

LOGIN_HINT = (
    "log in with `lep login -c <workspace_id>:<token>`, or export LEPTON_WORKSPACE_ID and "
    "LEPTON_WORKSPACE_TOKEN (plus LEPTON_WORKSPACE_URL for a non-default gateway); to "
    "rehearse offline, run `nimctl emulator serve` and export the lines it prints"
)
RETRY_HINT = (
    "Lepton is unavailable or rate-limiting; re-run later (nimctl picks up where it "
    "stopped), or allow more time with NIMCTL_RETRY_MAX_ATTEMPTS / NIMCTL_RETRY_MAX_SECONDS"
)


@dataclass(frozen=True)
class Failure:
    """One failed SDK call, classified."""

    kind: str  # "transient" | "not_found" | "conflict" | "rejected" | "unauthorized" | "unexpected"
    detail: str
    status: int | None = None
    retry_after: float | None = None
    ambiguous: bool = False  # the request may have taken effect on the server


def scrub(text: str, secrets: Iterable[str]) -> str:
    for value in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(value, "***")
    return text


def short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _response_detail(response: Any) -> str:
    """The server's own explanation from an error response, if it gave one."""
    text = getattr(response, "text", "") or ""
    try:
        body = json.loads(text)
    except ValueError:
        return text
    if isinstance(body, dict):
        for key in ("message", "detail", "error", "reason"):
            if body.get(key):
                value = body[key]
                return value if isinstance(value, str) else json.dumps(value)
    return text


def _retry_after(response: Any) -> float | None:
    headers = getattr(response, "headers", None) or {}
    raw = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        value = float(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None  # an HTTP-date form: fall back to our own backoff
    return value if value is not None and value > 0 else None


def _by_status(status: int, detail: str, response: Any = None) -> Failure:
    if status in (401, 403):
        return Failure("unauthorized", detail, status)
    if status == 404:
        return Failure("not_found", detail, status)
    if status == 409:
        return Failure("conflict", detail, status)
    if status in (408, 425, 429):  # the server did not act on the request
        return Failure("transient", detail, status, _retry_after(response))
    if status == 501:
        return Failure("rejected", detail, status)
    if status >= 500:  # the server may or may not have acted before failing
        return Failure("transient", detail, status, _retry_after(response), ambiguous=True)
    return Failure("rejected", detail, status)


def _validation_detail(exc: Any) -> str:
    """A pydantic ValidationError without the offending input (it may hold secrets)."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in err.get("loc", ())) or "spec"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def classify(exc: BaseException, secrets: Iterable[str] = ()) -> Failure:
    import requests
    from leptonai.api.v2.api_resource import ClientError, ServerError
    from leptonai.api.v2.log import LogAPIError
    from leptonai.api.v2.utils import (
        WorkspaceConfigurationError,
        WorkspaceForbiddenError,
        WorkspaceNotFoundError,
        WorkspaceUnauthorizedError,
    )
    from pydantic import ValidationError

    secrets = list(secrets)
    if isinstance(exc, (WorkspaceUnauthorizedError, WorkspaceForbiddenError)):
        return Failure(
            "unauthorized",
            "the workspace refused the credentials",
            401 if isinstance(exc, WorkspaceUnauthorizedError) else 403,
        )
    if isinstance(exc, WorkspaceNotFoundError):
        return Failure("unauthorized", "the workspace does not exist at this URL", 404)
    if isinstance(exc, WorkspaceConfigurationError):
        return Failure("unauthorized", "no Lepton workspace is configured")
    if isinstance(exc, (ClientError, ServerError)):
        status = exc.response.status_code
        return _by_status(status, short(scrub(_response_detail(exc.response), secrets)), exc.response)
    if isinstance(exc, LogAPIError):
        failure = _by_status(exc.status_code, short(scrub(str(exc), secrets)))
        if failure.kind == "transient" and exc.retry_after:
            return Failure("transient", failure.detail, failure.status, exc.retry_after, failure.ambiguous)
        return failure
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return Failure("transient", f"connection timed out ({type(exc).__name__})")
    if isinstance(exc, requests.exceptions.RequestException):
        # Connection reset, read timeout, broken chunked body: the request may have been sent.
        return Failure("transient", f"network error ({type(exc).__name__})", ambiguous=True)
    if isinstance(exc, ValidationError):
        return Failure("rejected", scrub(_validation_detail(exc), secrets))
    if isinstance(exc, ValueError):  # the SDK's client-side checks (names, env vars, tokens)
        return Failure("rejected", short(scrub(str(exc), secrets)))
    if isinstance(exc, RuntimeError):
        # The SDK raises bare RuntimeErrors for 2xx bodies it cannot decode ("programming error",
        # "create succeeded but ... could not be decoded"): something went wrong in transit.
        return Failure("transient", "Lepton sent a response that could not be decoded", ambiguous=True)
    return Failure("unexpected", short(scrub(f"{type(exc).__name__}: {exc}", secrets)))


def secret_values(spec: dict[str, Any]) -> list[str]:
    """Literal secret values in a spec, to be scrubbed from any message."""
    values = [t.get("value") for t in spec.get("api_tokens") or [] if isinstance(t, dict)]
    values += [
        e.get("value")
        for e in spec.get("envs") or []
        if isinstance(e, dict) and SECRET_ENV_NAME.search(str(e.get("name", "")))
    ]
    return [v for v in values if isinstance(v, str)]
