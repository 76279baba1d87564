"""Where a composed config's keys were written, and problems placed at their lines.

Takes the layers of one composition (the user's file, bundled group files, ``-o`` overrides) and
key paths. Gives:

- ``Source`` — one layer and the (line, column) of every key path it writes;
- ``source_of`` / ``origin`` — the layer merged last that writes a key path (``origin`` falls back
  to the nearest written parent);
- ``Reporter`` — collects one user file's problems, each at the line of its key path (or of the
  nearest written parent) in that file; ``report_at_source`` says which layer a problem came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nimctl.common import keypath
from nimctl.common.errors import ConfigProblem

if TYPE_CHECKING:
    from nimctl.config.yaml_source import SourceDoc


@dataclass
class Source:
    """One layer of a composed config, for finding where a key path was written."""

    label: str  # the file path, or "<override -o key.path>"
    marks: dict[str, tuple[int, int]] = field(default_factory=dict)  # key path -> (line, column)
    kind: str = "user"  # "user" | "group" | "override"
    override_path: str | None = None  # overrides cover this path and everything under it
    group: str | None = None  # e.g. "deployment/nim"

    def find(self, key_path: str) -> tuple[int | None, int | None] | None:
        if self.kind == "override":
            root = self.override_path or ""
            if key_path == root or key_path.startswith(root + "."):
                return (None, None)
            return None
        return self.marks.get(key_path)


def source_of(key_path: str, sources: list[Source]) -> Source | None:
    """The layer merged last that writes ``key_path`` itself."""
    for source in reversed(sources):
        if source.find(key_path) is not None:
            return source
    return None


def origin(key_path: str, sources: list[Source]) -> Source | None:
    """The source that gave ``key_path`` (or its nearest parent) its value."""
    for candidate in keypath.lineage(key_path):
        source = source_of(candidate, sources)
        if source is not None:
            return source
    return None


class Reporter:
    """Collects problems of one user file, placing each at its line where the file has it."""

    def __init__(self, doc: SourceDoc) -> None:
        self.doc = doc
        self.problems: list[ConfigProblem] = []
        self.reported: set[str] = set()

    def where(self, key_path: str) -> tuple[int | None, int | None]:
        for candidate in keypath.lineage(key_path):
            mark = self.doc.marks.get(candidate)
            if mark:
                return mark
        return (None, None)

    def add(
        self, key_path: str, message: str, hint: str | None = None, *, at: str | None = None, severity: str = "error"
    ) -> None:
        line, column = self.where(at if at is not None else key_path)
        self.problems.append(ConfigProblem(self.doc.file, key_path, message, line, column, hint, severity))
        if severity == "error":
            self.reported.add(key_path)


def report_at_source(report: Reporter, source: Source, key_path: str, message: str, hint: str | None = None) -> None:
    if source.kind == "user":
        report.add(key_path, message, hint)
    elif source.kind == "group":
        line = source.marks.get(key_path, (None, None))[0]
        where = f" (bundled group {source.group}" + (f", line {line})" if line else ")")
        report.add(key_path, message + where, hint)
    else:
        report.add(key_path, f"{message} (from {source.label})", hint)
