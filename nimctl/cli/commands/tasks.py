"""``nimctl tasks``: the evaluation tasks nimctl resolves, as a grouped listing or as JSON.

Takes the task table (``nimctl.stack.tasks``) and an optional filter; prints one group per
harness (its image once, then its tasks with endpoint type and description, cut to the terminal
width), or ``{"tasks": [...]}`` with the keys of ``nel ls tasks --json`` so scripts port.
"""

from __future__ import annotations

import shutil
import textwrap
from typing import TYPE_CHECKING, Any

import typer

from nimctl.cli.ui import UI

if TYPE_CHECKING:
    from nimctl.stack.tasks import TaskRow

AMBIGUOUS_MARK = "*"


def tasks(
    pattern: str = typer.Argument(None, help="Only tasks whose harness.task name contains this (case-insensitive)."),
    json_output: bool = typer.Option(False, "--json", help='{"tasks": [...]} with the keys of `nel ls tasks --json`.'),
) -> None:
    """The evaluation tasks nimctl knows: the NeMo Evaluator launcher's, and nimctl's built-ins."""
    raise typer.Exit(run_tasks(UI(), pattern, json_output=json_output))


def tasks_document(rows: list[TaskRow]) -> dict[str, Any]:
    """``tasks`` has exactly ``nel ls tasks --json``'s shape; nimctl's own tasks (no image) and
    the table's origin are under keys of their own, so a script written for the launcher works."""
    from nimctl.stack.tasks import task_table

    table = task_table()
    return {
        "tasks": [row.launcher_json() for row in rows if not row.builtin],
        "builtin_tasks": [row.launcher_json() for row in rows if row.builtin],
        "source": {"package": "nemo-evaluator-launcher", "version": table.version, "origin": table.origin},
    }


def _cut(text: str, width: int) -> str:
    text = text.lstrip("- ")  # some descriptions are "- a. - b." lists
    if width <= 1:
        return ""
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def render_listing(rows: list[TaskRow], *, width: int) -> list[str]:
    from nimctl.stack.tasks import task_table

    table = task_table()
    ambiguous = table.ambiguous()
    groups: dict[tuple[str, str | None], list[TaskRow]] = {}
    for row in rows:
        groups.setdefault((row.harness, row.container), []).append(row)
    names = {id(row): row.task + (AMBIGUOUS_MARK if row.task in ambiguous else "") for row in rows}
    name_width = max((len(n) for n in names.values()), default=4)
    type_width = max((len(row.endpoint_type) for row in rows), default=4)
    lines: list[str] = []
    for (harness, container), members in groups.items():
        if lines:
            lines.append("")
        where = container or "runs in nimctl's own Python"
        count = f"{len(members)} task" + ("s" if len(members) != 1 else "")
        lines.append(f"{harness}  ({count}; {where})")
        for row in members:
            prefix = f"  {names[id(row)].ljust(name_width)}  {row.endpoint_type.ljust(type_width)}  "
            lines.append((prefix + _cut(row.summary, width - len(prefix))).rstrip())
    return lines


def _footer(rows: list[TaskRow], pattern: str | None, width: int) -> list[str]:
    from nimctl.stack.tasks import PREFERRED_HARNESS, list_tasks, task_table

    table = task_table()
    harness_rows = [r for r in rows if not r.builtin]
    builtins = len(rows) - len(harness_rows)
    counted = f"{len(harness_rows)} tasks in {len({r.harness for r in harness_rows})} harnesses from {table.source}"
    if builtins:
        counted += f", and {builtins} nimctl built-in(s)"
    if pattern:
        counted = f"{len(rows)} of {len(list_tasks())} tasks match {pattern!r}: {counted}"
    paragraphs = [counted + ".", "In a config: `- name: harness.task`, or the bare task name where it is unique."]
    ambiguous = table.ambiguous()
    if any(r.task in ambiguous for r in rows):
        preferred = ", ".join(f"{name} means {harness}.{name}" for name, harness in PREFERRED_HARNESS.items())
        paragraphs.append(
            f"{AMBIGUOUS_MARK} several harnesses define this bare name: write harness.task. "
            f"Only these resolve bare, with a note in the plan: {preferred}."
        )
    return ["", *(textwrap.fill(p, width=width, break_on_hyphens=False) for p in paragraphs)]


def run_tasks(ui: UI, pattern: str | None, *, json_output: bool) -> int:
    import json

    from nimctl.stack.tasks import list_tasks, suggest_tasks

    rows = list_tasks(pattern)
    if json_output:
        ui.print(json.dumps(tasks_document(rows), indent=2, ensure_ascii=False))
        return 0
    if not rows:
        hint = suggest_tasks(pattern or "")
        also = f"; did you mean {', '.join(hint)}?" if hint else ""
        ui.print(f"No task name contains {pattern!r}{also} (`nimctl tasks` lists all {len(list_tasks())}).")
        return 1
    width = max(60, shutil.get_terminal_size((100, 24)).columns)
    ui.print("\n".join(render_listing(rows, width=width) + _footer(rows, pattern, width)))
    return 0
