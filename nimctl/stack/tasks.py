"""Task name → what runs it: a harness container (NeMo Evaluator), or a nimctl built-in.

Takes a task name as written in a config (``lm-evaluation-harness.ifeval`` or bare ``gsm8k``)
and gives a ``ResolvedTask`` (harness, task, image, endpoint type, and a note when nimctl made a
choice the user should see); also the whole table, for ``nimctl tasks``.

The table is the NeMo Evaluator launcher's own task mapping, generated from its release wheel
into ``data/launcher_tasks.json`` (``tools/launcher_tasks.py`` regenerates it), so every task the
launcher knows resolves here, to the same image and endpoint type, without the launcher
installed. An installed ``nemo_evaluator_launcher`` newer than the release the table came from
replaces it (its loader is imported only then: it is slow to import). The table is read on
first use, never at start-up.

A bare name that several harnesses define is ambiguous unless ``PREFERRED_HARNESS`` says which
one nimctl picks; the choice is reported back as a note.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from nimctl.common.errors import NimctlError

LAUNCHER_PACKAGE = "nemo-evaluator-launcher"
LAUNCHER_MODULE = "nemo_evaluator_launcher"
TABLE_FILE = Path(__file__).with_name("data") / "launcher_tasks.json"
BUILTIN_HARNESS = "nimctl"
BUILTIN_TASKS = ("smoke", "perf")
ENDPOINT_TYPES = ("chat", "completions", "embedding", "ranking", "vlm")

# Bare names defined by several harnesses that nimctl nevertheless resolves, and to what.
# ``ifeval`` is the seed document's own example: it means the lm-evaluation-harness variant.
PREFERRED_HARNESS: dict[str, str] = {
    "ifeval": "lm-evaluation-harness",
    "hle": "hle",
    "scicode": "scicode",
    "ifbench": "ifbench",
}


@dataclass(frozen=True)
class TaskRow:
    """One task of the launcher's mapping, with the fields of ``nel ls tasks --json``."""

    harness: str
    task: str
    endpoint_type: str
    container: str | None  # None for nimctl built-ins (they run in nimctl's own Python)
    arch: str = ""
    description: str | list[str] = ""  # the launcher's own value (one task's is a list of lines)

    @property
    def summary(self) -> str:
        text = " ".join(self.description) if isinstance(self.description, list) else self.description
        return " ".join(text.split())

    @property
    def qualified(self) -> str:
        return f"{self.harness}.{self.task}"

    @property
    def builtin(self) -> bool:
        return self.harness == BUILTIN_HARNESS

    def launcher_json(self) -> dict[str, Any]:
        """The row as ``nel ls tasks --json`` prints it (same keys, same order)."""
        return {
            "task": self.task,
            "endpoint_type": self.endpoint_type,
            "harness": self.harness,
            "container": self.container,
            "arch": self.arch,
            "description": self.description,
        }


BUILTIN_ROWS = (
    TaskRow(BUILTIN_HARNESS, "smoke", "chat", None, description="nimctl's smoke test of an OpenAI-compatible API"),
    TaskRow(BUILTIN_HARNESS, "perf", "chat", None, description="nimctl's small load test (latency, throughput)"),
)


@dataclass(frozen=True)
class TaskTable:
    """The harness tasks nimctl knows, and where they came from."""

    rows: tuple[TaskRow, ...]
    version: str  # the launcher release the rows came from
    origin: str  # "bundled" (nimctl's generated table) or "installed" (the launcher's own loader)
    entries: dict[tuple[str, str], TaskRow] = field(init=False, repr=False, compare=False)
    by_bare_name: dict[str, tuple[TaskRow, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        entries: dict[tuple[str, str], TaskRow] = {}
        bare: dict[str, list[TaskRow]] = {}
        for row in self.rows:
            if (row.harness, row.task) not in entries:  # the launcher keeps the first, too
                entries[(row.harness, row.task)] = row
                bare.setdefault(row.task, []).append(row)
        for row in BUILTIN_ROWS:
            entries[(row.harness, row.task)] = row
        object.__setattr__(self, "entries", entries)
        object.__setattr__(self, "by_bare_name", {k: tuple(v) for k, v in bare.items()})

    @property
    def source(self) -> str:
        where = "nimctl's bundled table" if self.origin == "bundled" else "the installed launcher"
        return f"{LAUNCHER_PACKAGE} {self.version} ({where})"

    def harness_rows(self) -> list[TaskRow]:
        return [row for row in self.entries.values() if not row.builtin]

    def ambiguous(self) -> dict[str, tuple[TaskRow, ...]]:
        """Bare names several harnesses define."""
        return {name: rows for name, rows in self.by_bare_name.items() if len(rows) > 1}


@dataclass(frozen=True)
class ResolvedTask:
    """What a task name means: which harness runs it, in which image, against which API."""

    query: str  # the name as written
    harness: str
    task: str
    image: str | None  # None for nimctl built-ins (they run in nimctl's own Python)
    endpoint_type: str
    note: str | None = None  # set when nimctl made a choice the user should see

    @property
    def qualified(self) -> str:
        return f"{self.harness}.{self.task}"

    @property
    def builtin(self) -> bool:
        return self.harness == BUILTIN_HARNESS


class UnknownTask(NimctlError):
    def __init__(self, name: str, suggestions: list[str]) -> None:
        hint = (
            f"did you mean {', '.join(suggestions)}? (`nimctl tasks` lists them all)"
            if suggestions
            else (
                "use a known task (harness.task; `nimctl tasks` lists them), or give the task a "
                "`container:` or `command:`"
            )
        )
        super().__init__(f"unknown task {name!r}", hint)
        self.name = name
        self.suggestions = suggestions


class AmbiguousTask(NimctlError):
    def __init__(self, name: str, candidates: list[str]) -> None:
        harnesses = ", ".join(c.split(".", 1)[0] for c in candidates)
        super().__init__(
            f"task {name!r} is ambiguous: harnesses {harnesses} all define it",
            f"write the qualified name, one of: {', '.join(candidates)}",
        )
        self.name = name
        self.candidates = candidates


# -- the table ----------------------------------------------------------------------------------


def version_key(version: str) -> tuple[int, ...]:
    """``0.2.10`` > ``0.2.6``: numeric release parts only (a pre-release counts as its release)."""
    match = re.match(r"\d+(?:\.\d+)*", version.strip())
    return tuple(int(part) for part in match.group(0).split(".")) if match else ()


def rows_from_document(document: dict[str, Any]) -> tuple[TaskRow, ...]:
    return tuple(
        TaskRow(
            harness=str(row["harness"]),
            task=str(row["task"]),
            endpoint_type=str(row.get("endpoint_type") or "chat"),
            container=str(row["container"]) if row.get("container") else None,
            arch=str(row.get("arch") or ""),
            description=_description(row.get("description")),
        )
        for row in document["tasks"]
    )


def _description(value: Any) -> str | list[str]:
    if isinstance(value, list):
        return [str(line) for line in value]
    return str(value or "")


def bundled_table() -> TaskTable:
    document = json.loads(TABLE_FILE.read_text(encoding="utf-8"))
    return TaskTable(rows_from_document(document), str(document["source"]["version"]), "bundled")


def installed_launcher_version() -> str | None:
    """The installed launcher's version, without importing it (None when it is not installed)."""
    import importlib.util

    try:
        if importlib.util.find_spec(LAUNCHER_MODULE) is None:
            return None
        from importlib.metadata import version

        return version(LAUNCHER_PACKAGE)
    except Exception:  # a broken or metadata-less install: the bundled table stands
        return None


def installed_launcher_table(version: str) -> TaskTable | None:
    """The rows the installed launcher's own loader gives (None if it cannot give them)."""
    try:
        from nemo_evaluator_launcher.common.mapping import load_tasks_mapping  # type: ignore[import-not-found]

        mapping: Any = load_tasks_mapping()
    except Exception:  # an incompatible release: the bundled table stands
        return None
    if not isinstance(mapping, dict):
        return None
    rows = []
    for key, value in mapping.items():
        if isinstance(key, tuple) and len(key) == 2 and isinstance(value, dict):
            rows.append({"harness": key[0], "task": key[1], **value})
    if not rows:
        return None
    return TaskTable(rows_from_document({"tasks": rows}), version, "installed")


@lru_cache(maxsize=1)
def task_table() -> TaskTable:
    """The bundled table, unless an installed launcher is newer than the release it came from."""
    bundled = bundled_table()
    installed = installed_launcher_version()
    if installed and version_key(installed) > version_key(bundled.version):
        return installed_launcher_table(installed) or bundled
    return bundled


def list_tasks(pattern: str | None = None) -> list[TaskRow]:
    """Every task nimctl resolves (built-ins last), or those whose qualified name contains
    ``pattern`` (case-insensitive)."""
    table = task_table()
    rows = [*table.harness_rows(), *BUILTIN_ROWS]
    if pattern:
        needle = pattern.strip().lower()
        rows = [row for row in rows if needle in row.qualified.lower()]
    return rows


# -- resolution ---------------------------------------------------------------------------------


def _resolved(query: str, row: TaskRow, note: str | None = None) -> ResolvedTask:
    table = task_table()
    if note is None and table.origin == "installed" and not row.builtin:
        note = f"{row.qualified} resolved through {table.source}"
    return ResolvedTask(query, row.harness, row.task, row.container, row.endpoint_type, note)


def resolve_task(name: str) -> ResolvedTask:
    """Resolve a task name; raises UnknownTask (with close matches) or AmbiguousTask."""
    name = name.strip()
    table = task_table()
    harness, dot, task = name.partition(".")
    if dot and (harness, task) in table.entries:
        return _resolved(name, table.entries[(harness, task)])
    candidates = table.by_bare_name.get(name, ())
    if len(candidates) == 1:
        return _resolved(name, candidates[0])
    if len(candidates) > 1:
        return _pick_preferred(name, candidates)
    raise UnknownTask(name, suggest_tasks(name))


def _pick_preferred(name: str, candidates: tuple[TaskRow, ...]) -> ResolvedTask:
    preferred = PREFERRED_HARNESS.get(name)
    for row in candidates:
        if row.harness == preferred:
            others = ", ".join(c.qualified for c in candidates if c is not row)
            note = (
                f"{name} resolved to {row.qualified} (nimctl's preferred choice; "
                f"also defined as {others} - write the qualified name to choose)"
            )
            return _resolved(name, row, note)
    raise AmbiguousTask(name, sorted(c.qualified for c in candidates))


def suggest_tasks(name: str, limit: int = 3) -> list[str]:
    """Known task names close to ``name`` (best first)."""
    names = known_task_names()
    lowered = {n.lower(): n for n in names}
    hits = difflib.get_close_matches(name.lower(), list(lowered), n=limit, cutoff=0.6)
    return [lowered[h] for h in hits]


@lru_cache(maxsize=1)
def known_task_names() -> tuple[str, ...]:
    """Every name resolve_task accepts: qualified names, and bare names that are unique or have a
    preferred resolution."""
    table = task_table()
    names = {row.qualified for row in table.entries.values()}
    for bare, rows in table.by_bare_name.items():
        if len(rows) == 1 or bare in PREFERRED_HARNESS:
            names.add(bare)
    return tuple(sorted(names))
