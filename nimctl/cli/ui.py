"""Console output: messages, tables and live progress.

Plain text is the default path and costs nothing at start-up; rich is imported only when a live
display or a coloured table is actually drawn on a terminal. ``NO_COLOR`` and non-TTY output
degrade to plain lines.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from nimctl.common.terminal import color_enabled, is_tty, paint

if TYPE_CHECKING:
    from rich.live import Live


class UI:
    """Where nimctl talks to the user. Normal output goes to stdout, problems to stderr."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None, *, quiet: bool = False) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.quiet = quiet
        self.color = color_enabled(self.out)
        self.tty = is_tty(self.out)
        self._write_lock = threading.Lock()

    # -- plain messages ------------------------------------------------------------------------
    def _style(self, text: str, style: str) -> str:
        return paint(text, style) if self.color else text

    def print(self, text: str = "") -> None:
        if self.quiet:
            return
        with self._write_lock:
            self.out.write(text + "\n")
            self.out.flush()

    def info(self, text: str) -> None:
        self.print(text)

    def success(self, text: str) -> None:
        self.print(self._style(text, "green"))

    def bold(self, text: str) -> str:
        return self._style(text, "bold")

    def warn(self, text: str) -> None:
        with self._write_lock:
            prefix = paint("Warning:", "yellow") if color_enabled(self.err) else "Warning:"
            self.err.write(f"{prefix} {text}\n")
            self.err.flush()

    def error(self, text: str) -> None:
        with self._write_lock:
            prefix = paint("Error:", "red") if color_enabled(self.err) else "Error:"
            self.err.write(f"{prefix} {text}\n")
            self.err.flush()

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        """A simple aligned text table (stable for tests, readable without colour)."""
        cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
        lines.insert(1, "  ".join("-" * w for w in widths))
        self.print("\n".join(lines))

    def confirm(self, question: str) -> bool:
        """Terraform's rule: only the literal answer ``yes`` proceeds."""
        self.print(question)
        self.out.write("  Enter a value: ")
        self.out.flush()
        try:
            answer = sys.stdin.readline()
        except KeyboardInterrupt:
            return False
        return answer.strip() == "yes"

    # -- live progress ---------------------------------------------------------------------
    def progress(self) -> Progress:
        return Progress(self)


class Progress:
    """Status lines keyed by resource. On a TTY they are redrawn in place (rich Live); elsewhere
    a line is printed only when a key's text changes, so logs stay short."""

    def __init__(self, ui: UI) -> None:
        self.ui = ui
        self.lines: dict[str, str] = {}
        self.started = time.monotonic()
        self._live: Live | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> Progress:
        if self.ui.tty and not self.ui.quiet and not os.environ.get("NIMCTL_PLAIN"):
            from rich.console import Console
            from rich.live import Live

            console = Console(file=self.ui.out, no_color=not self.ui.color)
            self._live = Live(self._render(), console=console, refresh_per_second=4, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.__exit__(None, None, None)
            self._live = None

    def _render(self):  # -> rich renderable
        from rich.text import Text

        return Text("\n".join(f"{key}: {text}" for key, text in self.lines.items()))

    def update(self, key: str, text: str, live_suffix: str = "") -> None:
        """Set a key's line. ``live_suffix`` (e.g. elapsed time) is drawn only on a live display,
        so plain output prints a line only when the text itself changes."""
        with self._lock:
            if self._live is not None:
                self.lines[key] = text + live_suffix
                self._live.update(self._render())
                return
            if self.lines.get(key) == text:
                return
            self.lines[key] = text
        self.ui.print(f"{key}: {text}")


def elapsed(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"
