"""Showing a plan: Terraform-style text, and the stable ``--json`` document.

Text is built as plain lines (no rich: nothing to import, output identical on and off a terminal);
colour is a few ANSI codes added only when asked for and ``NO_COLOR`` is unset. Secret values are
never shown: a redacted fingerprint prints as ``(sensitive)`` in text and JSON alike.

The JSON document is described by ``schemas/nimctl-plan.schema.json`` (format_version 1.0).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, TextIO

from nimctl.common.secrets import is_redacted
from nimctl.plan.actions import CREATE, DELETE, KNOWN_AFTER_APPLY, REPLACE, Plan, ResourceChange
from nimctl.plan.canonical import flatten, format_path, normalise
from nimctl.plan.diff import FieldChange

FORMAT_VERSION = "1.0"
SENSITIVE = "(sensitive)"
MAX_PATH_WIDTH = 48  # beyond this, `=` signs stop lining up rather than pushing values off screen


# -- values --------------------------------------------------------------------------------------


def display(value: Any) -> Any:
    """A copy with every redacted fingerprint replaced by ``(sensitive)``."""
    if isinstance(value, dict):
        return {k: display(v) for k, v in value.items()}
    if isinstance(value, list):
        return [display(v) for v in value]
    return SENSITIVE if is_redacted(value) else value


def _heredoc(lines: list[str]) -> str:
    return "\n".join(["<<EOT", *lines, "EOT"])


def format_value(value: Any) -> str:
    """A value as text; a multi-line string becomes a ``<<EOT`` block (continuation lines)."""
    if isinstance(value, str) and "\n" in value:
        return _heredoc(["  " + line for line in value.rstrip("\n").split("\n")])
    if is_redacted(value):
        return SENSITIVE
    if value == KNOWN_AFTER_APPLY:
        return KNOWN_AFTER_APPLY
    if isinstance(value, (dict, list)):
        return json.dumps(display(value), sort_keys=True, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False)


# -- colour --------------------------------------------------------------------------------------

_COLORS = {"+": "32", "-": "31", "~": "33", "bold": "1", "dim": "2"}


def colour_wanted(stream: TextIO | None = None) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)())


class _Painter:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, style: str) -> str:
        code = _COLORS.get(style)
        return f"\x1b[{code}m{text}\x1b[0m" if self.enabled and code else text

    def symbol(self, symbol: str) -> str:
        if symbol == "-/+":
            return f"{self('-', '-')}/{self('+', '+')}"
        return self(symbol, symbol)


# -- text ----------------------------------------------------------------------------------------


def _symbol(change: ResourceChange) -> str:
    if change.actions == REPLACE:
        return "-/+"
    return {"create": "+", "update": "~", "delete": "-"}.get(change.actions[0], " ")


def _headline(change: ResourceChange) -> str:
    if change.type == "job":
        return {"create": "will run", "delete": "will be destroyed", "replace": "will be stopped and run again"}.get(
            change.action, change.action
        )
    return {
        "create": "will be created",
        "update": "will be updated in place",
        "replace": "must be replaced",
        "delete": "will be destroyed",
    }.get(change.action, change.action)


def _rows(change: ResourceChange) -> list[tuple[str, str, str, str]]:
    """(symbol, path, value text, trailing comment) for the body of a change block."""
    rows: list[tuple[str, str, str, str]] = []
    if change.actions == DELETE:
        before = change.before or {}
        rows.append(("-", "name", format_value(before.get("name")), ""))
        if change.type == "job" and before.get("state"):
            rows.append(("-", "state", format_value(before.get("state")), ""))
        return rows

    after = change.after or {}
    if change.type == "job":
        rows.append(("+", "name", KNOWN_AFTER_APPLY, ""))
        rows.append(("+", "task", format_value(after.get("task")), ""))
        if after.get("resolved_task") and after.get("resolved_task") != after.get("task"):
            rows.append(("+", "resolved_task", format_value(after.get("resolved_task")), ""))
        before = change.before or {}
        if before and before.get("inputs_hash") != after.get("inputs_hash"):
            rows.append(
                (
                    "~",
                    "inputs_hash",
                    f"{format_value(before.get('inputs_hash'))} -> {format_value(after.get('inputs_hash'))}",
                    "",
                )
            )
        rows.extend(_spec_rows(after.get("spec") or {}))
        return rows

    if change.actions == CREATE:
        rows.append(("+", "name", format_value(after.get("name")), ""))
        rows.extend(_spec_rows(after.get("spec") or {}))
        return rows
    rows.extend(_field_rows(change.changed_fields))
    if change.actions == REPLACE and not change.changed_fields:  # e.g. a platform change
        rows.append(
            (
                "~",
                "provider",
                f"{format_value((change.before or {}).get('provider'))} -> {format_value(after.get('provider'))}",
                "# forces replacement",
            )
        )
    return rows


def _spec_rows(spec: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [("+", format_path(list(path)), format_value(value), "") for path, value in flatten(normalise(spec))]


def _field_rows(fields: list[FieldChange]) -> list[tuple[str, str, str, str]]:
    rows = []
    for f in fields:
        comment = "# forces replacement" if f.forces_replacement else ""
        if f.kind == "added":
            rows.append(("+", f.path, format_value(f.new), comment))
        elif f.kind == "removed":
            rows.append(("-", f.path, f"{format_value(f.old)} -> null", comment))
        elif _multiline(f.old) or _multiline(f.new):
            rows.append(("~", f.path, _line_diff(str(f.old or ""), str(f.new or "")), comment))
        else:
            rows.append(("~", f.path, f"{format_value(f.old)} -> {format_value(f.new)}", comment))
    return rows


def _multiline(value: Any) -> bool:
    return isinstance(value, str) and "\n" in value


def _line_diff(old: str, new: str) -> str:
    """A changed multi-line string as a block of kept (two spaces), removed (-) and added (+) lines."""
    import difflib

    lines = [
        line
        for line in difflib.ndiff(old.rstrip("\n").split("\n"), new.rstrip("\n").split("\n"))
        if not line.startswith("?")
    ]
    return _heredoc(lines)


def _block(
    paint: _Painter, symbol: str, kind: str, label: str, rows: list[tuple[str, str, str, str]], header: list[str]
) -> list[str]:
    lines = [paint(f"  # {h}", "bold") if i == 0 else f"  # {h}" for i, h in enumerate(header)]
    lines.append(f'{" " * (3 - len(symbol))}{paint.symbol(symbol)} {kind} "{label}" {{')
    width = min(MAX_PATH_WIDTH, max((len(r[1]) for r in rows), default=0))
    for row_symbol, path, value, comment in rows:
        first, *rest = value.split("\n")
        text = f"      {paint.symbol(row_symbol)} {path:<{width}} = {first}"
        lines.append(f"{text} {paint(comment, 'dim')}" if comment else text)
        lines.extend(f"          {line}".rstrip() for line in rest)
    lines.append("    }")
    return lines


def _change_block(change: ResourceChange, paint: _Painter) -> list[str]:
    label = change.name if change.type == "endpoint" else change.address.split(".", 1)[1]
    header = [f"{change.address} {_headline(change)}"] + [f"({r})" for r in change.reasons]
    if change.depends_on and change.actions != DELETE:
        header.append(f"(after {', '.join(change.depends_on)})")
    return _block(paint, _symbol(change), change.type, label or change.address, _rows(change), header)


def summary_line(plan: Plan) -> str:
    s = plan.summary
    if any(c.is_change for c in plan.resource_changes):
        return (
            f"Plan: {s['add']} to add, {s['change']} to change, {s['replace']} to replace, "
            f"{s['destroy']} to destroy, {s['run']} jobs to run."
        )
    if plan.pending:
        return (
            f"No changes to resources. Apply will settle {len(plan.pending)} operation(s) an interrupted "
            "run left unfinished."
        )
    return "No changes. The platform matches the configuration."


def render_text(plan: Plan, *, color: bool | None = None) -> str:
    """The plan as Terraform-style text (no trailing newline). ``color=None`` decides from the
    terminal; ``NO_COLOR`` always wins."""
    enabled = colour_wanted() if color is None else (color and not os.environ.get("NO_COLOR"))
    paint = _Painter(enabled)
    lines: list[str] = []
    if not plan.refreshed:
        lines += ["Note: refresh skipped (--refresh=false): planned against the state file alone.", ""]
    if plan.drift:
        lines += [paint("Changed outside nimctl:", "bold"), ""]
        for item in plan.drift:
            if item.status == "deleted":
                lines += [
                    f"  # {item.address} has been deleted outside nimctl",
                    f'  {paint.symbol("-")} {item.type} "{item.name}"',
                    "",
                ]
            else:
                lines += _block(
                    paint,
                    "~",
                    item.type,
                    item.name,
                    _field_rows(list(item.fields)),
                    [f"{item.address} has changed outside nimctl"],
                ) + [""]
    if plan.pending:
        lines += [paint("An interrupted run left unfinished operations:", "bold"), ""]
        lines += [f"  # {p.description}" for p in plan.pending] + [""]

    shown = [c for c in plan.resource_changes if c.is_change]
    if shown:
        lines += ["nimctl will perform the following actions:", ""]
        for change in shown:
            lines += _change_block(change, paint) + [""]
    waiting = [
        c.address
        for c in plan.resource_changes
        if not c.is_change and c.type == "job" and any("apply waits" in r for r in c.reasons)
    ]
    if waiting:
        lines += [f"Still running from an earlier apply (apply waits for them): {', '.join(waiting)}", ""]
    lines += _cost_block(plan)
    lines.append(paint(summary_line(plan), "bold"))
    return "\n".join(lines)


def _cost_block(plan: Plan) -> list[str]:
    """GPU-hours, prices and the worst case (``nimctl.plan.cost``), with its gap warnings."""
    if plan.cost is None:
        return []
    from nimctl.plan.cost import text_lines

    lines = text_lines(plan.cost)
    warnings = [w for e in plan.cost.endpoints for w in e.warnings]
    lines += [f"Warning: {w}" for w in warnings]
    return [*lines, ""] if lines else []


# -- JSON ----------------------------------------------------------------------------------------


def _change_json(change: ResourceChange) -> dict[str, Any]:
    return {
        "address": change.address,
        "type": change.type,
        "name": change.name,
        "stack": change.stack,
        "provider": change.provider,
        "actions": list(change.actions),
        "before": display(change.before),
        "after": display(change.after),
        "reasons": list(change.reasons),
        "changed_fields": [display(f.to_dict()) for f in change.changed_fields],
        "depends_on": list(change.depends_on),
    }


def render_json(plan: Plan) -> dict[str, Any]:
    """The ``--json`` document (a dict; ``json.dumps`` it once). Secrets appear as ``(sensitive)``."""
    summary = plan.summary
    return {
        "format_version": FORMAT_VERSION,
        "refreshed": plan.refreshed,
        "targets": list(plan.targets),
        "resource_changes": [_change_json(c) for c in plan.resource_changes],
        "drift": [display(d.to_dict()) for d in plan.drift],
        "pending": [p.to_dict() for p in plan.pending],
        "summary": {**summary, "text": summary_line(plan)},
        "warnings": list(plan.warnings),
        **({"cost": plan.cost.to_dict()} if plan.cost is not None else {}),
    }


def render_json_text(plan: Plan) -> str:
    """The ``--json`` document as text: exactly one JSON value."""
    return json.dumps(render_json(plan), indent=2, ensure_ascii=False)
