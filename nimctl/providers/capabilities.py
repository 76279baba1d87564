"""What each platform can change on a live endpoint without recreating it.

The planner needs this even for ``plan --refresh=false``, which must not import the Lepton SDK, so
the sets live here, in a module that imports nothing; each provider module re-exports its own as
``UPDATABLE_ENDPOINT_FIELDS`` (one table, no copies).

Fields are dotted spec paths without list indices (``api_tokens`` covers ``api_tokens[0].value``);
a change at or below one of them is an in-place update, any other change forces replacement.
"""

from __future__ import annotations

# From the options of `lep endpoint update` (leptonai/cli/deployment.py): replicas, resource
# shape and shared memory, autoscaler, tokens / unauthenticated access, IP allow-list, log
# collection, ingress timeout, routing. The container image is deliberately *not* here even
# though the CLI can patch it: a new image is a new model server, and nimctl replaces it so the
# readiness check and the jobs' inputs hash see a fresh endpoint. Each field maps to the
# `lep endpoint update` option that changes it.
LEPTON_UPDATABLE_ENDPOINT_FIELD_REASONS: dict[str, str] = {
    "resource_requirement.min_replicas": "--min-replicas / --replicas-static / --autoscale-*",
    "resource_requirement.max_replicas": "--replicas-static / --autoscale-* (sent with min_replicas)",
    "resource_requirement.resource_shape": "--resource-shape (new replicas roll onto the shape)",
    "resource_requirement.shared_memory_size": "--shared-memory-size",
    "auto_scaler": "--autoscale-down / --autoscale-gpu-util / --autoscale-qpm rewrite the autoscaler",
    "api_tokens": "--tokens replaces the token list",
    "allow_unauthenticated_access": "--allow-unauthenticated-access (sent atomically with api_tokens)",
    "auth_config": "--public / --ip-whitelist set auth_config.ip_allowlist",
    "log": "--log-collection sets log.enable_collection",
    "ingress_timeout_seconds": "--ingress-timeout-seconds",
    "routing_policy": "--header-based-routing",
}
# Not here although `lep endpoint update` can patch it: container.image. A new image is a new
# model server; replacing the endpoint gives it a fresh readiness check and the jobs a new
# inputs hash. Command, ports, envs, mounts, health, node group (affinity), image pull secrets
# and queue config have no update option at all.
LEPTON_UPDATABLE_ENDPOINT_FIELDS: frozenset[str] = frozenset(LEPTON_UPDATABLE_ENDPOINT_FIELD_REASONS)

# A local endpoint is a process: any change means restarting it, i.e. a replacement.
LOCAL_UPDATABLE_ENDPOINT_FIELDS: frozenset[str] = frozenset()

UPDATABLE_ENDPOINT_FIELDS_BY_PLATFORM: dict[str, frozenset[str]] = {
    "lepton": LEPTON_UPDATABLE_ENDPOINT_FIELDS,
    "local": LOCAL_UPDATABLE_ENDPOINT_FIELDS,
}
