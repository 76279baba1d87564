"""An apply writes the state a bounded number of times: not once per poll while jobs run, and far
fewer than twice per job when jobs are submitted in parallel (real CLI, SDK and emulator)."""

from __future__ import annotations

import json

import pytest

from tests.support.cli import Platform, cli_env, copy_config, read_state, run_cli

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def world(emulator, tmp_path):
    platform = Platform(emulator)
    platform.add_workspace_secrets()
    return platform


def test_waiting_on_a_long_job_does_not_rewrite_the_state_every_poll(emulator, world, tmp_path):
    emulator.configure(ready_after=0.05, job_duration=2.0, queue_time=0.0)
    env = cli_env(emulator, tmp_path, NIMCTL_POLL_INTERVAL="0.05", NIMCTL_CACHE_DIR=str(tmp_path / "cache"))
    result = run_cli(["apply", "-f", str(copy_config(tmp_path)), "--auto-approve"], env)
    assert result.code == 0, result.text
    # ~40 polls while the job runs; only the changes (running, completed) are written
    assert read_state(tmp_path)["serial"] <= 14


def test_parallel_submissions_share_state_writes(emulator, world, tmp_path):
    emulator.configure(ready_after=0.05, job_duration=0.3, queue_time=0.0, latency=0.02)
    tasks = [
        "gsm8k",
        "lm-evaluation-harness.ifeval",
        "simple_evals.gpqa_diamond",
        "simple_evals.mmlu_pro",
        "bigcode-evaluation-harness.humaneval",
        "mbpp-chat",
        "AIME_2025",
        "math_test_500_nemo",
        "mtbench",
        "bfclv3_ast",
        "hle.hle",
        "scicode.scicode",
    ]
    config = tmp_path / "many.yaml"
    config.write_text(
        copy_config(tmp_path).read_text().replace("    - name: ifeval", "\n".join(f"    - name: {t}" for t in tasks))
    )
    env = cli_env(emulator, tmp_path, NIMCTL_POLL_INTERVAL="0.1", NIMCTL_CACHE_DIR=str(tmp_path / "cache"))
    result = run_cli(["apply", "-f", str(config), "--auto-approve", "--parallelism", "12"], env)
    assert result.code == 0, result.text
    state = read_state(tmp_path)
    assert len([a for a in state["resources"] if a.startswith("job.")]) == len(tasks)
    # one write per journaled step would be 2 per job + ~8; group commit shares them
    assert state["serial"] < 2 * len(tasks) + 8, json.dumps(state["serial"])
