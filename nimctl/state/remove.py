"""``nimctl state rm``: forget an address without touching the platform.

``state_rm(store, address)`` takes any backend that changes states (``StateBackend``) and gives
the forgotten record; ``AddressNotInState`` (with close matches) when the state does not know
the address.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nimctl.state.errors import AddressNotInState
from nimctl.state.model import ResourceRecord

if TYPE_CHECKING:
    from nimctl.state.backend import StateBackend


def state_rm(store: StateBackend, address: str, *, lock_timeout: float = 0.0) -> ResourceRecord:
    """Forget ``address`` without touching the platform (``nimctl state rm``). Also drops the
    address's pending journal entries, so that no later run acts on it. The previous state is
    kept as ``<state>.backup``. Returns the forgotten record."""
    import difflib

    with store.lock(f"state rm {address}", timeout=lock_timeout):
        state = store.read()
        pending = [p for p in state.pending if p.address == address]
        record = state.resources.get(address)
        if record is None and not pending:
            known = sorted(set(state.resources) | {p.address for p in state.pending})
            suggestions = difflib.get_close_matches(address, known, n=3, cutoff=0.5)
            if len(suggestions) == 1:
                hint = f"did you mean {suggestions[0]}?"
            elif suggestions:
                hint = f"did you mean one of: {', '.join(suggestions)}?"
            else:
                hint = "list the addresses with: nimctl state list"
            raise AddressNotInState(
                f"{address} is not in the state {store.location}", hint=hint, suggestions=suggestions
            )
        if record is None:
            # Only an interrupted operation knows it: describe the object from its journal entry.
            record = pending[-1].as_record()
        else:
            del state.resources[address]
        state.pending[:] = [p for p in state.pending if p.address != address]
        store.write(state)
        return record
