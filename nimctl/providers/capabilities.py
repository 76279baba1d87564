"""What each platform can change on a live endpoint without recreating it.

The planner needs this even for ``plan --refresh=false``, which must not import the Lepton SDK, so
the sets live here, in a module that imports nothing. Each provider module exports the same
constant as ``UPDATABLE_ENDPOINT_FIELDS``; a test keeps the two equal.

Fields are dotted spec paths without list indices (``api_tokens`` covers ``api_tokens[0].value``);
a change at or below one of them is an in-place update, any other change forces replacement.
"""

from __future__ import annotations

# From the options of `lep endpoint update` (leptonai/cli/deployment.py): replicas, resource
# shape and shared memory, autoscaler, tokens / unauthenticated access, IP allow-list, log
# collection, ingress timeout, routing. The container image is deliberately *not* here even
# though the CLI can patch it: a new image is a new model server, and nimctl replaces it so the
# readiness check and the jobs' inputs hash see a fresh endpoint.
LEPTON_UPDATABLE_ENDPOINT_FIELDS: frozenset[str] = frozenset(
    {
        "resource_requirement.min_replicas",
        "resource_requirement.max_replicas",
        "resource_requirement.resource_shape",
        "resource_requirement.shared_memory_size",
        "auto_scaler",
        "api_tokens",
        "allow_unauthenticated_access",
        "auth_config",
        "log",
        "ingress_timeout_seconds",
        "routing_policy",
    }
)

# A local endpoint is a process: any change means restarting it, i.e. a replacement.
LOCAL_UPDATABLE_ENDPOINT_FIELDS: frozenset[str] = frozenset()

UPDATABLE_ENDPOINT_FIELDS_BY_PLATFORM: dict[str, frozenset[str]] = {
    "lepton": LEPTON_UPDATABLE_ENDPOINT_FIELDS,
    "local": LOCAL_UPDATABLE_ENDPOINT_FIELDS,
}
