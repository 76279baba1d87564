"""``python bench/counted_nimctl.py ARGS`` runs ``nimctl ARGS`` and, at exit, writes what the state
backends it opened counted — whole-state writes, appended journal steps, database statements,
the final serial — to ``$NIMCTL_BENCH_COUNTS`` (JSON). For bench/apply_scaling.py. With code that
has no such counters (an older checkout), only the final serial is written: one whole write each."""

from __future__ import annotations

import atexit
import json
import os
import sys
from typing import Any

opened: list[Any] = []


def _report() -> None:
    path = os.environ.get("NIMCTL_BENCH_COUNTS")
    if not path:
        return
    counts: dict[str, Any] = {"writes": 0, "appends": 0, "db_requests": 0, "serial": None}
    for store in opened:
        counts["writes"] += getattr(store, "writes", 0)
        counts["appends"] += getattr(store, "appends", 0)
        counts["db_requests"] += getattr(store, "requests", 0)
    try:
        from nimctl.state.backend import open_state

        location = os.environ.get("NIMCTL_STATE", "state/nimctl.state.json")
        counts["serial"] = open_state(location).read().serial
    except ImportError:  # before the backends existed: a file, one whole write per serial
        from nimctl.state.store import StateStore

        counts["serial"] = counts["writes"] = StateStore(os.environ["NIMCTL_STATE"]).read().serial
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(counts, fh)


def main() -> None:
    try:
        import nimctl.state.backend as backend
    except ImportError:
        backend = None
    if backend is not None:
        original = backend.open_state

        def counted(location: Any) -> Any:
            store = original(location)
            opened.append(store)
            return store

        backend.open_state = counted
    atexit.register(_report)
    from nimctl.cli.app import main as nimctl_main

    sys.argv = ["nimctl", *sys.argv[1:]]
    nimctl_main()


if __name__ == "__main__":
    main()
