"""The three parts together: the mock server as a local endpoint, smoke and perf as local jobs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from nimctl.providers.base import JobState, ResourceState
from nimctl.providers.local.proc import group_members
from nimctl.providers.local.provider import LocalProvider
from tests.support.local import MODEL, endpoint_spec, pid_alive
from tests.support.polling import wait_until


def test_endpoint_and_builtin_task_jobs(provider: LocalProvider, tmp_path: Path) -> None:
    spec = endpoint_spec(MODEL, "--api-key", "e2e-key")
    endpoint = provider.create_endpoint("e2e", spec)
    endpoint = wait_until(lambda: (i := provider.get_endpoint("e2e")).state is ResourceState.READY and i)
    jobs = {}
    for task, params in (("smoke", {}), ("perf", {"concurrency": [1, 4], "requests": 8, "max_tokens": 8})):
        out = tmp_path / "results" / task
        env = {
            "NIMCTL_ENDPOINT_URL": endpoint.url,
            "NIMCTL_MODEL_ID": MODEL,
            "NIMCTL_API_KEY_ENV": "API_KEY",
            "API_KEY": "e2e-key",
            "NIMCTL_OUTPUT_DIR": str(out),
            "NIMCTL_TASK_PARAMS": json.dumps(params),
        }
        command = [sys.executable, "-m", f"nimctl.builtin_tasks.{task}"]
        jobs[task] = provider.submit_job(f"e2e-{task}", {"command": command, "env": env, "output_dir": str(out)})
    for task, job in jobs.items():
        info = wait_until(lambda job=job: (i := provider.get_job(job.id)).state.terminal and i, timeout=60)
        assert info.state is JobState.SUCCEEDED, provider.logs(job_id=job.id)
        results = json.loads((tmp_path / "results" / task / "results.json").read_text())
        assert results["passed"] and results["task"] == f"nimctl.{task}"
        assert any("PASSED" in line for line in provider.logs(job_id=job.id))
    runner = endpoint.extra["pid"]
    provider.delete_endpoint("e2e")
    assert not pid_alive(runner) and group_members(runner) == []
