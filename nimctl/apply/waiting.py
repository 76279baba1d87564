"""Waiting for endpoints to serve and for jobs to finish.

Polling runs in the main thread (so Ctrl-C and SIGTERM interrupt it at once), starts fast and
backs off to a cap; ``NIMCTL_POLL_INTERVAL`` fixes the interval. Each round costs one listing
call per provider, however many endpoints or jobs are waited on.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from nimctl.common.errors import NimctlError
from nimctl.providers.base import EndpointInfo, JobInfo, NotFound, Provider, ResourceState, Transient
from nimctl.stack.resources import DesiredEndpoint


class ReadinessError(NimctlError):
    """An endpoint failed, vanished or timed out while nimctl waited for it. ``report`` holds what
    the platform said about it (events, readiness issues, its last log lines) when it failed, for
    the caller to keep before the endpoint is cleaned up."""

    def __init__(self, message: str, *, hint: str | None = None, endpoint: str = "", report: str = "") -> None:
        super().__init__(message, hint=hint)
        self.endpoint = endpoint
        self.report = report


# How many of a failed endpoint's last log lines are shown (all go into the kept report).
SHOWN_LOG_LINES = 10
REPORT_LOG_LINES = 200


class Poller:
    """Intervals: 0.2 s growing by half each round up to ``cap`` (or a fixed override)."""

    def __init__(self, first: float = 0.2, cap: float = 5.0) -> None:
        fixed = os.environ.get("NIMCTL_POLL_INTERVAL")
        self.fixed = float(fixed) if fixed else None
        self.interval = first
        self.cap = cap

    def sleep(self) -> None:
        if self.fixed is not None:
            time.sleep(self.fixed)
            return
        time.sleep(self.interval)
        self.interval = min(self.cap, self.interval * 1.5)

    @property
    def current(self) -> float:
        return self.fixed if self.fixed is not None else self.interval


@dataclass
class ProbeResult:
    ok: bool
    detail: str
    skipped: bool = False


def probe_models(url: str, desired: DesiredEndpoint, timeout: float = 5.0) -> ProbeResult:
    """Stage two of readiness: the model server itself lists the served model."""
    headers = {"Accept": "application/json"}
    token = desired.probe_token
    if token is not None:
        value = token.literal or (os.environ.get(token.env_var) if token.env_var else None)
        if value is None:
            return ProbeResult(
                True,
                f"model probe skipped: set {token.env_var} to the endpoint token to let nimctl check /v1/models",
                skipped=True,
            )
        headers["Authorization"] = f"Bearer {value}"
    request = urllib.request.Request(url.rstrip("/") + desired.models_path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http(s) only)
            body = json.loads(response.read(1_000_000) or b"{}")
    except urllib.error.HTTPError as err:
        return ProbeResult(False, f"{desired.models_path} answered HTTP {err.code}")
    except (urllib.error.URLError, OSError, ValueError) as err:
        return ProbeResult(False, f"{desired.models_path} not reachable yet ({type(err).__name__})")
    ids = [m.get("id") for m in body.get("data", []) if isinstance(m, dict)] if isinstance(body, dict) else []
    if desired.served_model_name in ids:
        return ProbeResult(True, f"serves {desired.served_model_name}")
    return ProbeResult(False, f"{desired.models_path} lists {ids}, not {desired.served_model_name}")


def wait_endpoints_ready(
    waiting: dict[str, tuple[DesiredEndpoint, Provider]],
    on_update: Callable[[str, str, EndpointInfo | None], None],
) -> dict[str, EndpointInfo]:
    """Wait until every endpoint (by address) is Ready and serves its model. Returns the live info.

    Fails at once on a platform error state or a vanished endpoint, with the platform's latest
    events; fails on the endpoint's readiness timeout.
    """
    started = time.monotonic()
    poller = Poller()
    ready: dict[str, EndpointInfo] = {}
    probe_notes: dict[str, str] = {}
    while True:
        pending = {a: v for a, v in waiting.items() if a not in ready}
        if not pending:
            return ready
        for provider, addresses in _group_by_provider(pending).items():
            try:
                live = {e.name: e for e in provider.list_endpoints()}
            except Transient as err:
                # A read that failed after its retries says nothing about the endpoint: read
                # again until the run's own deadline (the readiness timeout), then give up
                # without a verdict (the caller deletes nothing it could not verify).
                deadline = max(pending[a][0].readiness_timeout_s for a in addresses)
                if time.monotonic() - started > deadline:
                    raise
                for address in addresses:
                    on_update(address, f"{provider.name} is not answering ({err.message}); reading again", None)
                continue
            for address in addresses:
                desired, _ = pending[address]
                info = live.get(desired.name)
                _check_endpoint(address, desired, provider, info)
                assert info is not None
                if info.state == ResourceState.READY and info.url:
                    probe = probe_models(info.url, desired)
                    if probe.ok:
                        ready[address] = info
                        on_update(address, "ready" + (f" ({probe.detail})" if probe.skipped else ""), info)
                        continue
                    probe_notes[address] = probe.detail
                    on_update(address, f"platform Ready; waiting for the model: {probe.detail}", info)
                else:
                    on_update(address, f"{info.platform_state}", info)
                waited = time.monotonic() - started
                if waited > desired.readiness_timeout_s:
                    extra = f"; last probe: {probe_notes[address]}" if address in probe_notes else ""
                    headline = (
                        f"endpoint {desired.name} was not ready after {desired.readiness_timeout_s:g} s "
                        f"(platform state {info.platform_state}{extra})"
                    )
                    # The cleanup deletes the endpoint, and its logs with it: what it said is kept
                    # in the failure report instead of pointing at `nimctl logs`.
                    setting = desired.readiness_timeout_key or "the endpoint's readiness timeout"
                    raise ReadinessError(
                        headline,
                        hint=f"if it only needs longer, raise {setting}; its events and last log lines, "
                        "kept in the file named below, show how far it got",
                        endpoint=desired.name,
                        report=_report(headline, _events(provider, desired.name), _last_logs(provider, desired.name)),
                    )
        if len(ready) < len(waiting):
            poller.sleep()


def _check_endpoint(address: str, desired: DesiredEndpoint, provider: Provider, info: EndpointInfo | None) -> None:
    if info is None or info.state == ResourceState.GONE:
        raise ReadinessError(
            f"endpoint {desired.name} disappeared while waiting for it to be ready" + _events(provider, desired.name),
            hint="someone deleted it, or the platform removed it; run `nimctl apply` again",
        )
    if info.state in (ResourceState.FAILED, ResourceState.STOPPED):
        events = _events(provider, desired.name)
        logs = _last_logs(provider, desired.name)
        shown = ("\n  last log lines:\n" + "\n".join(f"    {line}" for line in logs[-SHOWN_LOG_LINES:])) if logs else ""
        headline = f"endpoint {desired.name} is {info.platform_state} on {provider.name}"
        raise ReadinessError(
            headline + events + shown,
            hint="fix the cause shown above (image, shape, secrets), then `nimctl apply`",
            endpoint=desired.name,
            report=_report(headline, events, logs),
        )


def _report(headline: str, events: str, logs: list[str]) -> str:
    """The failure report of an endpoint: the headline, its events and all its log lines read."""
    lines = [headline, events.strip("\n") or "  (no events)", "  log lines:", *(f"    {line}" for line in logs)]
    return "\n".join(lines) + "\n"


def _events(provider: Provider, name: str) -> str:
    try:
        events = provider.endpoint_events(name, limit=5)
    except NotFound:
        return ""
    except NimctlError as err:
        return f"\n  (could not read its events: {err.message})"
    return ("\n  latest events:\n" + "\n".join(f"    {e}" for e in events)) if events else ""


def _last_logs(provider: Provider, name: str) -> list[str]:
    try:
        return provider.logs(endpoint=name, limit=REPORT_LOG_LINES)
    except NimctlError:
        return []  # the events already say why; logs are a bonus


def _group_by_provider(items: dict[str, tuple[DesiredEndpoint, Provider]]) -> dict[Provider, list[str]]:
    grouped: dict[Provider, list[str]] = {}
    for address, (_, provider) in sorted(items.items()):
        grouped.setdefault(provider, []).append(address)
    return grouped


def unreachable_timeout_s() -> float:
    """How long a job wait reads again through a platform that does not answer (after each
    read's own retries) before the run gives up, leaving everything as it is."""
    try:
        return float(os.environ.get(ENV_UNREACHABLE_TIMEOUT, DEFAULT_UNREACHABLE_TIMEOUT_S))
    except ValueError:
        return DEFAULT_UNREACHABLE_TIMEOUT_S


ENV_UNREACHABLE_TIMEOUT = "NIMCTL_UNREACHABLE_TIMEOUT"
DEFAULT_UNREACHABLE_TIMEOUT_S = 900.0


def poll_jobs(providers_and_ids: dict[Provider, set[str]]) -> dict[str, JobInfo]:
    """One listing per provider; returns the jobs asked for by id (missing ones are absent)."""
    found: dict[str, JobInfo] = {}
    for provider, ids in providers_and_ids.items():
        for job in provider.list_jobs():
            if job.id in ids:
                found[job.id] = job
    return found
