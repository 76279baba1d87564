"""Send invocations to one destination: settle each stack's settings, check that the
destination's library is installed, then call its module.

Takes :class:`~nimctl.export.model.InvocationRuns`, a destination, the ``-o`` overrides and
optionally one ``export:`` block that replaces the configs' own (``nimctl export --config F``);
gives one :class:`~nimctl.export.report.ExportReport`. Each stack is exported with the settings
of the config it was applied from (its recorded ``export.<dest>`` block), so one invocation of
several configs goes where each config says.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from nimctl.common.errors import NimctlError
from nimctl.export.model import InvocationRuns
from nimctl.export.report import ExportReport
from nimctl.export.settings import Destination, resolve


def require_library(dest: Destination) -> None:
    """Refuse, with the install command, when the destination's library is not installed."""
    if dest.library and importlib.util.find_spec(dest.library) is None:
        raise NimctlError(
            f"exporting to {dest.value} needs the {dest.library} package, which is not installed",
            hint=f"pip install 'nimctl[{dest.extra}]'",
        )


def export(invocations: list[InvocationRuns], dest: Destination, settings: dict[str, Any]) -> ExportReport:
    """Export with one set of resolved settings."""
    require_library(dest)
    module = importlib.import_module(dest.module)
    report: ExportReport = module.export(invocations, settings)
    return report


def export_invocations(
    invocations: list[InvocationRuns],
    dest: Destination,
    overrides: Iterable[str] = (),
    block: dict[str, Any] | None = None,
) -> ExportReport:
    """Export each stack with its own config's ``export.<dest>`` settings (or ``block`` for all),
    then the overrides. Settings are checked for every stack before anything is sent."""
    overrides = list(overrides)
    groups: dict[str, tuple[dict[str, Any], list[InvocationRuns]]] = {}
    notes: list[str] = []
    for inv in invocations:
        by_stack: dict[str, list[Any]] = {}
        for run in inv.tasks:
            by_stack.setdefault(run.stack, []).append(run)
        for stack, runs in by_stack.items():
            own = block
            if own is None:
                info = inv.stacks.get(stack)
                own = ((info.config.get("export") or {}) if info else {}).get(dest.value)
            settings, found = resolve(dest, own, overrides)
            notes += [n for n in found if n not in notes]
            key = json.dumps(settings, sort_keys=True, default=str)
            part = replace(inv, tasks=tuple(runs))
            groups.setdefault(key, (settings, []))[1].append(part)
    require_library(dest)
    total = ExportReport(dest.value, notes=notes)
    for settings, parts in groups.values():
        report = export(_merge(parts), dest, settings)
        total.outcomes += report.outcomes
        total.notes += [n for n in report.notes if n not in total.notes]
        total.files += [f for f in report.files if f not in total.files]
    return total


def _merge(parts: list[InvocationRuns]) -> list[InvocationRuns]:
    """One InvocationRuns per invocation again (stacks that share settings go together)."""
    merged: dict[str, InvocationRuns] = {}
    for part in parts:
        if part.invocation_id in merged:
            old = merged[part.invocation_id]
            merged[part.invocation_id] = replace(old, tasks=old.tasks + part.tasks)
        else:
            merged[part.invocation_id] = part
    return list(merged.values())
