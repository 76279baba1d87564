"""Stacks applied to the Lepton emulator without the CLI, for the plan and refresh budgets (tests/perf)
and bench/plan_scaling.py: ``apply_in_process`` runs the real apply engine in this process through
the real SDK (what ``nimctl apply`` does, without a process start or output), after
``add_workspace_secrets``; ``mark_jobs_running`` leaves the state as ``apply --no-wait`` would."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.support.cli import WORKSPACE_SECRETS


def add_workspace_secrets(server: Any) -> None:
    """The secrets the seed example references, created once per workspace as a user would
    (Lepton, and the emulator, start nothing whose secret is missing; apply checks first)."""
    known = set(server.world.secret_names())
    server.world.create_secrets([{"name": n, "value": v} for n, v in WORKSPACE_SECRETS.items() if n not in known])


def apply_in_process(server: Any, stacks_dir: Path, state_path: Path) -> dict[str, Any]:
    """The real apply engine (``run_apply``) in this process, against the emulator through the real
    SDK: what `nimctl apply` does, without a process start or output."""
    from nimctl.apply.applier import ApplyOptions, run_apply
    from nimctl.apply.events import CollectEvents, ErrorMessage
    from nimctl.config.loader import load_configs
    from nimctl.providers.lepton.provider import LeptonProvider
    from nimctl.stack.builder import build_stacks
    from nimctl.state.store import StateStore
    from tests.support.memory import MemoryWorkspace

    started = time.perf_counter()
    stacks = build_stacks(load_configs([str(stacks_dir)]))
    provider = LeptonProvider(workspace_id=server.workspace_id, token=server.token, url=server.url)
    add_workspace_secrets(server)
    ws = MemoryWorkspace(StateStore(state_path), {"lepton": provider})  # type: ignore[dict-item]
    events = CollectEvents()
    code = run_apply(ws, stacks, ApplyOptions(parallelism=20), events, lambda: True)
    if code != 0:
        errors = "; ".join(str(e.payload()) for e in events.of(ErrorMessage))
        raise RuntimeError(f"apply of {len(stacks)} stacks exited {code}: {errors}")
    return {"how": "the apply engine in-process", "wall_s": round(time.perf_counter() - started, 2)}


def mark_jobs_running(state_path: Path) -> None:
    """The state as `apply --no-wait` leaves it: jobs recorded as running."""
    from nimctl.state.store import StateStore

    store = StateStore(state_path)
    state = store.read()
    for record in state.resources.values():
        if record.type == "job":
            record.observed = {**record.observed, "state": "running", "platform_state": "Running"}
    store.write(state)
