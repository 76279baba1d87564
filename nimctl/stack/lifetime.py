"""Platform-side bounds on a Lepton endpoint's life, which hold even when nimctl is gone.

Takes the composed config; gives:

* the autoscaler defaults nimctl sends unless the config sets its own (``scale_down``): Lepton's
  API applies none — the 1 h default is the ``lep`` CLI's — so without them an endpoint whose
  nimctl died runs until somebody notices;
* ``max_lifetime`` (opt-in): the spec of a small scheduled job (``time_schedule.start_at``) that
  deletes the endpoint through the workspace API when the lifetime ends. Its image needs only
  ``python3`` (the script uses the standard library); it reads the workspace token from a
  workspace secret (``execution.lepton_platform.lifetime_job.token_secret``) and the workspace
  URL from an env var that nimctl fills in at apply time.
"""

from __future__ import annotations

from typing import Any

from nimctl.common import keypath
from nimctl.common.durations import parse_duration
from nimctl.config.rules import (
    JOB_TTL_SECONDS,
    LIFETIME_KEY,
    MAX_NAME_LENGTH,
    lepton_name_problem,
)
from nimctl.stack.specs.names import short_hash

# The `lep` CLI's default (leptonai config.py DEFAULT_TIMEOUT) and the launcher's examples' value.
DEFAULT_NO_TRAFFIC_TIMEOUT_S = 3600
# A model server that is not ready this long after starting is scaled down; never shorter than
# nimctl's own readiness wait, so the platform does not cut a slow cold start that nimctl accepts.
DEFAULT_NOT_READY_TIMEOUT_S = 3600

LIFETIME_JOB_PREFIX = "ttl-"
LIFETIME_JOB_KEY = "execution.lepton_platform.lifetime_job"
DEFAULT_LIFETIME_IMAGE = "python:3.12-slim"
DEFAULT_LIFETIME_TOKEN_SECRET = "NIMCTL_LEPTON_TOKEN"
DEFAULT_LIFETIME_SHAPE = "cpu.small"
# Filled in at apply time (the env entries' values in the template say so).
ENV_ENDPOINT = "NIMCTL_ENDPOINT_NAME"
ENV_WORKSPACE_URL = "NIMCTL_LEPTON_WORKSPACE_URL"
ENV_CREATED_AT = "NIMCTL_ENDPOINT_CREATED_AT"
ENV_TOKEN = "LEPTON_WORKSPACE_TOKEN"
AT_APPLY = "(set at apply)"

# What the lifetime job runs: the standard library only, data from env vars (never interpolated).
# It deletes the endpoint through whichever API family serves it, only if the endpoint is
# still the one nimctl scheduled it for (same creation time), and treats "not found" as done.
REMOVE_ENDPOINT_SCRIPT = """\
import json, os, sys, time, urllib.error, urllib.request
base = os.environ["NIMCTL_LEPTON_WORKSPACE_URL"].rstrip("/")
name = os.environ["NIMCTL_ENDPOINT_NAME"]
expected = float(os.environ.get("NIMCTL_ENDPOINT_CREATED_AT") or 0)
headers = {"Authorization": "Bearer " + os.environ["LEPTON_WORKSPACE_TOKEN"], "Content-Type": "application/json"}
def call(method, path):
    request = urllib.request.Request(base + path, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=60) as answer:
        body = answer.read()
        return json.loads(body) if body.strip() else {}
def seconds(value):
    value = float(value or 0)
    for scale in (1e18, 1e15, 1e12):
        if value >= scale / 10:
            return value / (scale / 1e9)
    return value
def remove():
    # Either API family may serve the endpoint; a 404 from both means it is gone.
    for route in ("/deployments/", "/endpoints/"):
        try:
            live = call("GET", route + name)
        except urllib.error.HTTPError as error:
            if error.code == 404:
                continue
            raise
        # expected is the same platform field, recorded at apply time (ms precision): an endpoint
        # created again, even a second later, differs by more than half a second.
        created = seconds((live.get("metadata") or {}).get("created_at"))
        if expected and created and abs(created - expected) > 0.5:
            return "was re-created since; left alone"
        try:
            call("DELETE", route + name)
        except urllib.error.HTTPError as error:
            if error.code != 404:
                raise
        return "deleted"
    return "is already gone"
for attempt in range(6):
    try:
        print("nimctl max_lifetime: endpoint " + name + " " + remove())
        sys.exit(0)
    except urllib.error.HTTPError as error:
        print("nimctl max_lifetime: HTTP " + str(error.code) + "; retrying", file=sys.stderr)
    except OSError as error:
        print("nimctl max_lifetime: " + type(error).__name__ + "; retrying", file=sys.stderr)
    time.sleep(min(60, 5 * 2 ** attempt))
sys.exit(1)
"""


def scale_down_defaults(config: dict[str, Any]) -> dict[str, int]:
    """The ``auto_scaler.scale_down`` values nimctl sends where the config has none."""
    readiness = keypath.get(config, "execution.lepton_platform.deployment.endpoint_readiness_timeout")
    wait = int(readiness) if isinstance(readiness, (int, float)) and not isinstance(readiness, bool) else 0
    return {
        "no_traffic_timeout": DEFAULT_NO_TRAFFIC_TIMEOUT_S,
        "not_ready_timeout": max(DEFAULT_NOT_READY_TIMEOUT_S, wait),
    }


def max_lifetime_s(config: dict[str, Any]) -> float | None:
    """``deployment.lepton_config.max_lifetime`` in seconds (None: not set, or not a duration —
    config validation has reported that)."""
    raw = keypath.get(config, LIFETIME_KEY)
    return None if raw is None else parse_duration(raw)


def lifetime_job_name(endpoint: str) -> str:
    """``ttl-<endpoint>``, or a cut name plus a hash of the endpoint name to stay ≤ 36 characters."""
    name = f"{LIFETIME_JOB_PREFIX}{endpoint}"
    if len(name) <= MAX_NAME_LENGTH and lepton_name_problem(name) is None:
        return name
    room = MAX_NAME_LENGTH - len(LIFETIME_JOB_PREFIX) - 1 - 6
    return f"{LIFETIME_JOB_PREFIX}{endpoint[:room].rstrip('-')}-{short_hash(endpoint)}"


def lifetime_token_secret(config: dict[str, Any]) -> str:
    return str(keypath.get(config, f"{LIFETIME_JOB_KEY}.token_secret") or DEFAULT_LIFETIME_TOKEN_SECRET)


def lifetime_job_template(config: dict[str, Any], endpoint: str) -> dict[str, Any]:
    """The lifetime job's spec (LeptonJobUserSpec JSON) with the apply-time values marked."""
    spec: dict[str, Any] = {
        "resource_shape": str(keypath.get(config, f"{LIFETIME_JOB_KEY}.resource_shape") or DEFAULT_LIFETIME_SHAPE),
    }
    node_group = keypath.get(config, "execution.lepton_platform.tasks.node_group")
    if node_group:
        spec["affinity"] = {"allowed_dedicated_node_groups": [str(node_group)]}
    spec["container"] = {
        "image": str(keypath.get(config, f"{LIFETIME_JOB_KEY}.image") or DEFAULT_LIFETIME_IMAGE),
        "command": ["python3", "-c", REMOVE_ENDPOINT_SCRIPT],
    }
    spec["completions"] = 1
    spec["parallelism"] = 1
    spec["envs"] = [
        {"name": ENV_ENDPOINT, "value": endpoint},
        {"name": ENV_WORKSPACE_URL, "value": AT_APPLY},
        {"name": ENV_CREATED_AT, "value": AT_APPLY},
        {"name": ENV_TOKEN, "value_from": {"secret_name_ref": lifetime_token_secret(config)}},
    ]
    pull_secrets = keypath.get(config, "execution.lepton_platform.tasks.image_pull_secrets", []) or []
    if pull_secrets:
        spec["image_pull_secrets"] = [str(s) for s in pull_secrets]
    spec["ttl_seconds_after_finished"] = JOB_TTL_SECONDS
    spec["time_schedule"] = {"start_at": 0}  # set at apply: now + max_lifetime
    return spec


def render_lifetime_job(
    template: dict[str, Any], *, start_at: float, workspace_url: str, endpoint_created_at: float | None
) -> dict[str, Any]:
    """The exact spec to submit: the start time and the apply-time env values filled in."""
    import copy

    spec = copy.deepcopy(template)
    values = {ENV_WORKSPACE_URL: workspace_url, ENV_CREATED_AT: f"{endpoint_created_at or 0:.3f}"}
    for env in spec.get("envs") or []:
        if env.get("name") in values and env.get("value") == AT_APPLY:
            env["value"] = values[env["name"]]
    spec["time_schedule"] = {"start_at": int(start_at)}
    return spec
