"""Showing a plan: Terraform-style text, and the stable ``--json`` document.

Text is built as plain lines (no rich: nothing to import, output identical on and off a terminal);
colour is a few ANSI codes added only when the caller asks (whether a terminal wants them is the CLI's call). Secret values are
never shown: a redacted fingerprint prints as ``(sensitive)`` in text and JSON alike.

Jobs of one stack mostly share their spec (the runner script, the endpoint wiring, mounts): the
text shows the fields they all have once, in a ``job "<stack>.*"`` block, and then each job with
only its own (task, image, run-config fields, env names, output location). A multi-line value
that is a YAML mapping (a run config) is shown as its fields, so one differing key does not
repeat the whole document. ``verbose=True`` shows every job in full, each value as written; the
JSON document always holds every spec whole.

The JSON document is described by ``schemas/nimctl-plan.schema.json`` (format_version 1.0).
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from nimctl.common import terminal
from nimctl.common.secrets import is_redacted
from nimctl.plan.actions import KNOWN_AFTER_APPLY, Action, Plan, ResourceChange
from nimctl.plan.canonical import flatten, format_path, normalise
from nimctl.plan.diff import FieldChange
from nimctl.plan.refresh import RefreshStatus

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

_STYLES = {"+": "green", "-": "red", "~": "yellow", "bold": "bold", "dim": "dim"}


class _Painter:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, style: str) -> str:
        known = _STYLES.get(style)
        return terminal.paint(text, known) if self.enabled and known else text

    def symbol(self, symbol: str) -> str:
        if symbol == "-/+":
            return f"{self('-', '-')}/{self('+', '+')}"
        return self(symbol, symbol)


# -- text ----------------------------------------------------------------------------------------


def _symbol(change: ResourceChange) -> str:
    if change.blocked and not change.action.is_replace:
        return "!"
    return change.action.symbol


def _headline(change: ResourceChange) -> str:
    if change.type == "job":
        return {"create": "will run", "delete": "will be destroyed", "replace": "will be stopped and run again"}.get(
            change.action.value, change.action.value
        )
    if change.blocked:
        return "cannot be created: the name is taken"
    return {
        "create": "will be created",
        "share": "will be used as shared (not owned by this state)",
        "update": "will be updated in place",
        "replace": "must be replaced",
        "delete": "will be destroyed",
    }.get(change.action.value, change.action.value)


class _Row(NamedTuple):
    """One line of a change block (plus continuation lines when ``value`` has several)."""

    symbol: str
    path: str
    value: str  # already formatted
    comment: str = ""
    inner: str | None = None  # set for a field of the YAML document that ``path`` holds

    @property
    def key(self) -> tuple[str, str | None, str]:
        return (self.path, self.inner, self.value)


def _rows(change: ResourceChange, *, shared: frozenset[tuple[str, str | None, str]] = frozenset()) -> list[_Row]:
    """The body of a change block; for a job, the spec fields in ``shared`` are left out (they
    are shown once for the group)."""
    rows: list[_Row] = []
    if change.action is Action.DELETE:
        before = change.before or {}
        rows.append(_Row("-", "name", format_value(before.get("name"))))
        if change.type == "job" and before.get("state"):
            rows.append(_Row("-", "state", format_value(before.get("state"))))
        return rows

    after = change.after or {}
    if change.type == "job":
        rows.append(_Row("+", "name", KNOWN_AFTER_APPLY))
        rows.append(_Row("+", "task", format_value(after.get("task"))))
        if after.get("resolved_task") and after.get("resolved_task") != after.get("task"):
            rows.append(_Row("+", "resolved_task", format_value(after.get("resolved_task"))))
        limit = after.get("time_limit") or {}
        if limit.get("seconds"):
            rows.append(_Row("+", "time_limit", f"{limit['seconds']} s", f"# {limit.get('source') or ''}"))
        before = change.before or {}
        if before and before.get("inputs_hash") != after.get("inputs_hash"):
            old, new = format_value(before.get("inputs_hash")), format_value(after.get("inputs_hash"))
            rows.append(_Row("~", "inputs_hash", f"{old} -> {new}"))
        spec_rows = _spec_rows(after.get("spec") or {}, documents=bool(shared))
        rows.extend(row for row in spec_rows if row.key not in shared)
        return rows

    if change.action is Action.SHARE:
        rows.append(_Row(" ", "name", format_value(after.get("name"))))
        return rows
    if change.action is Action.CREATE:
        rows.append(_Row("+", "name", format_value(after.get("name"))))
        rows.extend(_spec_rows(after.get("spec") or {}))
        return rows
    rows.extend(_field_rows(change.changed_fields))
    if change.action is Action.REPLACE and not change.changed_fields:  # e.g. a platform change
        old, new = format_value((change.before or {}).get("provider")), format_value(after.get("provider"))
        rows.append(_Row("~", "provider", f"{old} -> {new}", "# forces replacement"))
    return rows


def _yaml_mapping(value: Any) -> dict[str, Any] | None:
    """A multi-line string that holds a YAML mapping, parsed (else None)."""
    if not (isinstance(value, str) and "\n" in value.strip()):
        return None
    import yaml

    try:
        document = yaml.safe_load(value)
    except yaml.YAMLError:
        return None
    return document if isinstance(document, dict) and document else None


def _spec_rows(spec: dict[str, Any], *, documents: bool = False) -> list[_Row]:
    """A spec's leaves; with ``documents``, a YAML mapping held in a string becomes its fields."""
    rows = []
    for path, value in flatten(normalise(spec)):
        text = format_path(list(path))
        document = _yaml_mapping(value) if documents else None
        if document is None:
            rows.append(_Row("+", text, format_value(value)))
            continue
        for inner, item in flatten(normalise(document)):
            rows.append(_Row("+", text, format_value(display(item)), inner=format_path(list(inner))))
    return rows


def _field_rows(fields: list[FieldChange]) -> list[_Row]:
    rows = []
    for f in fields:
        comment = "# forces replacement" if f.forces_replacement else ""
        if f.kind == "added":
            rows.append(_Row("+", f.path, format_value(f.new), comment))
        elif f.kind == "removed":
            rows.append(_Row("-", f.path, f"{format_value(f.old)} -> null", comment))
        elif _multiline(f.old) or _multiline(f.new):
            rows.append(_Row("~", f.path, _line_diff(str(f.old or ""), str(f.new or "")), comment))
        else:
            rows.append(_Row("~", f.path, f"{format_value(f.old)} -> {format_value(f.new)}", comment))
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


def _nest(rows: list[_Row]) -> list[_Row]:
    """Rows of one YAML document folded into one row whose value is a ``(YAML) { ... }`` block."""
    out: list[_Row] = []
    index = 0
    while index < len(rows):
        row = rows[index]
        if row.inner is None:
            out.append(row)
            index += 1
            continue
        end = index
        while end < len(rows) and rows[end].path == row.path and rows[end].inner is not None:
            end += 1
        members = rows[index:end]
        width = min(MAX_PATH_WIDTH, max(len(m.inner or "") for m in members))
        body = [f"  {m.inner or '':<{width}} = {m.value}" for m in members]
        out.append(_Row(row.symbol, row.path, "\n".join(["(YAML) {", *body, "}"]), row.comment))
        index = end
    return out


def _block(paint: _Painter, symbol: str, kind: str, label: str, rows: list[_Row], header: list[str]) -> list[str]:
    lines = [paint(f"  # {h}", "bold") if i == 0 else f"  # {h}" for i, h in enumerate(header)]
    lines.append(f'{" " * (3 - len(symbol))}{paint.symbol(symbol)} {kind} "{label}" {{')
    rows = _nest(rows)
    width = min(MAX_PATH_WIDTH, max((len(r.path) for r in rows), default=0))
    for row in rows:
        first, *rest = row.value.split("\n")
        text = f"      {paint.symbol(row.symbol)} {row.path:<{width}} = {first}"
        lines.append(f"{text} {paint(row.comment, 'dim')}" if row.comment else text)
        lines.extend(f"          {line}".rstrip() for line in rest)
    lines.append("    }")
    return lines


class _JobGroup(NamedTuple):
    """Jobs of one stack that run with full specs, and the spec fields they all have."""

    stack: str
    addresses: tuple[str, ...]
    shared: frozenset[tuple[str, str | None, str]]
    rows: list[_Row]  # the shared fields, in spec order


def _job_groups(changes: list[ResourceChange]) -> dict[str, _JobGroup]:
    """Address → its group, for stacks with two or more jobs to run that share spec fields."""
    by_stack: dict[str, list[ResourceChange]] = {}
    for change in changes:
        if change.type == "job" and change.action.creates and (change.after or {}).get("spec"):
            by_stack.setdefault(change.stack, []).append(change)
    groups: dict[str, _JobGroup] = {}
    for stack, members in by_stack.items():
        if len(members) < 2:
            continue
        rows = [_spec_rows((m.after or {})["spec"], documents=True) for m in members]
        shared = frozenset.intersection(*(frozenset(r.key for r in job_rows) for job_rows in rows))
        if not shared:
            continue
        group = _JobGroup(stack, tuple(m.address for m in members), shared, [r for r in rows[0] if r.key in shared])
        for member in members:
            groups[member.address] = group
    return groups


def _group_block(group: _JobGroup, paint: _Painter) -> list[str]:
    count = len(group.addresses)
    header = [
        f"the {count} jobs of stack {group.stack} below all run with these fields",
        "(each job shows only its own; `nimctl plan --verbose` shows every job in full)",
    ]
    return _block(paint, "+", "job", f"{group.stack}.*", group.rows, header)


def _change_block(change: ResourceChange, paint: _Painter, group: _JobGroup | None = None) -> list[str]:
    label = change.name if change.type == "endpoint" else change.address.split(".", 1)[1]
    header = [f"{change.address} {_headline(change)}"] + [f"({r})" for r in change.reasons]
    if change.type == "job" and change.action is not Action.DELETE:
        header += [f"note: {n}" for n in (change.after or {}).get("notes") or []]
    if change.depends_on and change.action is not Action.DELETE:
        header.append(f"(after {', '.join(change.depends_on)})")
    rows = _rows(change, shared=group.shared if group else frozenset())
    return _block(paint, _symbol(change), change.type, label or change.address, rows, header)


def summary_line(plan: Plan) -> str:
    s = plan.summary
    if plan.conflicts:
        names = ", ".join(c.name or c.address for c in plan.conflicts)
        return f"Plan refused: {len(plan.conflicts)} endpoint name(s) held by someone else ({names}); see above."
    if any(c.is_change for c in plan.resource_changes):
        shared = f", {s['share']} to share" if s.get("share") else ""
        return (
            f"Plan: {s['add']} to add, {s['change']} to change, {s['replace']} to replace, "
            f"{s['destroy']} to destroy, {s['run']} jobs to run{shared}."
        )
    if plan.pending:
        return (
            f"No changes to resources. Apply will settle {len(plan.pending)} operation(s) an interrupted "
            "run left unfinished."
        )
    return "No changes. The platform matches the configuration."


def render_text(plan: Plan, *, color: bool = False, verbose: bool = False) -> str:
    """The plan as Terraform-style text (no trailing newline). ``color`` adds ANSI colour (the CLI
    passes its terminal's rule, which ``NO_COLOR`` turns off). ``verbose`` shows every job's spec in full."""
    paint = _Painter(color)
    lines: list[str] = []
    if not plan.refreshed:
        lines += ["Note: refresh skipped (--refresh=false): planned against the state file alone.", ""]
    if plan.drift:
        lines += [paint("Changed outside nimctl:", "bold"), ""]
        for item in plan.drift:
            if item.status is RefreshStatus.DELETED:
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
        groups = {} if verbose else _job_groups(shown)
        for change in shown:
            group = groups.get(change.address)
            if group and group.addresses[0] == change.address:
                lines += _group_block(group, paint) + [""]
            lines += _change_block(change, paint, group) + [""]
    waiting = [
        c.address
        for c in plan.resource_changes
        if not c.is_change and c.type == "job" and any("apply waits" in r for r in c.reasons)
    ]
    if waiting:
        lines += [f"Still running from an earlier apply (apply waits for them): {', '.join(waiting)}", ""]
    lines += _cost_block(plan)
    if plan.untouched_stacks:
        count = len(plan.untouched_stacks)
        lines += [
            f"{count} other stack{'s' if count > 1 else ''} in this state "
            f"{'are' if count > 1 else 'is'} untouched ({', '.join(plan.untouched_stacks)}); "
            "`nimctl apply --prune` removes stacks the given configs do not name.",
            "",
        ]
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
        "actions": change.actions,
        "before": display(change.before),
        "after": display(change.after),
        "reasons": list(change.reasons),
        "changed_fields": [display(f.to_dict()) for f in change.changed_fields],
        "depends_on": list(change.depends_on),
        **({"owner": change.owner} if change.owner else {}),
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
        "untouched_stacks": list(plan.untouched_stacks),
        **({"cost": plan.cost.to_dict()} if plan.cost is not None else {}),
    }


def render_json_text(plan: Plan) -> str:
    """The ``--json`` document as text: exactly one JSON value."""
    return json.dumps(render_json(plan), indent=2, ensure_ascii=False)
