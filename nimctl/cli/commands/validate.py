"""``nimctl validate``: configs → stacks, checked; touches no state and no platform."""

from __future__ import annotations

import typer

from nimctl.cli.common import FILES_HELP, OVERRIDE_HELP, fail, need_files
from nimctl.cli.ui import UI
from nimctl.common.errors import NimctlError


def validate(
    files: list[str] = typer.Option(None, "-f", "--file", help=FILES_HELP),
    overrides: list[str] = typer.Option(None, "-o", "--override", help=OVERRIDE_HELP),
) -> None:
    """Check config files without touching state or any platform."""
    from nimctl.cli.context import load_stacks

    ui = UI()
    try:
        stacks = load_stacks(need_files(files), overrides or [], ui)
    except NimctlError as err:
        fail(err, ui)
    for stack in stacks:
        for job in stack.jobs:
            for note in job.notes:
                ui.info(f"{stack.source_file}: note: {note}")
    ui.success(f"{len(stacks)} stack(s) valid")
