"""The config groups bundled with nimctl (``nimctl/config/groups/<group>/<option>.yaml``)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

GROUPS_DIR = Path(__file__).resolve().parent / "groups"
GROUP_NAMES = ("execution", "deployment")


@lru_cache(maxsize=1)
def available_groups() -> dict[str, list[str]]:
    """Group name → the options bundled for it, e.g. {"execution": ["lepton/default", "local"], ...}."""
    found: dict[str, list[str]] = {}
    for group in GROUP_NAMES:
        root = GROUPS_DIR / group
        options: list[str] = []
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                if name.endswith((".yaml", ".yml")):
                    options.append(Path(dirpath, name).relative_to(root).with_suffix("").as_posix())
        found[group] = sorted(options)
    return found


def group_file(group: str, option: str) -> Path:
    path = GROUPS_DIR / group / f"{option}.yaml"
    return path if path.exists() else path.with_suffix(".yml")
