"""429s, 5xx and lost responses: apply converges (or fails clearly) and never duplicates;
destroy under faults finishes or says exactly what is left."""

from __future__ import annotations

import pytest

from tests.support.cli import Platform, cli_env, copy_config, read_state, run_cli

pytestmark = pytest.mark.timeout(300)


@pytest.mark.parametrize(
    ("fault_rate", "lost_rate"),
    [(0.1, 0.0), pytest.param(0.3, 0.3, marks=pytest.mark.slow), pytest.param(0.5, 0.5, marks=pytest.mark.slow)],
)
def test_apply_and_destroy_under_faults(emulator, tmp_path, fault_rate, lost_rate):
    emulator.configure(ready_after=0.2, job_duration=0.2)
    world = Platform(emulator)
    world.add_workspace_secrets()
    config = copy_config(tmp_path)
    env = cli_env(emulator, tmp_path, NIMCTL_RETRY_MAX_ATTEMPTS="12")
    emulator.configure(fault_rate=fault_rate, lost_response_rate=lost_rate, seed=7)

    outcomes = []
    for _ in range(4):  # a run may fail clearly within its bounds; the next one converges
        result = run_cli(["apply", "-f", str(config), "--auto-approve"], env)
        outcomes.append(result)
        assert "Traceback" not in result.text
        if result.code == 0:
            break
    assert outcomes[-1].code == 0, "\n---\n".join(r.text for r in outcomes)

    emulator.configure(fault_rate=0.0, lost_response_rate=0.0)
    assert world.deployment_names() == ["llama-3-1-8b"]
    by_name: dict[str, int] = {}
    for job in world.jobs():
        by_name[job["metadata"]["name"]] = by_name.get(job["metadata"]["name"], 0) + 1
    assert all(count == 1 for count in by_name.values()), by_name
    assert sum(j["status"]["state"] == "Completed" for j in world.jobs()) >= 1

    emulator.configure(fault_rate=fault_rate, lost_response_rate=lost_rate)
    for _ in range(4):
        gone = run_cli(["destroy", "--all", "--auto-approve"], env)
        assert "Traceback" not in gone.text
        if gone.code == 0:
            break
        assert "still present" in gone.err or "Error" in gone.err
    assert gone.code == 0, gone.text
    emulator.configure(fault_rate=0.0, lost_response_rate=0.0)
    assert world.wait_no_deployments() == []
    assert read_state(tmp_path)["resources"] == {}
