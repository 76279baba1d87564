"""Dotted key paths (``"deployment.envs.0.name"``) over plain YAML/JSON trees: the one definition.

Takes a tree of dicts and lists and a path whose parts are mapping keys or, inside a list, an
integer index: a dotted string, or a tuple of the parts themselves. A tuple is how a path found
by walking a tree is handed back to it: YAML keys may hold dots (``{"a.b": 1}``), which a dotted
string cannot tell from nesting. Gives:

- ``parts(path)`` / ``lineage(path)`` — the parts; the (dotted) path and each parent, nearest
  first (for "where was this key written" lookups that fall back to the nearest written parent);
- ``get(tree, path, default)`` / ``has(tree, path)`` — read; a missing step (or a None value, for
  ``get``) gives ``default`` / False, never an exception;
- ``set_path(tree, path, value)`` — write, creating mappings on the way (a step that holds
  something other than a mapping or a list is replaced by a mapping);
- ``pop(tree, path)`` — remove a key if present.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

KeyPath = str | tuple[str | int, ...]

_MISSING = object()


def parts(path: KeyPath) -> list[str | int]:
    if isinstance(path, tuple):
        return list(path)
    return [*path.split(".")] if path else []


def lineage(path: str) -> Iterator[str]:
    """``"a.b.c"`` → ``"a.b.c"``, ``"a.b"``, ``"a"``."""
    steps = path.split(".") if path else []
    while steps:
        yield ".".join(steps)
        steps.pop()


def _index(part: str | int) -> int | None:
    """The list index a part names: an int, or a string of decimal digits; None for anything else
    (``"²"`` is a digit to ``str.isdigit`` but not a number to ``int``)."""
    if isinstance(part, int):
        return part if part >= 0 else None
    return int(part) if part.isdecimal() else None


def _step(node: Any, part: str | int) -> Any:
    if isinstance(node, dict):
        return node.get(part, _MISSING)
    index = _index(part) if isinstance(node, list) else None
    if index is not None:
        return node[index] if index < len(node) else _MISSING
    return _MISSING


def get(tree: Any, path: KeyPath, default: Any = None) -> Any:
    """``tree["a"]["b"][0]`` for ``"a.b.0"``; ``default`` when a step is absent or None."""
    node = tree
    for part in parts(path):
        node = _step(node, part)
        if node is _MISSING or node is None:
            return default
    return node


def has(tree: Any, path: KeyPath) -> bool:
    """Whether every step of ``path`` exists (a None value counts as present)."""
    node = tree
    for part in parts(path):
        node = _step(node, part)
        if node is _MISSING:
            return False
    return True


def set_path(tree: dict[str, Any], path: KeyPath, value: Any) -> None:
    """``tree["a"]["b"]["c"] = value`` for ``"a.b.c"``, creating mappings on the way. A list is
    stepped into by an index it holds; anything else in the way becomes a mapping."""
    steps = parts(path) or [""]
    node: Any = tree
    for depth, part in enumerate(steps):
        if depth == len(steps) - 1:
            if isinstance(node, list):
                node[int(part)] = value
            else:
                node[part] = value
            return
        child = _step(node, part)
        following = _index(steps[depth + 1])
        keeps = isinstance(child, dict) or (
            isinstance(child, list) and following is not None and following < len(child)
        )
        if not keeps:
            child = {}
            if isinstance(node, list):
                node[int(part)] = child
            else:
                node[part] = child
        node = child


def pop(tree: Any, path: KeyPath) -> Any:
    """Remove the key at ``path`` if it is there; its value, or None."""
    *parents, leaf = parts(path) or [""]
    node = tree
    for part in parents:
        node = _step(node, part)
    return node.pop(leaf, None) if isinstance(node, dict) else None
