"""Planning: refresh live objects, diff desired against applied, decide actions, render, save.

    observed = refresh(state, providers)          # listing calls only; None for --refresh=false
    plan = make_plan(stacks, state, observed, targets=[...], salt=state.lineage)
    render_text(plan) / render_json(plan) / save_plan(path, plan, stacks, state, observed)

Nothing here writes state or calls a platform's mutating API.
"""

from __future__ import annotations

from nimctl.plan.actions import (
    DriftItem,
    PendingItem,
    Plan,
    ResourceChange,
    make_plan,
    updatable_endpoint_fields,
)
from nimctl.plan.diff import FieldChange
from nimctl.plan.refresh import Observed, ObservedPending, ObservedResource, RefreshError, refresh

__all__ = [
    "DriftItem",
    "FieldChange",
    "Observed",
    "ObservedPending",
    "ObservedResource",
    "PendingItem",
    "Plan",
    "RefreshError",
    "ResourceChange",
    "make_plan",
    "refresh",
    "updatable_endpoint_fields",
]
