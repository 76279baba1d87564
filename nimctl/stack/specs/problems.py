"""The problems found while building one stack: ``Problem`` (key path, message, hint, severity)
and ``Problems``, which collects them so that all are reported together."""

from __future__ import annotations

from typing import NamedTuple

# Light types (NamedTuple / plain classes): this module is imported by `nimctl validate`,
# where every millisecond of start-up counts, and a dataclass costs about one to create.


class Problem(NamedTuple):
    key_path: str
    message: str
    hint: str | None = None
    severity: str = "error"


class Problems:
    """Problems found while building one stack; all of them are reported together."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def error(self, key_path: str, message: str, hint: str | None = None) -> None:
        self.items.append(Problem(key_path, message, hint))

    def warn(self, key_path: str, message: str, hint: str | None = None) -> None:
        self.items.append(Problem(key_path, message, hint, "warning"))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.items if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.items if p.severity == "warning"]
