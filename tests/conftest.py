"""Shared fixtures (a Lepton workspace emulator on 127.0.0.1 for tests that use the real SDK, the
emulated workspace the apply, ownership and evaluation tests start from, a throwaway PostgreSQL
server), and the rule that keeps the slow tiers out of a plain run.

Tests marked ``slow`` (the full crash matrix, high fault rates, every random-kill trial, the
PostgreSQL crash matrix, ...) run only when asked for: ``pytest -m slow`` or ``NIMCTL_SLOW=1``
(``bench/reliability.py`` runs them and prints the figures). A plain ``pytest`` — the test
command — runs the rest.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from nimctl.offline.emulator.options import EmulatorOptions
from nimctl.offline.emulator.server import EmulatorServer
from tests.support.cli import Platform
from tests.support.emulator import isolate_lepton_cache


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto`` (the default, pyproject.toml): one worker more than there are cores. Most tests
    wait on subprocesses, servers and polls, so the extra worker fills the cores while they do;
    every test uses its own ports, directories and servers, so workers never share anything."""
    return min((os.cpu_count() or 1) + 1, 8)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "slow" in (config.getoption("-m") or "") or os.environ.get("NIMCTL_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: run with `pytest -m slow` (bench/reliability.py runs the matrix)")
    for item in items:
        if item.get_closest_marker("slow"):
            item.add_marker(skip)


# Short but distinguishable lifecycle steps: Starting -> Ready in 50 ms, jobs done in ~100 ms.
FAST_EMULATOR = {"ready_after": 0.05, "job_duration": 0.08, "queue_time": 0.02, "delete_after": 0.05, "seed": 1234}


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    """A started emulator with fast lifecycles; change them live with ``emulator.configure(...)``."""
    server = EmulatorServer(EmulatorOptions(**FAST_EMULATOR)).start()
    try:
        yield server
    finally:
        server.stop(wait=False)  # uvicorn's shutdown takes ~0.2 s; no test needs to wait for it


@pytest.fixture
def emulator_env(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path) -> EmulatorServer:
    """Point the SDK (and subprocesses) at the emulator; no real ``lep login`` record is read."""
    cache_dir = tmp_path / "lepton-cache"
    isolate_lepton_cache(cache_dir)
    monkeypatch.setenv("LEPTON_CACHE_DIR", str(cache_dir))
    monkeypatch.delenv("LEPTON_WORKSPACE_ORIGIN_URL", raising=False)
    for key, value in emulator.env().items():
        monkeypatch.setenv(key, value)
    return emulator


@pytest.fixture
def world(emulator) -> Platform:
    """The emulated workspace every apply/destroy test starts from: fast lifecycles and the
    endpoint token the seed example references stored as a workspace secret."""
    emulator.configure(ready_after=0.2, job_duration=0.3)
    platform = Platform(emulator)
    platform.add_workspace_secrets()
    return platform


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL server on 127.0.0.1 (tests/support/postgres.py). Skipped only where
    the server is not installed, and never under CI, whose .ci/run installs it."""
    import os

    from tests.support.postgres import PostgresServer, find_binaries, remove_template

    if find_binaries() is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL server binaries are missing under CI: .ci/run installs them (postgresql)")
        pytest.skip("PostgreSQL server not installed (apt-get install postgresql)")
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()
        remove_template()
