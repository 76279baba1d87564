"""The emulated workspace every apply/destroy test starts from: fast lifecycles and the endpoint
token the seed example references stored as a workspace secret."""

from __future__ import annotations

import pytest

from tests.support.cli import Platform


@pytest.fixture
def world(emulator) -> Platform:
    emulator.configure(ready_after=0.2, job_duration=0.3)
    platform = Platform(emulator)
    platform.add_workspace_secrets()
    return platform
