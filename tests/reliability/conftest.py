"""Fixtures of the reliability suite, and the rule that keeps its full matrix out of a plain run.

Tests marked ``slow`` (the full crash matrix, 50 % fault rates, ...) run only when asked for:
``pytest -m slow tests/reliability`` or ``NIMCTL_SLOW=1``; ``bench/reliability.py`` runs them all
and prints the figures. A plain ``pytest`` runs the fast subset.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from nimctl.offline.emulator.options import EmulatorOptions
from nimctl.offline.emulator.server import EmulatorServer
from tests.reliability.harness import FAST_LEPTON

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "slow" in (config.getoption("-m") or "") or os.environ.get("NIMCTL_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: run with `pytest -m slow tests/reliability` or bench/reliability.py")
    for item in items:
        if item.get_closest_marker("slow") and HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def lepton() -> Iterator[EmulatorServer]:
    """One emulator per test module; each sandbox resets its world (objects, history, log)."""
    server = EmulatorServer(EmulatorOptions(**{k: v for k, v in FAST_LEPTON.items()}, seed=4321)).start()
    try:
        yield server
    finally:
        server.stop(wait=False)
