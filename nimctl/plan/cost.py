"""What a plan's endpoints cost: GPU-hours always, dollars when a price table is configured.

Takes a ``Plan`` (its endpoint changes and desired resources) and an optional
``nimctl.config.prices.PriceTable``; gives a ``CostReport`` — per endpoint the running cost at
min and max replicas, the change against what runs now, and the **worst case if nimctl dies right
after creating it**: the endpoint keeps serving its jobs until the longest job's time limit, then
scales to zero once it has had no traffic for its scale-down timeout, so it costs at most

    max_replicas × (longest job limit + no-traffic timeout)   (at least the not-ready timeout)

replica-hours, capped by ``max_lifetime`` when set. A zero timeout or a job without a time limit
makes it unbounded, and the report says which. Also the warnings for gaps longer than the
timeout: Lepton does not scale an endpoint up from zero.

No price is invented: without a table the report has GPU-hours and says how to add prices.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from nimctl.common.durations import format_duration
from nimctl.plan.actions import Action

_GPU_COUNT = re.compile(r"^gpu\.(\d+)x", re.IGNORECASE)
# A job reaches its endpoint only after it is queued, its image pulled and its harness started.
JOB_START_ALLOWANCE_S = 900
JOB_TIMEOUT_ENV = "NIMCTL_TASK_TIMEOUT_S"


def gpus_per_replica(shape: str | None) -> int:
    """GPUs of one replica of a Lepton shape: ``gpu.8xh200`` → 8, ``gpu.a10`` → 1, ``cpu.small`` → 0."""
    text = str(shape or "").strip().lower()
    if not text.startswith("gpu."):
        return 0
    match = _GPU_COUNT.match(text)
    return int(match.group(1)) if match else 1


def job_time_limit_s(job: Any) -> float | None:
    """A desired job's time limit in seconds (None: it has none). Read from the job's own field
    when it carries one, else from the limit its spec hands the task wrapper."""
    for attr in ("time_limit_s", "timeout_s"):
        value = getattr(job, attr, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return float(value)
    template = getattr(job, "spec_template", None) or {}
    for env in template.get("envs") or []:
        if env.get("name") == JOB_TIMEOUT_ENV:
            try:
                return float(env.get("value"))
            except (TypeError, ValueError):
                return None
    env_map = template.get("env") or {}
    if isinstance(env_map, dict) and env_map.get(JOB_TIMEOUT_ENV):
        try:
            return float(env_map[JOB_TIMEOUT_ENV])
        except (TypeError, ValueError):
            return None
    return None


@dataclass
class EndpointCost:
    address: str
    action: Action
    resource_shape: str
    gpus_per_replica: int
    min_replicas: int
    max_replicas: int
    price_per_replica_hour: float | None
    now_replicas: int  # replicas serving now (as last reported; else the current spec's minimum)
    now_per_replica_hour: float | None
    no_traffic_timeout_s: float | None
    not_ready_timeout_s: float | None
    longest_job_limit_s: float | None
    jobs: int
    max_lifetime_s: float | None
    worst_case_hours: float | None  # None: unbounded
    unbounded_reason: str | None = None
    lifetime_note: str | None = None  # what enforces max_lifetime, and what it needs
    warnings: list[str] = field(default_factory=list)

    def _usd(self, replicas: float, hours: float = 1.0) -> float | None:
        if self.price_per_replica_hour is None:
            return None
        return round(self.price_per_replica_hour * replicas * hours, 2)

    @property
    def per_hour_min(self) -> float | None:
        return self._usd(self.min_replicas)

    @property
    def per_hour_max(self) -> float | None:
        return self._usd(self.max_replicas)

    @property
    def per_hour_now(self) -> float | None:
        if self.now_per_replica_hour is None:
            return None if self.now_replicas else 0.0
        return round(self.now_per_replica_hour * self.now_replicas, 2)

    @property
    def change_per_hour(self) -> float | None:
        after = 0.0 if self.action is Action.DELETE else self.per_hour_min
        now = self.per_hour_now
        return None if after is None or now is None else round(after - now, 2)

    @property
    def worst_case_gpu_hours(self) -> float | None:
        if self.worst_case_hours is None:
            return None
        return round(self.max_replicas * self.gpus_per_replica * self.worst_case_hours, 2)

    @property
    def worst_case_usd(self) -> float | None:
        return None if self.worst_case_hours is None else self._usd(self.max_replicas, self.worst_case_hours)

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "action": self.action,
            "resource_shape": self.resource_shape,
            "gpus_per_replica": self.gpus_per_replica,
            "min_replicas": self.min_replicas,
            "max_replicas": self.max_replicas,
            "usd_per_replica_hour": self.price_per_replica_hour,
            "usd_per_hour": {
                "at_min_replicas": self.per_hour_min,
                "at_max_replicas": self.per_hour_max,
                "now": self.per_hour_now,
                "change": self.change_per_hour,
            },
            "scale_down": {
                "no_traffic_timeout_s": self.no_traffic_timeout_s,
                "not_ready_timeout_s": self.not_ready_timeout_s,
            },
            "longest_job_limit_s": self.longest_job_limit_s,
            "jobs": self.jobs,
            "max_lifetime_s": self.max_lifetime_s,
            "worst_case": {
                "bounded": self.worst_case_hours is not None,
                "hours": self.worst_case_hours,
                "gpu_hours": self.worst_case_gpu_hours,
                "usd": self.worst_case_usd,
                "unbounded_reason": self.unbounded_reason,
            },
            "warnings": list(self.warnings),
        }


@dataclass
class CostReport:
    endpoints: list[EndpointCost]
    prices: Any = None  # PriceTable | None

    @property
    def totals(self) -> dict[str, Any]:
        live = [e for e in self.endpoints if e.action is not Action.DELETE]
        priced = self.prices is not None and all(e.price_per_replica_hour is not None for e in live)
        bounded = all(e.worst_case_hours is not None for e in live)

        def total(values: list[float | None]) -> float | None:
            return None if any(v is None for v in values) else round(sum(v or 0.0 for v in values), 2)

        return {
            "usd_per_hour_at_min_replicas": total([e.per_hour_min for e in live]) if priced else None,
            "usd_per_hour_at_max_replicas": total([e.per_hour_max for e in live]) if priced else None,
            "usd_per_hour_change": total([e.change_per_hour for e in self.endpoints]) if priced else None,
            "worst_case_gpu_hours": total([e.worst_case_gpu_hours for e in live]) if bounded else None,
            "worst_case_usd": total([e.worst_case_usd for e in live]) if priced and bounded else None,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "currency": "USD",
            "prices": self.prices.to_dict() if self.prices is not None else None,
            "how_to_add_prices": None if self.prices is not None else _how_to_add(),
            "endpoints": [e.to_dict() for e in self.endpoints],
            "total": self.totals,
        }


def _how_to_add() -> str:
    from nimctl.config.prices import HOW_TO_ADD

    return HOW_TO_ADD


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _requirement(spec: dict[str, Any]) -> tuple[str, int, int]:
    req = spec.get("resource_requirement") or {}
    low = req.get("min_replicas")
    high = req.get("max_replicas")
    low = int(low) if isinstance(low, int) else 1
    high = int(high) if isinstance(high, int) else max(low, 1)
    return str(req.get("resource_shape") or ""), low, high


def estimate(plan: Any, stacks: Any, prices: Any = None, *, no_wait: bool = False) -> CostReport:
    """The cost report of ``plan``'s Lepton endpoints (local endpoints run on this machine).
    ``stacks`` give every endpoint's jobs, also those a ``--target`` left out of the plan."""
    jobs_by_endpoint: dict[str, list[Any]] = {}
    for stack in stacks:
        for job in stack.jobs:
            if job.endpoint:
                jobs_by_endpoint.setdefault(job.endpoint, []).append(job)
    planned_jobs = {c.address for c in plan.resource_changes if c.type == "job" and c.is_change}
    report = CostReport(endpoints=[], prices=prices)
    for change in plan.resource_changes:
        if change.type != "endpoint" or change.provider != "lepton":
            continue
        desired = plan.desired.get(change.address)
        before = change.before or {}
        spec = desired.spec if desired is not None else (before.get("spec") or {})
        shape, low, high = _requirement(spec)
        now_replicas, now_price = 0, None
        if before and before.get("state") not in ("gone", "not found"):  # None: not refreshed, as recorded
            old_shape, old_low, _ = _requirement(before.get("spec") or {})
            ready = before.get("ready_replicas")
            now_replicas = ready if isinstance(ready, int) else old_low  # scaled to zero: 0
            now_price = prices.price(old_shape) if prices is not None else None
        scale_down = (spec.get("auto_scaler") or {}).get("scale_down") or {}
        jobs = jobs_by_endpoint.get(change.name or "", [])
        limits = [job_time_limit_s(j) for j in jobs]
        cost = EndpointCost(
            address=change.address,
            action=Action.NOOP if change.action is Action.SHARE else change.action,  # a shared one is its owner's cost
            resource_shape=shape,
            gpus_per_replica=gpus_per_replica(shape),
            min_replicas=low,
            max_replicas=high,
            price_per_replica_hour=prices.price(shape) if prices is not None else None,
            now_replicas=now_replicas,
            now_per_replica_hour=now_price,
            no_traffic_timeout_s=_number(scale_down.get("no_traffic_timeout")),
            not_ready_timeout_s=_number(scale_down.get("not_ready_timeout")),
            longest_job_limit_s=None if None in limits else max(limits or [0.0]),  # type: ignore[type-var]
            jobs=len(jobs),
            max_lifetime_s=getattr(desired, "max_lifetime_s", None) if desired is not None else None,
            worst_case_hours=None,
        )
        _worst_case(cost, [j.address for j, limit in zip(jobs, limits, strict=True) if limit is None])
        cost.lifetime_note = _lifetime_note(desired)
        _gap_warnings(cost, change, jobs, planned_jobs, no_wait=no_wait)
        report.endpoints.append(cost)
    return report


def _worst_case(cost: EndpointCost, unlimited_jobs: list[str]) -> None:
    idle = cost.no_traffic_timeout_s
    reason = None
    if not idle:
        reason = "no scale-down timeout (auto_scaler.scale_down.no_traffic_timeout is 0)"
    elif unlimited_jobs:
        reason = f"{', '.join(unlimited_jobs)} {'has' if len(unlimited_jobs) == 1 else 'have'} no time limit"
    if reason is None:
        seconds = max((cost.longest_job_limit_s or 0.0) + (idle or 0.0), cost.not_ready_timeout_s or 0.0)
    else:
        seconds = None
    if cost.max_lifetime_s:
        seconds = min(seconds, cost.max_lifetime_s) if seconds is not None else cost.max_lifetime_s
    if seconds is None:
        cost.unbounded_reason = reason
    cost.worst_case_hours = None if seconds is None else round(seconds / 3600.0, 4)


def _lifetime_note(desired: Any) -> str | None:
    if desired is None or not getattr(desired, "max_lifetime_s", None) or not desired.lifetime_job:
        return None
    from nimctl.stack.lifetime import ENV_TOKEN, lifetime_job_name

    secret = next(
        (
            (e.get("value_from") or {}).get("secret_name_ref")
            for e in desired.lifetime_job.get("envs") or []
            if e.get("name") == ENV_TOKEN
        ),
        None,
    )
    return (
        f"max_lifetime {format_duration(desired.max_lifetime_s)}: job {lifetime_job_name(desired.name)} deletes it "
        f"{format_duration(desired.max_lifetime_s)} after the last apply (needs workspace secret {secret} "
        "holding a workspace token)"
    )


def _gap_warnings(cost: EndpointCost, change: Any, jobs: list[Any], planned: set[str], *, no_wait: bool) -> None:
    idle = cost.no_traffic_timeout_s
    if not idle or cost.action is Action.DELETE:
        return
    runs = [j for j in jobs if j.address in planned]
    timeout = format_duration(idle)
    if runs and idle < JOB_START_ALLOWANCE_S:
        cost.warnings.append(
            f"{cost.address} scales to zero after {timeout} without traffic, less than a job may need to "
            f"reach it (queueing, image pull: allow {format_duration(JOB_START_ALLOWANCE_S)}); Lepton does not "
            "scale up from zero, so raise auto_scaler.scale_down.no_traffic_timeout"
        )
    if change.is_change and jobs and not runs and len(jobs) > 0 and change.action.creates:
        cost.warnings.append(
            f"{cost.address} is deployed without its jobs in this run: if they start more than {timeout} after it "
            "is ready it will have scaled to zero, and Lepton does not scale up from zero"
        )
    if no_wait and runs:
        cost.warnings.append(
            f"with --no-wait nothing watches {cost.address}: {timeout} after its jobs' last request it scales to "
            "zero, and Lepton does not scale up from zero; run later stages within that time, or destroy it"
        )


# -- text --------------------------------------------------------------------------------------


def _usd(value: float | None) -> str:
    return "?" if value is None else f"${value:,.2f}"


def _replicas(count: int) -> str:
    return f"{count} replica{'s' if count != 1 else ''}"


def text_lines(report: CostReport) -> list[str]:
    """The plan's cost block (empty when the plan has no Lepton endpoint)."""
    if not report.endpoints:
        return []
    prices = report.prices
    head = "Cost"
    if prices is not None:
        head += f" (prices: {prices.source}{f' - {prices.notice}' if prices.notice else ''})"
    lines = [f"{head}:"]
    for e in report.endpoints:
        gpus = f"{e.gpus_per_replica} GPU{'s' if e.gpus_per_replica != 1 else ''}/replica"
        lines.append(f"  {e.address}: {e.resource_shape or '?'} ({gpus}), {e.min_replicas}-{e.max_replicas} replicas")
        if e.action is Action.DELETE:
            change = f", {_usd(e.change_per_hour)}/h" if prices is not None else ""
            lines.append(f"    will be destroyed: frees {_replicas(e.now_replicas)}{change}")
            continue
        if prices is not None:
            if e.price_per_replica_hour is None:
                lines.append(f"    no price for {e.resource_shape} in {prices.source}")
            else:
                lines.append(
                    f"    {_usd(e.per_hour_min)}/h at {_replicas(e.min_replicas)}, "
                    f"{_usd(e.per_hour_max)}/h at {_replicas(e.max_replicas)}; now {_usd(e.per_hour_now)}/h "
                    f"({'+' if (e.change_per_hour or 0) >= 0 else '-'}{_usd(abs(e.change_per_hour or 0))}/h)"
                    if e.change_per_hour is not None
                    else f"    {_usd(e.per_hour_min)}/h at {_replicas(e.min_replicas)}, "
                    f"{_usd(e.per_hour_max)}/h at {_replicas(e.max_replicas)}"
                )
        lines.append(f"    if nimctl dies right after creating it: {_worst_case_text(e)}")
        if e.lifetime_note:
            lines.append(f"    {e.lifetime_note}")
    totals = report.totals
    if len(report.endpoints) > 1:
        parts = []
        if totals["usd_per_hour_at_min_replicas"] is not None:
            parts.append(
                f"{_usd(totals['usd_per_hour_at_min_replicas'])}/h-{_usd(totals['usd_per_hour_at_max_replicas'])}/h"
            )
        if totals["worst_case_gpu_hours"] is not None:
            worst = f"worst case {totals['worst_case_gpu_hours']:g} GPU-hours"
            if totals["worst_case_usd"] is not None:
                worst += f" ({_usd(totals['worst_case_usd'])})"
            parts.append(worst)
        if parts:
            lines.append(f"  total: {', '.join(parts)}")
    if prices is None:
        lines.append(f"  (no price table: {_how_to_add()})")
    return lines


def _worst_case_text(e: EndpointCost) -> str:
    if e.worst_case_hours is None:
        return f"UNBOUNDED: {e.unbounded_reason}; set a timeout or max_lifetime"
    idle = format_duration(e.no_traffic_timeout_s or 0)
    job = format_duration(e.longest_job_limit_s or 0) if e.longest_job_limit_s else "0s"
    formula = f"{e.max_replicas} × (job limit {job} + scale-down {idle})"
    if e.max_lifetime_s and e.worst_case_hours * 3600 >= e.max_lifetime_s - 1:
        formula = f"{e.max_replicas} × max_lifetime {format_duration(e.max_lifetime_s)}"
    text = f"at most {formula} = {e.max_replicas * e.worst_case_hours:g} replica-hours"
    text += f" = {e.worst_case_gpu_hours:g} GPU-hours"
    if e.worst_case_usd is not None:
        text += f" ({_usd(e.worst_case_usd)})"
    return text


# -- what a live endpoint has cost so far ---------------------------------------------------------


def cost_so_far(
    *, shape: str, replicas: int, created_at: float | None, prices: Any = None, at: float | None = None
) -> dict[str, Any]:
    """An endpoint's cost since its creation: its age × its replicas now × its price (an
    estimate: replicas may have scaled in between). Dollars only with a price table."""
    import time

    age = max(0.0, (time.time() if at is None else at) - created_at) if created_at else None
    hours = None if age is None else age / 3600.0
    price = prices.price(shape) if prices is not None else None
    return {
        "age_s": None if age is None else round(age, 1),
        "replicas": replicas,
        "gpu_hours": None if hours is None else round(hours * replicas * gpus_per_replica(shape), 3),
        "usd": None if hours is None or price is None else round(hours * replicas * price, 2),
    }


def so_far_text(item: dict[str, Any]) -> str:
    if item.get("age_s") is None:
        return ""
    text = f"{format_duration(item['age_s'])} × {_replicas(item['replicas'])}: {item['gpu_hours']:g} GPU-hours"
    return text + (f", {_usd(item['usd'])}" if item.get("usd") is not None else "")
