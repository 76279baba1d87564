"""``nimctl show-config``: the composed, interpolated config of each file, secrets redacted."""

from __future__ import annotations

import typer

from nimctl.cli.common import FILES_HELP, OVERRIDE_HELP, fail, need_files
from nimctl.cli.ui import UI
from nimctl.common.errors import NimctlError


def show_config(
    files: list[str] = typer.Option(None, "-f", "--file", help=FILES_HELP),
    overrides: list[str] = typer.Option(None, "-o", "--override", help=OVERRIDE_HELP),
) -> None:
    """Print the composed, interpolated config (secrets redacted)."""
    import yaml

    from nimctl.common.secrets import redact_config
    from nimctl.config.loader import load_configs

    ui = UI()
    try:
        loaded = load_configs(need_files(files), overrides or [])
    except NimctlError as err:
        fail(err, ui)
    for cfg in loaded:
        if len(loaded) > 1:
            ui.print(f"# {cfg.path} (stack {cfg.stack_name})")
        ui.print(yaml.safe_dump(redact_config(cfg.config), sort_keys=False).rstrip())
