"""Bad input through the real CLI: malformed configs (the config tests' broken corpus in place, plus
generated hostile files, directories and overrides), damaged state files, and bad plan files.

Every run: exit code 1, a short error naming the file (no traceback), the state directory
byte-identical, no request to the platform (the emulator's log stays empty), under 5 s, inside a
1.5 GiB address space.
"""

from __future__ import annotations

import pytest

from nimctl.state.model import State
from nimctl.state.store import StateStore
from tests.support.reliability.harness import LEPTON_TWO_TASKS, LeptonSandbox, nimctl
from tests.support.reliability.hostile import (
    HANG_LIMIT_S,
    MEMORY_LIMIT,
    STATE_COMMANDS,
    config_inputs,
    damaged_states,
    describe,
    run_cases,
    run_plan_file_cases,
    run_state_cases,
    snapshot,
    untouched_problems,
)

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def sandbox(lepton, tmp_path) -> LeptonSandbox:
    """A sandbox whose state holds a real (empty) state file written by nimctl's own store."""
    box = LeptonSandbox(tmp_path / "box", lepton)
    StateStore(box.state_path).write(State())
    lepton.clear_requests()
    return box


@pytest.mark.parametrize(
    "commands",
    [("apply",), pytest.param(("validate", "plan"), marks=pytest.mark.slow)],
    ids=["apply", "validate+plan"],
)
def test_malformed_configs_are_refused(sandbox, lepton, tmp_path, commands):
    cases = config_inputs(tmp_path / "configs", commands)
    configs = {c.args[2] for c in cases}
    assert len(configs) >= 50, f"only {len(configs)} malformed configs"
    before = snapshot(sandbox.state_dir)
    verdicts = run_cases(cases, sandbox.env, sandbox.root)
    assert describe(verdicts) == ""
    assert untouched_problems(sandbox, before, lepton) == []
    assert not (sandbox.root / "results").exists()


def test_the_good_config_still_works_under_the_same_limits(sandbox, lepton):
    """The control: the limits themselves do not make every command fail."""
    result = nimctl(["plan", "-f", str(LEPTON_TWO_TASKS)], sandbox.env, cwd=sandbox.root, memory_bytes=MEMORY_LIMIT)
    assert result.code == 0, result.describe()
    assert result.seconds < HANG_LIMIT_S  # the cases' hang guard, not a speed goal


@pytest.mark.parametrize(
    "commands",
    [
        STATE_COMMANDS[1:3] + STATE_COMMANDS[4:5],
        pytest.param(STATE_COMMANDS[:1] + STATE_COMMANDS[3:4] + STATE_COMMANDS[5:], marks=pytest.mark.slow),
    ],
    ids=["apply+destroy+status", "plan+show+state-list"],
)
def test_damaged_state_files_stop_every_command(sandbox, lepton, commands):
    assert len(damaged_states()) >= 10
    verdicts, problems = run_state_cases(sandbox, lepton, commands)
    assert describe(verdicts) == "" and problems == [], (describe(verdicts), problems)


def test_bad_plan_files_are_refused(sandbox, lepton, tmp_path):
    verdicts, problems = run_plan_file_cases(sandbox, lepton, tmp_path / "plans")
    assert len(verdicts) >= 10
    assert describe(verdicts) == "" and problems == [], (describe(verdicts), problems)
