"""What the command modules share: the global options' values, the run context built from them,
the help of the flags several commands take, and how an error ends a command (its message on
stderr, its exit code). For apply and destroy also: the view they report through, their one
confirmation question, and how an error before their engine reported anything is shown.

Imported at start-up by every command module: nothing heavy at module level.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

import typer

from nimctl import __version__
from nimctl.cli.context import RunContext, resolve_state_path
from nimctl.cli.ui import UI
from nimctl.common.errors import NimctlError

if TYPE_CHECKING:
    from nimctl.cli.views import HumanView, JsonView

HELP = {"help_option_names": ["-h", "--help"]}
FILES_HELP = "Config file or directory (repeatable); each file is one stack."
OVERRIDE_HELP = "Override a config value, e.g. -o deployment.port=9000 (repeatable)."


class Globals:
    state: str | None = None


def run_context(lock_timeout: float = 0.0) -> RunContext:
    return RunContext(state_path=resolve_state_path(Globals.state), ui=UI(), lock_timeout=lock_timeout)


def fail(err: NimctlError, ui: UI | None = None) -> NoReturn:
    from nimctl.common.errors import ConfigError

    ui = ui or UI()
    if isinstance(err, ConfigError):
        ui.err.write(f"{err.message}\n")
        count = getattr(err, "error_count", 0)
        ui.err.write(f"{count} error(s); nothing was changed.\n")
    else:
        ui.error(str(err))
    raise typer.Exit(getattr(err, "exit_code", 1))


def need_files(files: list[str] | None) -> list[str]:
    if not files:
        raise NimctlError("no config given", hint="pass -f FILE or -f DIRECTORY")
    return files


def parse_bool(flag: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise NimctlError(f"{flag} takes true or false, not {value!r}")


def make_view(ctx: RunContext, json_output: bool) -> HumanView | JsonView:
    from nimctl.cli.views import HumanView, JsonView

    return JsonView(ctx.ui.out) if json_output else HumanView(ctx.ui)


def approver(ui: UI, auto_approve: bool, question: str, no_tty: str, hint: str) -> Callable[[], bool]:
    """The one question apply and destroy ask, on the terminal (Terraform's rule: only ``yes``)."""

    def approve() -> bool:
        if auto_approve:
            return True
        if not sys.stdin.isatty():
            raise NimctlError(no_tty, hint=hint)
        return ui.confirm(question)

    return approve


def fail_run(err: NimctlError, ui: UI, view: HumanView | JsonView, command: str) -> NoReturn:
    """An error that ended apply/destroy before its engine reported the outcome."""
    from nimctl.apply.events import ApplyComplete, DestroyComplete, ErrorMessage, Outcome, RunStart
    from nimctl.cli.views import JsonView

    if not isinstance(view, JsonView):
        fail(err, ui)
    code = getattr(err, "exit_code", 1)
    if not view.started:
        view.emit(RunStart(command, None, __version__))
    view.emit(ErrorMessage(err.message, err.hint))
    complete = ApplyComplete if command == "apply" else DestroyComplete
    view.emit(complete(Outcome.FAILED, code, None))
    raise typer.Exit(code)
