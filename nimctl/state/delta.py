"""One journal step as a delta: what changed in the state since the previous serial.

A backend that keeps a write-ahead journal (the file's ``<state>.journal``, PostgreSQL's step rows)
persists a step as a delta instead of the whole document, so a step costs I/O in proportion to
what it changed, not to the size of the state. This module takes a ``State`` and what a step
touched and gives the delta (``Image.diff``); and it takes a state document and a delta and gives
the next document (``apply_delta``), which is how both backends read a journal back.

A delta document::

    {"resources":   {address: record | null},          # null: the record was removed
     "invocations": {id: {field: value, ...,            # fields set
                          "created+": [address, ...],   # appended to ``created``
                          "job_results+": {address: result}}},  # merged into ``job_results``
     "pending+":    [entry, ...],                       # appended to ``pending``
     "pending-":    [entry id, ...]}                    # removed from ``pending``

Applying a delta twice gives the same document as applying it once (appends skip what is already
there), so a step whose write landed but whose bookkeeping was cut short by a signal is simply
persisted again as part of the next delta.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any

from nimctl.state.model import State

_APPEND_CREATED = "created+"
_MERGE_RESULTS = "job_results+"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _shallow(record: Any) -> dict[str, Any]:
    return {f.name: getattr(record, f.name) for f in fields(record)}


def _copy(value: Any) -> Any:
    """A copy of a JSON value that shares nothing mutable with the original."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


@dataclass
class Delta:
    """The change one journal step persists. Resource records are kept as their JSON text (encoded
    once, for the comparison and for the write)."""

    resources: dict[str, str | None] = field(default_factory=dict)
    invocations: dict[str, dict[str, Any]] = field(default_factory=dict)
    pending_added: list[dict[str, Any]] = field(default_factory=list)
    pending_removed: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.resources or self.invocations or self.pending_added or self.pending_removed)

    def to_json(self) -> str:
        """The delta document's JSON text (the record texts are embedded as they are)."""
        resources = ",".join(f"{_json(a)}:{t if t is not None else 'null'}" for a, t in self.resources.items())
        return (
            f'{{"resources":{{{resources}}},"invocations":{_json(self.invocations)},'
            f'"pending+":{_json(self.pending_added)},"pending-":{_json(self.pending_removed)}}}'
        )

    def changed_specs(self) -> Iterable[tuple[str, Any]]:
        """(where, spec) of every spec this delta writes: what the secret guard must look at."""
        for address, text in self.resources.items():
            if text is not None:
                yield f"resources.{address}.spec", json.loads(text).get("spec")
        for i, entry in enumerate(self.pending_added):
            yield f"pending+[{i}].spec", entry.get("spec")

    def summary(self) -> str:
        """A short description for the history listing ("+2 resources, pending +1")."""
        parts = []
        changed = [a for a, t in self.resources.items() if t is not None]
        removed = [a for a, t in self.resources.items() if t is None]
        if changed:
            parts.append(f"recorded {_names(changed)}")
        if removed:
            parts.append(f"forgot {_names(removed)}")
        if self.pending_added:
            parts.append("intent " + _names([f"{p.get('op')} {p.get('address')}" for p in self.pending_added]))
        if self.pending_removed and not changed and not removed:
            parts.append(f"cleared {len(self.pending_removed)} intent(s)")
        for inv_id, patch in self.invocations.items():
            status = patch.get("status")
            if status:
                parts.append(f"invocation {inv_id} {status}")
        return "; ".join(parts) or "no change"


def _names(items: list[str]) -> str:
    return ", ".join(items[:3]) + (f" and {len(items) - 3} more" if len(items) > 3 else "")


class Image:
    """The state as last persisted, to compare the live ``State`` with. Built once per command
    (``Image.of``, O(size of the state)); each ``diff`` then costs O(what the step touched) for
    resources, and a comparison of the (few) invocations and pending entries."""

    def __init__(self, resources: dict[str, str], invocations: dict[str, dict[str, Any]], pending: list[str]) -> None:
        self.resources = resources
        self.invocations = invocations
        self.pending = pending  # entry ids, in order

    @classmethod
    def of(cls, state: State) -> Image:
        return cls(
            {a: _json(_shallow(r)) for a, r in state.resources.items()},
            {i: _copy(_shallow(inv)) for i, inv in state.invocations.items()},
            [p.id for p in state.pending],
        )

    def diff(self, state: State, touched: Iterable[str] | None) -> Delta:
        """What ``state`` changed since this image. ``touched``: the resource addresses the change
        may have touched (``None``: any, which compares every record)."""
        delta = Delta()
        addresses = set(state.resources) | set(self.resources) if touched is None else set(touched)
        for address in sorted(addresses):
            record = state.resources.get(address)
            if record is None:
                if address in self.resources:
                    delta.resources[address] = None
                continue
            text = _json(_shallow(record))
            if self.resources.get(address) != text:
                delta.resources[address] = text
        for inv_id, inv in state.invocations.items():
            patch = _invocation_patch(self.invocations.get(inv_id), _shallow(inv))
            if patch:
                delta.invocations[inv_id] = patch
        for inv_id in self.invocations.keys() - state.invocations.keys():
            delta.invocations[inv_id] = {"removed": True}
        known = set(self.pending)
        now = {p.id for p in state.pending}
        delta.pending_added = [p.to_dict() for p in state.pending if p.id not in known]
        delta.pending_removed = [i for i in self.pending if i not in now]
        return delta

    def advance(self, delta: Delta) -> None:
        """This image after ``delta`` was persisted."""
        for address, text in delta.resources.items():
            if text is None:
                self.resources.pop(address, None)
            else:
                self.resources[address] = text
        for inv_id, patch in delta.invocations.items():
            if patch.get("removed"):
                self.invocations.pop(inv_id, None)
            else:
                self.invocations[inv_id] = _patched_invocation(self.invocations.get(inv_id), _copy(patch))
        removed = set(delta.pending_removed)
        self.pending = [i for i in self.pending if i not in removed]
        self.pending += [p["id"] for p in delta.pending_added if p["id"] not in self.pending]


def _invocation_patch(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    if old is None:
        return _copy(new)
    patch: dict[str, Any] = {}
    for key, value in new.items():
        before = old.get(key)
        if value == before:
            continue
        if key == "created" and isinstance(before, list) and value[: len(before)] == before:
            patch[_APPEND_CREATED] = list(value[len(before) :])
        elif key == "job_results" and isinstance(before, dict) and before.keys() <= value.keys():
            patch[_MERGE_RESULTS] = {k: _copy(v) for k, v in value.items() if before.get(k) != v}
        else:
            patch[key] = _copy(value)
    return patch


def _patched_invocation(old: dict[str, Any] | None, patch: dict[str, Any]) -> dict[str, Any]:
    inv = dict(old) if old is not None else {}
    for key, value in patch.items():
        if key == _APPEND_CREATED:
            created = list(inv.get("created") or [])
            created += [a for a in value if a not in created]
            inv["created"] = created
        elif key == _MERGE_RESULTS:
            inv["job_results"] = {**(inv.get("job_results") or {}), **value}
        else:
            inv[key] = value
    return inv


def apply_delta(doc: dict[str, Any], delta: dict[str, Any]) -> None:
    """Advance the state document ``doc`` (parsed JSON) by one delta document, in place."""
    resources = doc["resources"]
    for address, record in (delta.get("resources") or {}).items():
        if record is None:
            resources.pop(address, None)
        else:
            resources[address] = record
    invocations = doc["invocations"]
    for inv_id, patch in (delta.get("invocations") or {}).items():
        if patch.get("removed"):
            invocations.pop(inv_id, None)
        else:
            invocations[inv_id] = _patched_invocation(invocations.get(inv_id), patch)
    removed = set(delta.get("pending-") or [])
    pending = [p for p in doc["pending"] if p.get("id") not in removed]
    ids = {p.get("id") for p in pending}
    pending += [p for p in delta.get("pending+") or [] if p.get("id") not in ids and p.get("id") not in removed]
    doc["pending"] = pending
