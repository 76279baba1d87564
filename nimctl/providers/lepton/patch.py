"""The merge patch that changes a live Lepton endpoint in place.

Takes the desired spec and the live one and gives the merge patch
``LeptonEndpoints.update_endpoint`` sends (which changes need a replacement instead is the
planner's decision, ``nimctl.plan.diff``). The table of updatable fields is
``nimctl.providers.capabilities`` (the planner reads it without importing the Lepton provider).
"""

from __future__ import annotations

import json
from typing import Any

from nimctl.common import keypath
from nimctl.providers.capabilities import LEPTON_UPDATABLE_ENDPOINT_FIELDS

# The endpoint spec fields nimctl changes on a live endpoint (a merge PATCH); a change anywhere
# else forces replacement. The table, with the `lep endpoint update` option behind each field,
# is nimctl.providers.capabilities (the planner reads it without importing this module).
UPDATABLE_ENDPOINT_FIELDS: frozenset[str] = LEPTON_UPDATABLE_ENDPOINT_FIELDS  # one table: capabilities.py


def update_patch(desired: dict[str, Any], live: dict[str, Any]) -> dict[str, Any]:
    """The merge patch that moves the live endpoint's updatable fields to ``desired``.

    Mirrors `lep endpoint update`: min and max replicas travel together (an SDK quirk);
    autoscaler settings the config dropped are reset to 0 ("off", as the CLI sends them); new
    tokens also leave unauthenticated mode. Updatable fields absent from ``desired`` are left as
    they are: in particular a config without ``api_tokens`` never switches authentication off.
    """
    patch: dict[str, Any] = {}
    for field in sorted(UPDATABLE_ENDPOINT_FIELDS):
        value = keypath.get(desired, field)
        if value is not None:
            keypath.set_path(patch, field, json.loads(json.dumps(value)))
    requirement = patch.get("resource_requirement")
    if requirement is not None and ("min_replicas" in requirement or "max_replicas" in requirement):
        for key in ("min_replicas", "max_replicas"):
            if key not in requirement:
                requirement[key] = keypath.get(live, f"resource_requirement.{key}")
        if requirement.get("min_replicas") is None:
            requirement["min_replicas"] = requirement.get("max_replicas")
        if requirement.get("max_replicas") is None:
            requirement["max_replicas"] = requirement["min_replicas"]
    if "auto_scaler" in patch:
        patch["auto_scaler"] = _autoscaler_patch(patch["auto_scaler"], live.get("auto_scaler") or {})
    if patch.get("api_tokens") and "allow_unauthenticated_access" not in patch:
        patch["allow_unauthenticated_access"] = False
    return patch


def _autoscaler_patch(desired: dict[str, Any], live: dict[str, Any]) -> dict[str, Any]:
    out = json.loads(json.dumps(desired))
    if "scale_down" in live and "scale_down" not in out:
        out["scale_down"] = {"no_traffic_timeout": 0}
    if "target_gpu_utilization_percentage" in live and "target_gpu_utilization_percentage" not in out:
        out["target_gpu_utilization_percentage"] = 0
    if "target_throughput" in live and "target_throughput" not in out:
        out["target_throughput"] = {"qpm": 0}
    return out
