"""The intent journal: every side effect is written to state *before* it happens.

``Journal.step`` is the one way apply and destroy touch a platform:

    entry persisted → provider call → outcome recorded and entry cleared → persisted

A crash between any two of these leaves a pending entry that names the object (by its platform
name), so the next plan/apply/destroy can find it live and adopt it or finish removing it.

``checkpoint`` marks each of those moments. Setting ``NIMCTL_TRACE_FILE`` appends the marks to a
file, and ``NIMCTL_CRASH_AT`` (an fnmatch pattern) makes the process kill itself with
``NIMCTL_CRASH_SIGNAL`` (default KILL) at the first matching mark: the reliability suite uses this
to stop a real ``nimctl apply`` at every journaled step.
"""

from __future__ import annotations

import fnmatch
import os
import signal
import threading
import uuid
from collections.abc import Callable
from typing import TypeVar

from nimctl.state.model import Invocation, PendingEntry, State, now
from nimctl.state.store import StateStore

T = TypeVar("T")


def checkpoint(mark: str) -> None:
    trace_file = os.environ.get("NIMCTL_TRACE_FILE")
    if trace_file:
        with open(trace_file, "a", encoding="utf-8") as fh:
            fh.write(f"{mark}\n")
            fh.flush()
            os.fsync(fh.fileno())
    pattern = os.environ.get("NIMCTL_CRASH_AT")
    if pattern and fnmatch.fnmatchcase(mark, pattern):
        signame = os.environ.get("NIMCTL_CRASH_SIGNAL", "KILL").upper().removeprefix("SIG")
        # A catchable signal (TERM, INT) is handled by the main thread at its next step.
        os.kill(os.getpid(), getattr(signal, f"SIG{signame}"))


class Journal:
    """Serialises state mutations (jobs are submitted from several threads) and persists each."""

    def __init__(self, store: StateStore, state: State) -> None:
        self.store = store
        self.state = state
        self._lock = threading.RLock()

    def mutate(self, change: Callable[[State], None]) -> None:
        with self._lock:
            change(self.state)
            self.store.write(self.state)

    def intent(self, *, op: str, address: str, type: str, provider: str, name: str,
               invocation_id: str, stack: str = "", platform_id: str | None = None,
               spec: dict | None = None, inputs_hash: str | None = None) -> PendingEntry:
        entry = PendingEntry(id=uuid.uuid4().hex, op=op, address=address, type=type, provider=provider,
                             name=name, invocation_id=invocation_id, stack=stack, platform_id=platform_id,
                             spec=spec or {}, inputs_hash=inputs_hash)
        self.mutate(lambda s: s.pending.append(entry))
        checkpoint(f"pending:{op}:{address}")
        return entry

    def resolve(self, entry: PendingEntry, change: Callable[[State], None] | None = None) -> None:
        """Record the outcome of ``entry``'s call and clear it, in one write."""

        def apply_change(state: State) -> None:
            if change is not None:
                change(state)
            state.pending[:] = [p for p in state.pending if p.id != entry.id]

        self.mutate(apply_change)
        checkpoint(f"recorded:{entry.op}:{entry.address}")

    def step(self, call: Callable[[], T], *, record: Callable[[State, T], None] | None = None,
             keep_on: tuple[type[BaseException], ...] = (), **intent: object) -> T:
        """Journal one provider call. Exceptions in ``keep_on`` (ambiguous outcomes) leave the entry
        for the next run to resolve; any other failure clears it (the call definitely did nothing)."""
        entry = self.intent(**intent)  # type: ignore[arg-type]
        try:
            result = call()
        except keep_on:
            raise
        except BaseException as err:
            if isinstance(err, (KeyboardInterrupt, SystemExit)):
                raise  # unknown outcome: leave the entry
            self.resolve(entry)
            raise
        self.resolve(entry, (lambda s: record(s, result)) if record else None)
        return result

    # -- invocations -----------------------------------------------------------------------
    def start_invocation(self, invocation: Invocation) -> None:
        self.mutate(lambda s: s.invocations.__setitem__(invocation.id, invocation))
        checkpoint("invocation:started")

    def finish_invocation(self, invocation_id: str, status: str, error: str | None = None) -> None:
        def change(state: State) -> None:
            inv = state.invocations[invocation_id]
            inv.status = status
            inv.finished_at = now()
            if error:
                inv.error = error

        self.mutate(change)
        checkpoint(f"invocation:{status}")
