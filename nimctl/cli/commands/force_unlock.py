"""``nimctl force-unlock``: remove the state lock named by its id, when its holder cannot be
verified."""

from __future__ import annotations

import typer

from nimctl.cli.common import fail, run_context
from nimctl.common.errors import NimctlError


def force_unlock(lock_id: str = typer.Argument(..., help="The lock id shown by the lock error.")) -> None:
    """Remove a state lock that cannot be verified (e.g. on a network filesystem)."""
    ctx = run_context()
    try:
        ctx.store.force_unlock(lock_id)
    except NimctlError as err:
        fail(err, ctx.ui)
    ctx.ui.print(f"Lock {lock_id} removed.")
