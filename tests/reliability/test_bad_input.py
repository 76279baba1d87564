"""Bad input through the real CLI: malformed configs (the config tests' broken corpus in place, plus
generated hostile files, directories and overrides), damaged state files, and bad plan files.

Every run: exit code 1, a short error naming the file (no traceback), the state directory
byte-identical, no request to the platform (the emulator's log stays empty), under 5 s, inside a
1.5 GiB address space.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from nimctl.state.model import State
from nimctl.state.store import StateStore
from tests.reliability.harness import LEPTON_TWO_TASKS, LeptonSandbox, nimctl
from tests.reliability.hostile import (
    MEMORY_LIMIT,
    STATE_COMMANDS,
    BadInput,
    config_inputs,
    damaged_states,
    describe,
    judge,
    run_cases,
    snapshot,
    wait_quiet,
)

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def sandbox(lepton, tmp_path) -> LeptonSandbox:
    """A sandbox whose state holds a real (empty) state file written by nimctl's own store."""
    box = LeptonSandbox(tmp_path / "box", lepton)
    StateStore(box.state_path).write(State())
    lepton.clear_requests()
    return box


def assert_untouched(sandbox: LeptonSandbox, before: dict, lepton) -> None:
    wait_quiet()
    assert snapshot(sandbox.state_dir) == before, "the state directory changed"
    assert not (sandbox.state_dir / "nimctl.state.json.lock.info").exists()
    assert lepton.requests == [], [f"{r.method} {r.route}" for r in lepton.requests]


@pytest.mark.parametrize("commands", [("validate", "apply"), pytest.param(("plan",), marks=pytest.mark.slow)],
                         ids=["validate+apply", "plan"])
def test_malformed_configs_are_refused(sandbox, lepton, tmp_path, commands):
    cases = config_inputs(tmp_path / "configs", commands)
    configs = {c.args[2] for c in cases}
    assert len(configs) >= 50, f"only {len(configs)} malformed configs"
    before = snapshot(sandbox.state_dir)
    verdicts = run_cases(cases, sandbox.env, sandbox.root)
    assert describe(verdicts) == ""
    assert_untouched(sandbox, before, lepton)
    assert not (sandbox.root / "results").exists()


def test_the_good_config_still_works_under_the_same_limits(sandbox, lepton):
    """The control: the limits themselves do not make every command fail."""
    result = nimctl(["plan", "-f", str(LEPTON_TWO_TASKS)], sandbox.env, cwd=sandbox.root, memory_bytes=MEMORY_LIMIT)
    assert result.code == 0, result.describe()
    assert result.seconds < 5


@pytest.mark.parametrize("commands", [STATE_COMMANDS[1:3] + STATE_COMMANDS[4:5],
                                      pytest.param(STATE_COMMANDS[:1] + STATE_COMMANDS[3:4] + STATE_COMMANDS[5:],
                                                   marks=pytest.mark.slow)],
                         ids=["apply+destroy+status", "plan+show+state-list"])
def test_damaged_state_files_stop_every_command(sandbox, lepton, commands):
    cases = damaged_states()
    assert len(cases) >= 10
    problems = []
    for name, data in cases:
        shutil.rmtree(sandbox.state_dir)
        sandbox.state_dir.mkdir(mode=0o700)
        if data is None:
            sandbox.state_path.mkdir()
        else:
            sandbox.state_path.write_bytes(data)
        before = snapshot(sandbox.state_dir)
        runs = [BadInput(f"{' '.join(args[:2])} with a {name} state", list(args), ["nimctl.state.json"])
                for args in commands]
        verdicts = run_cases(runs, sandbox.env, sandbox.root, workers=1)  # writers take the state lock
        problems.append(describe(verdicts))
        wait_quiet()
        if snapshot(sandbox.state_dir) != before:
            problems.append(f"{name}: the state directory changed")
        if lepton.requests:
            problems.append(f"{name}: platform calls {[f'{r.method} {r.route}' for r in lepton.requests]}")
            lepton.clear_requests()
    assert "\n".join(p for p in problems if p) == ""


def saved_plan(sandbox: LeptonSandbox, path: Path) -> dict:
    made = sandbox.plan("--out", str(path))
    assert made.code == 0, made.describe()
    return json.loads(path.read_text())


def test_bad_plan_files_are_refused(sandbox, lepton, tmp_path):
    good_path = tmp_path / "good.plan"
    good = saved_plan(sandbox, good_path)
    text = good_path.read_text()
    other_state = tmp_path / "other" / "nimctl.state.json"
    StateStore(other_state).write(State())
    partial = {"kind": good["kind"], "version": good["version"]}
    files = {
        "empty": "",
        "not_json": "plan: yes\n",
        "json_array": "[]",
        "wrong_kind": json.dumps({**good, "kind": "terraform-plan"}),
        "newer_version": json.dumps({**good, "version": 99}),
        "missing_sections": json.dumps(partial),
        "wrong_types": json.dumps({**good, "plan": "everything", "serial": "many"}),
        "truncated": text[: len(text) // 2],
        "binary": "\x00\x01\x02\x7f",
        "a_state_file": sandbox.state_path.read_text(),
    }
    cases = []
    for name, content in files.items():
        path = tmp_path / f"{name}.plan"
        path.write_text(content)
        cases.append(BadInput(f"apply {name} plan", ["apply", str(path)], [path.name]))
    (tmp_path / "a_directory.plan").mkdir()
    cases.append(BadInput("apply a directory as plan", ["apply", str(tmp_path / "a_directory.plan")],
                          ["a_directory.plan"]))
    cases.append(BadInput("apply a missing plan", ["apply", str(tmp_path / "gone.plan")], ["gone.plan"]))
    lepton.clear_requests()
    before = snapshot(sandbox.state_dir)
    verdicts = run_cases(cases, sandbox.env, sandbox.root, workers=1)  # each apply takes the state lock
    # The plan of another state file (lineage) is refused as stale.
    other_env = {**sandbox.env, "NIMCTL_STATE": str(other_state)}
    other_before = other_state.read_bytes()
    lineage = nimctl(["apply", str(good_path)], other_env, cwd=sandbox.root)
    problems = judge(BadInput("apply another state's plan", [], ["stale", "lineage"]), lineage)
    assert describe(verdicts) == "" and problems == [], (describe(verdicts), problems, lineage.err)
    assert other_state.read_bytes() == other_before
    assert_untouched(sandbox, before, lepton)
