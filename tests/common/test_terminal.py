"""The colour rule: NO_COLOR wins over a terminal and over NIMCTL_FORCE_COLOR; the CLI's UI uses it."""

from __future__ import annotations

import io

from nimctl.cli.ui import UI
from nimctl.common.terminal import color_enabled, paint


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_colour_unless_no_color(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("NIMCTL_FORCE_COLOR", raising=False)
    assert color_enabled(_Terminal()) and not color_enabled(io.StringIO())
    assert UI(out=_Terminal()).color
    monkeypatch.setenv("NIMCTL_FORCE_COLOR", "1")
    assert color_enabled(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not color_enabled(_Terminal()) and not UI(out=_Terminal()).color


def test_paint_wraps_in_ansi_codes():
    assert paint("x", "green") == "\x1b[32mx\x1b[0m"
