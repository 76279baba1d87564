"""The intent journal: every side effect is written to state *before* it happens.

``Journal.step`` is the one way apply and destroy touch a platform:

    entry persisted → provider call → outcome recorded and entry cleared → persisted

A crash between any two of these leaves a pending entry that names the object (by its platform
name), so the next plan/apply/destroy can find it live and adopt it or finish removing it.

Each of those moments is a named kill point (``nimctl.common.checkpoints``): the reliability suite
stops a real ``nimctl apply`` at every journaled step through them.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar

from nimctl.common.checkpoints import checkpoint
from nimctl.state.backend import StateAppender, StateWriter
from nimctl.state.delta import Image
from nimctl.state.model import Invocation, InvocationStatus, Op, PendingEntry, State, now


class JournalStore(StateWriter, StateAppender, Protocol):
    """What the journal needs of a state backend: whole writes and appended steps."""


T = TypeVar("T")
GROUP_COMMIT_WAIT_S = 0.005  # how long a write waits for changes other threads are making


class Journal:
    """Serialises state mutations (jobs are submitted from several threads) and persists each.

    ``mutate`` returns only once a write that includes its change is stored; changes made by
    other threads while a write is in progress are persisted together by the next write (group
    commit). Each write is a step appended to the backend's journal: the delta from what was last
    persisted (``nimctl.state.delta``), computed over the resources the change says it
    ``touches`` (every resource when it does not say), so a step costs O(what it changed).
    """

    def __init__(self, store: JournalStore, state: State) -> None:
        self.store = store
        self.state = state
        self._image = Image.of(state)  # the state as last persisted
        self._touched: set[str] | None = set()  # resources changed since the last write (None: any)
        self._lock = threading.RLock()  # guards the state (changes and serialising it)
        self._write_lock = threading.Lock()  # one writer at a time
        self._applied = 0  # changes made to self.state
        self._persisted = 0  # changes known to be on disk
        self._local = threading.local()
        self._count_lock = threading.Lock()
        self._arriving = 0  # threads in mutate whose change is not applied yet

    def mutate(self, change: Callable[[State], None], touches: Iterable[str] | None = None) -> None:
        """Apply ``change`` to the state and persist it. ``touches``: the resource addresses it may
        change (None: it may change any; then every record is compared)."""
        if getattr(self._local, "depth", 0):  # a change that mutates again: write as it always did
            with self._lock:
                self._note(touches)
                change(self.state)
                self._applied += 1
                self._persist()
            return
        with self._count_lock:
            self._arriving += 1
        try:
            with self._lock:
                self._local.depth = 1
                self._note(touches)
                try:
                    change(self.state)
                finally:
                    self._local.depth = 0
                self._applied += 1
                ticket = self._applied
        finally:
            with self._count_lock:
                self._arriving -= 1
        with self._write_lock:
            if self._persisted >= ticket:
                return  # another thread's write, started after this change, persisted it
            # Changes other threads are about to make join this write (a few ms at most); a lone
            # caller (the usual sequential step) never waits.
            deadline = time.monotonic() + GROUP_COMMIT_WAIT_S
            while self._arriving and time.monotonic() < deadline:
                time.sleep(0.0005)
            with self._lock:
                upto = self._applied
                self._persist()
            self._persisted = upto

    def _note(self, touches: Iterable[str] | None) -> None:
        if touches is None:
            self._touched = None
        elif self._touched is not None:
            self._touched.update(touches)

    def _persist(self) -> None:
        """Store what changed since the last write (called with ``self._lock`` held)."""
        if self.state.serial == 0:
            self.store.write(self.state)  # a fresh state: there is nothing to append to yet
            self._image = Image.of(self.state)
        else:
            delta = self._image.diff(self.state, self._touched)
            self.store.append(self.state, delta)
            self._image.advance(delta)
        self._touched = set()

    def intent(
        self,
        *,
        op: Op,
        address: str,
        type: str,
        provider: str,
        name: str,
        invocation_id: str,
        stack: str = "",
        platform_id: str | None = None,
        spec: dict | None = None,
        inputs_hash: str | None = None,
    ) -> PendingEntry:
        entry = PendingEntry(
            id=uuid.uuid4().hex,
            op=op,
            address=address,
            type=type,
            provider=provider,
            name=name,
            invocation_id=invocation_id,
            stack=stack,
            platform_id=platform_id,
            spec=spec or {},
            inputs_hash=inputs_hash,
        )
        self.mutate(lambda s: s.pending.append(entry), touches=())
        checkpoint(f"pending:{op}:{address}")
        return entry

    def resolve(self, entry: PendingEntry, change: Callable[[State], object] | None = None) -> None:
        """Record the outcome of ``entry``'s call and clear it, in one write."""

        def apply_change(state: State) -> None:
            if change is not None:
                change(state)
            state.pending[:] = [p for p in state.pending if p.id != entry.id]

        self.mutate(apply_change, touches=(entry.address,))
        checkpoint(f"recorded:{entry.op}:{entry.address}")

    def step(
        self,
        call: Callable[[], T],
        *,
        record: Callable[[State, T], None] | None = None,
        keep_on: tuple[type[BaseException], ...] = (),
        **intent: object,
    ) -> T:
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
        self.mutate(lambda s: s.invocations.__setitem__(invocation.id, invocation), touches=())
        checkpoint("invocation:started")

    def finish_invocation(self, invocation_id: str, status: InvocationStatus, error: str | None = None) -> None:
        def change(state: State) -> None:
            inv = state.invocations[invocation_id]
            inv.status = status
            inv.finished_at = now()
            if error:
                inv.error = error

        self.mutate(change, touches=())
        checkpoint(f"invocation:{status.value}")
