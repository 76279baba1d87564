"""``execution.auto_export.destinations``: export an invocation when its jobs have finished.

Takes the state (with the finished invocation and each stack's recorded config) and the results
cache; gives one :class:`AutoExport` per destination the invocation's configs name. Never
raises: an export that fails (settings, a missing library, an unreachable server) is reported
with the command that retries it, and the evaluation's outcome stays what it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from nimctl.common.errors import NimctlError
from nimctl.export.report import ExportReport, Outcome

if TYPE_CHECKING:
    from nimctl.state.model import State


@dataclass(frozen=True)
class AutoExport:
    destination: str
    invocation_id: str
    report: ExportReport | None  # None: nothing was sent (error says why)
    error: str | None = None
    stacks: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return self.error is None and self.report is not None and self.report.ok

    @property
    def retry(self) -> str:
        return f"nimctl export {self.invocation_id} --dest {self.destination}"

    def counts(self) -> dict[str, int]:
        outcomes = self.report.outcomes if self.report else []
        return {o.value: sum(1 for x in outcomes if x.outcome is o) for o in Outcome}


def destinations_of(state: State, invocation_id: str) -> dict[str, list[str]]:
    """Destination → the stacks of the invocation whose config names it in auto_export."""
    from nimctl.export.settings import auto_export_destinations

    wanted: dict[str, list[str]] = {}
    for stack, snap in state.invocations[invocation_id].stacks.items():
        for dest in auto_export_destinations(dict(snap.get("config") or {})):
            wanted.setdefault(dest.value, []).append(stack)
    return wanted


def auto_export(state: State, cache_root: Path, invocation_id: str) -> list[AutoExport]:
    from nimctl.export.loader import load_invocation
    from nimctl.export.run import export_invocations
    from nimctl.export.settings import Destination

    wanted = destinations_of(state, invocation_id)
    if not wanted:
        return []
    done: list[AutoExport] = []
    try:
        loaded = load_invocation(state, cache_root, invocation_id)
    except Exception as err:  # noqa: BLE001 - an export never fails the evaluation
        return [AutoExport(d, invocation_id, None, _text(err), tuple(s)) for d, s in wanted.items()]
    for dest_name, stacks in wanted.items():
        part = replace(loaded, tasks=tuple(t for t in loaded.tasks if t.stack in stacks))
        try:
            report = export_invocations([part], Destination(dest_name))
        except Exception as err:  # noqa: BLE001 - an export never fails the evaluation
            done.append(AutoExport(dest_name, invocation_id, None, _text(err), tuple(stacks)))
            continue
        done.append(AutoExport(dest_name, invocation_id, report, None, tuple(stacks)))
    return done


def _text(err: Exception) -> str:
    if isinstance(err, NimctlError):
        return str(err)
    return f"{type(err).__name__}: {' '.join(str(err).split())[:300]}"
