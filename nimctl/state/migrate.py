"""Bringing state files written by older nimctl versions to the current format.

Migrations run in memory on read; the file on disk is rewritten only by the next write, which
first keeps the old file as ``<state>.v<N>.backup`` (besides the usual ``<state>.backup``).

Format history
--------------
Version 0 (pre-release) differed from version 1 in three ways:

- no ``pending`` list: there was no intent journal;
- a resource's observed view was flat on the record — ``"state"``, ``"platform_state"`` and
  ``"url"`` next to ``"spec"`` — instead of an ``"observed"`` object, and there was no
  ``"extra"`` object;
- an invocation listed the addresses it created under ``"resources"`` instead of ``"created"``.

A v0 file looks like::

    {"version": 0, "lineage": "…", "serial": 3,
     "resources": {"endpoint.demo": {"address": "endpoint.demo", "type": "endpoint",
         "provider": "local", "stack": "demo", "name": "demo", "platform_id": "demo",
         "spec": {…}, "inputs_hash": "…", "state": "ready", "platform_state": "running",
         "url": "http://127.0.0.1:8000", "invocation_id": "…", "created_at": …, "updated_at": …}},
     "invocations": {"0123456789abcdef": {"id": "0123456789abcdef", "command": "apply", …,
         "resources": ["endpoint.demo"]}}}
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from nimctl.state.model import STATE_VERSION

_OBSERVED_V0_KEYS = ("state", "platform_state", "url")


def _v0_to_v1(data: dict[str, Any]) -> dict[str, Any]:
    resources = {}
    for address, record in data.get("resources", {}).items():
        record = dict(record)
        observed = {key: record.pop(key) for key in _OBSERVED_V0_KEYS if key in record}
        record["observed"] = observed
        record.setdefault("extra", {})
        resources[address] = record
    invocations = {}
    for inv_id, inv in data.get("invocations", {}).items():
        inv = dict(inv)
        inv["created"] = inv.pop("resources", [])
        invocations[inv_id] = inv
    return {**data, "version": 1, "resources": resources, "invocations": invocations, "pending": []}


# MIGRATIONS[n] turns a version-n document into a version-(n+1) document.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {0: _v0_to_v1}


class MigrationFailed(Exception):
    """The document claims an old version but does not have that version's shape."""


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """A current-version copy of ``data`` (a parsed state document of version <= current).
    Raises ``MigrationFailed`` when a step cannot make sense of the document."""
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise MigrationFailed(f"version must be a whole number >= 0, not {version!r}")
    doc = copy.deepcopy(data)
    while version < STATE_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise MigrationFailed(f"no migration from version {version}")
        try:
            doc = step(doc)
        except (AttributeError, KeyError, TypeError, ValueError) as err:
            raise MigrationFailed(f"cannot migrate from version {version}: {err}") from err
        version += 1
    return doc
