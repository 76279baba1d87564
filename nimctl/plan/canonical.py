"""Canonical forms used wherever two specs or two plans must compare equal regardless of how they
were built: key order, the order of named list items, and a stable digest."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no insignificant whitespace: equal values give equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(value: Any, length: int = 16) -> str:
    """A short sha256 of the canonical JSON of ``value``."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:length]


class ItemKey(str):
    """The key of an item of a *named list* once that list is turned into a mapping.

    Platform specs hold lists such as ``envs: [{name, value}, ...]`` whose order means nothing
    (the spec builder may emit them in config order). Diffing them as lists would turn a reordered
    config into a "change"; diffing them as mappings keyed by name does not. The subclass marks
    those keys so paths print as ``envs[HF_TOKEN].value`` rather than ``envs.HF_TOKEN.value``.
    """

    __slots__ = ()


def _is_named_list(value: list[Any]) -> bool:
    if not value or not all(isinstance(item, dict) and isinstance(item.get("name"), str) for item in value):
        return False
    names = [item["name"] for item in value]
    return len(set(names)) == len(names)


def normalise(value: Any) -> Any:
    """A copy of ``value`` where every named list (dicts with unique ``name``) becomes a mapping."""
    if isinstance(value, dict):
        return {key: normalise(item) for key, item in value.items()}
    if isinstance(value, list):
        if _is_named_list(value):
            return {ItemKey(item["name"]): normalise({k: v for k, v in item.items() if k != "name"}) for item in value}
        return [normalise(item) for item in value]
    return value


def format_path(segments: list[Any]) -> str:
    """``["envs", ItemKey("HF_TOKEN"), "value"]`` → ``envs[HF_TOKEN].value``; ints print as ``[i]``."""
    text = ""
    for segment in segments:
        if isinstance(segment, (int, ItemKey)):
            text += f"[{segment}]"
        else:
            text += f".{segment}" if text else str(segment)
    return text


def field_name(segments: list[Any]) -> str:
    """The schema field a path belongs to, without list indices or item names:
    ``api_tokens[0].value`` → ``api_tokens.value``. This is what updatable-field rules match."""
    return ".".join(str(s) for s in segments if isinstance(s, str) and not isinstance(s, ItemKey))


def flatten(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    """Leaf values of a normalised spec with their paths, in a stable order (for display).
    Lists of short scalars and empty containers are leaves; a list holding a multi-line string
    (a ``sh -c`` script) is split into its items so the script can print as a block."""
    if isinstance(value, dict) and value:
        out: list[tuple[tuple[Any, ...], Any]] = []
        for key in sorted(value, key=str):
            out.extend(flatten(value[key], (*prefix, key)))
        return out
    if (
        isinstance(value, list)
        and value
        and any(isinstance(v, (dict, list)) or (isinstance(v, str) and "\n" in v) for v in value)
    ):
        out = []
        for index, item in enumerate(value):
            out.extend(flatten(item, (*prefix, index)))
        return out
    return [(prefix, value)]


def denormalise(value: Any) -> Any:
    """The inverse of :func:`normalise`: mappings keyed by :class:`ItemKey` become named lists."""
    if isinstance(value, dict):
        if value and all(isinstance(k, ItemKey) for k in value):
            return [
                {"name": str(k), **denormalise(v)} if isinstance(v, dict) else {"name": str(k)}
                for k, v in value.items()
            ]
        return {str(k): denormalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [denormalise(v) for v in value]
    return value
