"""A seeded handful of the random-time kill campaign (``tests/support/reliability/random_kills.py``): one
trial per signal, during apply and destroy, with and without 30 % + 30 % faults. The test command
runs the first (the others are marked slow); the full campaign is ``bench/random_kills.py``."""

from __future__ import annotations

import pytest

from tests.support.reliability.harness import LEPTON_TWO_TASKS, LeptonSandbox
from tests.support.reliability.random_kills import campaign

TRIALS = [
    ("apply", "KILL", True),
    pytest.param(("apply", "TERM", False), marks=pytest.mark.slow),
    pytest.param(("destroy", "INT", True), marks=pytest.mark.slow),
]
WINDOWS = {("apply", False): 2.5, ("apply", True): 3.0, ("destroy", False): 1.5, ("destroy", True): 2.0}


@pytest.mark.parametrize("trial", TRIALS, ids=lambda t: "-".join(map(str, t)))
def test_random_kills_leave_no_leak_no_duplicate_and_no_traceback(lepton, tmp_path, trial) -> None:
    def make(name: str) -> LeptonSandbox:
        return LeptonSandbox(tmp_path / name, lepton, LEPTON_TWO_TASKS)

    reports = campaign(make, seed=1313, trials=[trial], windows=WINDOWS)
    problems = [f"{r.phase} {r.signame} faults={r.faults} at {r.at_s}s: {p}" for r in reports for p in r.problems]
    assert problems == []
    assert all(r.endpoint_creates >= 1 for r in reports if r.phase == "apply")
