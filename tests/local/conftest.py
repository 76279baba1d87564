"""Fixtures for the local platform: a provider in a temporary state directory that removes every
process it started, and an in-process mock OpenAI server."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from nimctl.offline.mock_server import MockServer, make_server
from nimctl.providers.local.proc import group_members
from nimctl.providers.local.provider import LocalProvider
from tests.support.local import MODEL


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def provider(state_dir: Path) -> Iterator[LocalProvider]:
    """A local provider with a short stop grace period. Afterwards every endpoint and job it still
    lists is deleted and no process of their groups may be left."""
    prov = LocalProvider(state_dir, grace_period=2.0)
    yield prov
    _cleanup(LocalProvider(state_dir, grace_period=0.5))


def _cleanup(prov: LocalProvider) -> None:
    groups: list[int] = []
    for info in prov.list_endpoints():
        if info.extra.get("pid"):
            groups.append(int(info.extra["pid"]))
        prov.delete_endpoint(info.name)
    for job in prov.list_jobs():
        if job.extra.get("pid"):
            groups.append(int(job.extra["pid"]))
        prov.delete_job(job.id)
    left = {pgid: group_members(pgid) for pgid in groups}
    for pgid, members in left.items():  # last resort, so a failed test never leaks processes
        if members:
            os.killpg(pgid, signal.SIGKILL)
    assert not any(left.values()), f"processes left behind: {left}"


@pytest.fixture
def mock_server() -> Iterator[MockServer]:
    """The mock OpenAI server on a free loopback port, served from a thread of the test process."""
    server = make_server(port=0, served_model_name=MODEL)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def start_mock() -> Iterator[Callable[..., MockServer]]:
    """Start extra in-process mock servers with other settings (all stopped afterwards)."""
    servers: list[MockServer] = []

    def start(**settings: Any) -> MockServer:
        server = make_server(port=0, **{"served_model_name": MODEL, **settings})
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
