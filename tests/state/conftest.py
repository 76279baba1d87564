from __future__ import annotations

from pathlib import Path

import pytest

from nimctl.state.store import StateStore


@pytest.fixture()
def state_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "nimctl.state.json"


@pytest.fixture()
def store(state_path: Path) -> StateStore:
    return StateStore(state_path)
