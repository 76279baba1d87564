"""How values read from the composed config: a task's key path, an argv from a list or a
string, a scalar as environment text, and mapping merges."""

from __future__ import annotations

import copy
import shlex
from typing import Any


def task_key(index: int, key: str = "") -> str:
    """The key path of ``evaluation.tasks[index]`` (or one of its keys)."""
    base = f"evaluation.tasks.{index}"
    return f"{base}.{key}" if key else base


def as_argv(value: Any) -> list[str] | None:
    """An argv from a list, or from a string split the way a shell would split words (no
    shell ever runs it)."""
    if value is None:
        return None
    if isinstance(value, str):
        return shlex.split(value)
    if isinstance(value, (list, tuple)):
        return [scalar_text(v) for v in value]
    raise ValueError("must be a list of arguments or a string")


def scalar_text(value: Any) -> str:
    """How a YAML scalar reads as an environment value (``true``, not ``True``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    raise ValueError(f"expected a string, number or boolean, got {type(value).__name__}")


def deep_merge(base: Any, override: Any) -> Any:
    """Mappings merge key by key; anything else in ``override`` replaces ``base``."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = copy.deepcopy(base)
        for key, value in override.items():
            merged[key] = deep_merge(merged.get(key), value) if key in merged else copy.deepcopy(value)
        return merged
    return copy.deepcopy(override)
