"""Fixtures of the reliability suite. Its full matrix is marked ``slow`` (see tests/conftest.py);
``bench/reliability.py`` runs it all and prints the figures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nimctl.offline.emulator.options import EmulatorOptions
from nimctl.offline.emulator.server import EmulatorServer
from tests.support.reliability.harness import FAST_LEPTON


@pytest.fixture(scope="module")
def lepton() -> Iterator[EmulatorServer]:
    """One emulator per test module; each sandbox resets its world (objects, history, log)."""
    server = EmulatorServer(EmulatorOptions(**{k: v for k, v in FAST_LEPTON.items()}, seed=4321)).start()
    try:
        yield server
    finally:
        server.stop(wait=False)
