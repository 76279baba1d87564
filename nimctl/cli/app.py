"""The typer app: the program's help, its global options (accepted before the command and after
it), and the registration of every command, one module each in ``nimctl.cli.commands``. Takes
argv; gives the exit code.

Registering a command imports only its module; every heavy import (config validation, the SDK,
HTTP clients, rich) happens inside the command that needs it, so ``nimctl --help`` and
``nimctl validate`` start fast.
"""

from __future__ import annotations

import sys

import typer

from nimctl import __version__
from nimctl.cli.commands import (
    apply,
    destroy,
    export,
    force_unlock,
    gc,
    logs,
    mock_server,
    output,
    plan,
    results,
    show,
    show_config,
    status,
    tasks,
    validate,
)
from nimctl.cli.commands.emulator import app as emulator_app
from nimctl.cli.commands.state import app as state_app
from nimctl.cli.common import HELP, Globals

# Options of the whole program, accepted before the command and (as Terraform users type them)
# after it too: ``nimctl plan --state X`` is ``nimctl --state X plan``. Name -> takes a value.
GLOBAL_OPTIONS = {"--state": True, "--no-color": False}

app = typer.Typer(
    name="nimctl",
    help="Deploy model endpoints on DGX Cloud Lepton or locally, run evaluations against them, "
    "and clean up — declaratively (validate → plan → apply → destroy).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings=HELP,
)
app.add_typer(state_app, name="state")
app.add_typer(emulator_app, name="emulator")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"nimctl {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    state: str = typer.Option(
        None,
        "--state",
        help="State file, or a postgresql://user@host:port/db[?schema=S&state=NAME] URL for a team's "
        "state (env NIMCTL_STATE; default state/nimctl.state.json).",
        envvar="NIMCTL_STATE",
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
    no_color: bool = typer.Option(False, "--no-color", help="No colour in the output (same as NO_COLOR=1)."),
) -> None:
    Globals.state = state
    if no_color:
        import os

        os.environ["NO_COLOR"] = "1"  # the one colour rule (nimctl.common.terminal) reads it


# The order here is the order of `nimctl --help` (the groups state and emulator come last).
app.command()(validate.validate)
app.command("show-config")(show_config.show_config)
app.command()(plan.plan)
app.command()(apply.apply)
app.command()(destroy.destroy)
app.command()(status.status)
app.command()(gc.gc)
app.command()(results.results)
app.command()(export.export)
app.command()(logs.logs)
app.command()(tasks.tasks)
app.command()(show.show)
app.command()(output.output)
app.command("force-unlock")(force_unlock.force_unlock)
app.command(
    "mock-server", add_help_option=False, context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)(mock_server.mock_server)


def hoist_global_options(argv: list[str]) -> list[str]:
    """``argv`` (without the program name) with the global options found after the command moved
    before it. Stops at ``--``; leaves ``mock-server``'s arguments alone (they are its own)."""
    commands = [i for i, a in enumerate(argv) if not a.startswith("-")]
    if not commands or argv[commands[0]] == "mock-server":
        return argv
    first = commands[0]
    if first > 0 and argv[first - 1] in [o for o, takes in GLOBAL_OPTIONS.items() if takes]:
        # the first bare word is a global option's value: the command is the next bare word
        later = [i for i in commands if i > first]
        if not later or argv[later[0]] == "mock-server":
            return argv
        first = later[0]
    head, rest, moved = list(argv[:first]), [], []
    i = first
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest.extend(argv[i:])
            break
        name = arg.split("=", 1)[0]
        if name in GLOBAL_OPTIONS:
            takes_value = GLOBAL_OPTIONS[name] and "=" not in arg
            moved.extend(argv[i : i + (2 if takes_value else 1)])
            i += 2 if takes_value else 1
            continue
        rest.append(arg)
        i += 1
    return head + moved + rest


def main() -> None:
    try:
        app(args=hoist_global_options(sys.argv[1:]), prog_name="nimctl")
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        sys.exit(130)
