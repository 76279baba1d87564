"""Export fixtures: an invocation of two stacks built from real nemo-evaluator result files
(tests/support/export_runs.py), and no telemetry leaving loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from nimctl.export.model import InvocationRuns
from tests.support.export_runs import two_stacks


@pytest.fixture
def invocation(tmp_path: Path) -> InvocationRuns:
    return two_stacks(tmp_path)


@pytest.fixture(autouse=True)
def _no_telemetry(monkeypatch) -> None:
    """Nothing leaves loopback: MLflow's usage telemetry off, W&B never online."""
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("DO_NOT_TRACK", "true")
    monkeypatch.setenv("WANDB_MODE", "offline")
