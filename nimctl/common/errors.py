"""The errors nimctl shows to a user.

Every error a user can cause (bad config, stale plan, held lock, platform refusal) is a
``NimctlError``: the CLI prints its message and hint and exits non-zero without a traceback.
Anything else escaping to the CLI is a bug in nimctl.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class NimctlError(Exception):
    """A failure with a message for the user and, where known, what to do next."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


MAX_SHOWN = 600  # characters of a message or key path shown; a 1 MB value echoed back helps nobody


def _clip(text: str) -> str:
    if len(text) <= MAX_SHOWN:
        return text
    return f"{text[:400]}... [{len(text) - 500} characters left out] ...{text[-100:]}"


@dataclass(frozen=True)
class ConfigProblem:
    """One problem found in a config file: where it is, what is wrong, how to fix it."""

    file: str
    key_path: str  # dotted, e.g. "deployment.lepton_config.max_replicas" ("" for the whole file)
    message: str
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based
    hint: str | None = None
    severity: str = "error"  # "error" | "warning"

    def render(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        key = f" {_clip(self.key_path)}:" if self.key_path else ""
        text = f"{where}: {self.severity}:{key} {_clip(self.message)}"
        if self.hint:
            text += f"\n    fix: {self.hint}"
        return text


@dataclass
class ConfigError(NimctlError):
    """All the problems of one or more config files, reported together."""

    problems: list[ConfigProblem] = field(default_factory=list)

    def __post_init__(self) -> None:
        errors = [p for p in self.problems if p.severity == "error"]
        NimctlError.__init__(self, "\n".join(p.render() for p in self.problems) or "invalid config")
        self.error_count = len(errors)
