"""Field-level differences between two (redacted) platform specs.

Two comparisons live here:

- desired vs applied (what apply would change), with deepdiff, each change marked with whether it
  forces replacement (any field outside the platform's in-place-updatable set);
- applied vs live (drift): only the fields nimctl manages — the keys present in the applied spec —
  are compared; whatever the platform adds on its own (server-populated defaults, status-like
  fields, extra port attributes) is ignored.

Specs are always compared *redacted* (see ``nimctl.common.secrets``): a changed literal token shows as a
changed fingerprint, never as its value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from nimctl.common.envref import host_variable
from nimctl.common.secrets import is_redacted
from nimctl.plan.canonical import denormalise, field_name, format_path, normalise


@dataclass(frozen=True)
class FieldChange:
    """One changed field. ``old``/``new`` are redacted values (``None`` when absent)."""

    path: str  # e.g. "resource_requirement.max_replicas", "envs[HF_TOKEN].value", "api_tokens[0].value"
    old: Any = None
    new: Any = None
    kind: str = "changed"  # "changed" | "added" | "removed"
    forces_replacement: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "old": self.old,
            "new": self.new,
            "kind": self.kind,
            "forces_replacement": self.forces_replacement,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FieldChange:
        return cls(
            path=data["path"],
            old=data.get("old"),
            new=data.get("new"),
            kind=data.get("kind", "changed"),
            forces_replacement=bool(data.get("forces_replacement")),
        )


def is_updatable(field: str, updatable: Iterable[str]) -> bool:
    """``field`` (see ``canonical.field_name``) is ``u`` or lies below some ``u`` in ``updatable``."""
    return any(field == u or field.startswith(u + ".") for u in updatable)


def diff_specs(
    old: dict[str, Any], new: dict[str, Any], *, updatable: Iterable[str] | None = None
) -> list[FieldChange]:
    """Every field that differs between ``old`` and ``new``, sorted by path.

    With ``updatable`` given (an endpoint), a change to a field outside it is marked
    ``forces_replacement``; without it (``None``) nothing is.
    """
    allowed = frozenset(updatable) if updatable is not None else None
    old_n, new_n = normalise(old), normalise(new)
    if old_n == new_n:  # the common case (nothing changed): no deepdiff import, no walk
        return []
    from deepdiff import DeepDiff  # imported here: deepdiff costs ~0.15 s at start-up

    tree = DeepDiff(old_n, new_n, view="tree", verbose_level=2)
    changes: list[FieldChange] = []
    for report_type, levels in tree.items():
        for level in levels:
            segments = level.path(output_format="list")
            kind = (
                "added"
                if report_type.endswith("_added")
                else "removed"
                if report_type.endswith("_removed")
                else "changed"
            )
            old_value = None if kind == "added" else denormalise(level.t1)
            new_value = None if kind == "removed" else denormalise(level.t2)
            forces = allowed is not None and not is_updatable(field_name(segments), allowed)
            changes.append(FieldChange(format_path(segments), old_value, new_value, kind, forces))
    return sorted(changes, key=lambda c: c.path)


def _unobservable(applied: Any, live: Any) -> bool:
    """A secret the platform does not echo back (missing or masked) cannot be compared; nor can a
    host: value (read from the environment of the apply that sent it, and kept nowhere)."""
    if host_variable(applied) is not None:
        return True
    if not is_redacted(applied):
        return False
    return live is None or (isinstance(live, str) and (live == "" or set(live) == {"*"}))


_MISSING = object()
# Top-level spec keys some servers never echo back (write-only): absent live means "not shown".
WRITE_ONLY_KEYS = frozenset({"api_tokens"})


def _holds_secret(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_holds_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_secret(v) for v in value)
    return is_redacted(value)


def project_live(applied: Any, live: Any, *, top: bool = True) -> Any:
    """The live values at the paths ``applied`` sets, both normalised.

    Keys the platform added are dropped (server-populated); a key ``applied`` has but the platform
    lost stays absent (that is drift); a secret the platform hides, or a write-only key it does not
    echo, keeps its applied value.
    """
    if isinstance(applied, dict) and isinstance(live, dict):
        out: dict[Any, Any] = {}
        for key, value in applied.items():
            live_value = live.get(key, _MISSING)
            if live_value is _MISSING:
                if _holds_secret(value) or (top and key in WRITE_ONLY_KEYS):
                    out[key] = value
                continue
            out[key] = project_live(value, live_value, top=False)
        return out
    if isinstance(applied, list) and isinstance(live, list):
        projected = [project_live(a, v, top=False) for a, v in zip(applied, live, strict=False)]
        return projected + live[len(applied) :]
    if _unobservable(applied, live):
        return applied
    return live


def live_view(applied_spec: dict[str, Any], live_spec: dict[str, Any]) -> dict[str, Any]:
    """The live spec restricted to the fields nimctl manages, in normal (un-normalised) form.
    Both specs must already be redacted with the same salt."""
    return denormalise(project_live(normalise(applied_spec), normalise(live_spec)))


def drift_fields(applied_spec: dict[str, Any], live_spec: dict[str, Any]) -> list[FieldChange]:
    """The managed fields whose live value differs from the applied one (``old`` = applied,
    ``new`` = live). Both specs must already be redacted with the same salt."""
    return diff_specs(applied_spec, live_view(applied_spec, live_spec))
