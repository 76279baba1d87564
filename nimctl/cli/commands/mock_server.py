"""``nimctl mock-server``: its arguments, unparsed, to ``nimctl.offline.mock_server`` (which has
its own ``--help``)."""

from __future__ import annotations

import typer


def mock_server(ctx: typer.Context) -> None:
    """Run nimctl's mock OpenAI-compatible server (see `nimctl mock-server --help`)."""
    from nimctl.offline.mock_server import main as mock_main

    mock_main(list(ctx.args))
