"""Fixtures for the stack tests (the configs and helpers they build from are in
tests/support/stack_configs.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.stack_configs import seed_config


@pytest.fixture
def seed() -> dict[str, Any]:
    return seed_config()
