"""Performance budgets that do not depend on the machine's load: what start-up imports (exact) and
the platform requests of a refreshing plan (exact, and the same for 10 and 100 stacks). Wall
times are goals measured by bench/ (bench/startup.py, bench/plan_scaling.py; figures in
docs/performance.md and bench/results/), never asserted here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.applied import apply_in_process, mark_jobs_running
from tests.support.cli import SEED, nimctl_argv, user_env
from tests.support.emulator import request_counts
from tests.support.stacks import write_stacks

pytestmark = pytest.mark.timeout(240)

# Never imported by --help, validate or an offline plan of the seed (each is imported by the
# command that needs it). omegaconf: the seed has no ${...} to interpolate.
HEAVY = (
    "leptonai",
    "httpx",
    "requests",
    "fastapi",
    "uvicorn",
    "deepdiff",
    "rich",
    "jsonschema",
    "pydantic",
    "omegaconf",
    "loguru",
    "nemo_evaluator",  # installed by the test extra: the jobs run it, nimctl itself never imports it
    "psycopg",  # only a state in PostgreSQL imports it
    "mlflow",
    "wandb",
    "sqlalchemy",
)


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    return user_env(
        NIMCTL_STATE=str(tmp_path / "state" / "nimctl.state.json"),
        NIMCTL_CACHE_DIR=str(tmp_path / "cache"),
        LEPTON_CACHE_DIR=str(tmp_path / "lepton"),
    )


def imported(args: list[str], env: dict[str, str], cwd: Path) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "nimctl", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode in (0, 2), proc.stderr[-2000:]
    names = {
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return {name.split(".")[0] for name in names}


@pytest.mark.parametrize(
    "args",
    [["--help"], ["validate", "-f", str(SEED)], ["plan", "--refresh=false", "-f", str(SEED)], ["tasks", "--json"]],
    ids=["help", "validate", "plan-no-refresh", "tasks"],
)
def test_start_up_imports_nothing_heavy(args: list[str], env, tmp_path) -> None:
    heavy = imported(args, env, tmp_path) & set(HEAVY)
    assert heavy == set(), f"nimctl {' '.join(args)} imports {sorted(heavy)}"


def plan(emulator, stacks_dir: Path, env: dict[str, str]) -> tuple[dict[str, int], str]:
    emulator.clear_requests()
    proc = subprocess.run(
        [*nimctl_argv(), "plan", "-f", str(stacks_dir)],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return request_counts(emulator), proc.stdout.strip().splitlines()[-1]


def test_refresh_requests_are_constant_in_the_number_of_stacks(emulator, tmp_path) -> None:
    emulator.configure(ready_after=0.0, job_duration=0.05, queue_time=0.0)
    seen = {}
    for count in (10, 100):
        emulator.reset()  # each size is its own state: the endpoints of the last one are not its own
        workdir = tmp_path / f"n{count}"
        stacks = write_stacks(workdir / "stacks", count)
        env = user_env(
            **emulator.env(),
            NIMCTL_STATE=str(workdir / "state" / "nimctl.state.json"),
            NIMCTL_CACHE_DIR=str(tmp_path / "cache"),
            LEPTON_CACHE_DIR=str(tmp_path / "lepton"),
        )
        apply_in_process(emulator, stacks, Path(env["NIMCTL_STATE"]))
        plan(emulator, stacks, env)  # fills the spec-check and state-validation caches, as apply would
        requests = []
        for _ in range(2):
            counts, summary = plan(emulator, stacks, env)
            assert summary == "No changes. The platform matches the configuration."
            requests.append(counts)
        mark_jobs_running(Path(env["NIMCTL_STATE"]))  # as after `apply --no-wait`
        running, summary = plan(emulator, stacks, env)
        assert summary == "No changes. The platform matches the configuration."
        seen[count] = (requests, running)
    for count in (10, 100):
        requests, running = seen[count]
        # plus one listing each of the workspace's secrets and shapes (the pre-flight checks)
        checks = {"GET /usersecrets": 1, "GET /shapes": 1}
        assert requests == [{"GET /deployments": 1, "GET /workspace": 1, **checks}] * 2
        # jobs are paged 500 at a time until an empty page: 30 and 300 jobs are one page each
        assert running == {"GET /deployments": 1, "GET /jobs": 2, "GET /workspace": 1, **checks}
