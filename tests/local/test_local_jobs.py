"""The local provider's jobs: detached processes whose exit code is known after they end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nimctl.providers.base import JobState, NotFound, Rejected
from nimctl.providers.local.proc import group_members, proc_stat
from nimctl.providers.local.provider import LocalProvider
from nimctl.providers.local.specs import MASK, process_env
from tests.support.local import pid_alive
from tests.support.polling import wait_until


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def finished(provider: LocalProvider, job_id: str):
    return wait_until(lambda: (info := provider.get_job(job_id)).state.terminal and info)


def test_successful_job(provider: LocalProvider, tmp_path: Path) -> None:
    out = tmp_path / "out" / "task"
    code = (
        "import os, pathlib; pathlib.Path(os.environ['NIMCTL_OUTPUT_DIR'], 'r.txt').write_text(os.environ['X']); "
        "print('done')"
    )
    job = provider.submit_job(
        "job-ok", {"command": py(code), "output_dir": str(out), "env": {"NIMCTL_OUTPUT_DIR": str(out), "X": "42"}}
    )
    assert job.state in (JobState.RUNNING, JobState.SUCCEEDED) and job.name == "job-ok"
    assert len(job.id) == 32
    info = finished(provider, job.id)
    assert info.state is JobState.SUCCEEDED and info.platform_state == "Completed (exit code 0)"
    assert info.extra["exit_code"] == 0 and info.finished_at >= info.created_at
    assert (out / "r.txt").read_text() == "42"
    assert provider.logs(job_id=job.id)[-1] == "done"
    assert (out / "job.log").exists()


def test_failing_job_reports_exit_code(provider: LocalProvider, tmp_path: Path) -> None:
    job = provider.submit_job(
        "job-bad",
        {
            "command": py("import sys; print('bad input', file=sys.stderr); sys.exit(4)"),
            "output_dir": str(tmp_path / "bad"),
        },
    )
    info = finished(provider, job.id)
    assert info.state is JobState.FAILED
    assert info.platform_state == "Failed (exit code 4)" and info.extra["exit_code"] == 4
    assert "bad input" in provider.logs(job_id=job.id)


def test_job_outlives_the_process_that_submitted_it(state_dir: Path, tmp_path: Path) -> None:
    """A job submitted by a nimctl process that then dies keeps running; a new provider object
    in another process sees it finish, with its exit code."""
    gate = tmp_path / "gate"
    code = f"import os, sys, time\nwhile not os.path.exists({str(gate)!r}): time.sleep(0.01)\nsys.exit(5)"
    spec = {"command": py(code), "output_dir": str(tmp_path / "orphan")}
    script = (
        "import json, os, sys; from nimctl.providers.local.provider import LocalProvider; "
        "job = LocalProvider(sys.argv[1]).submit_job('orphan', json.loads(sys.argv[2])); "
        "print(job.id, flush=True); os._exit(0)"
    )
    submitter = subprocess.run(
        [sys.executable, "-c", script, str(state_dir), json.dumps(spec)], capture_output=True, text=True, timeout=30
    )
    assert submitter.returncode == 0, submitter.stderr
    job_id = submitter.stdout.strip()

    later = LocalProvider(state_dir, grace_period=1.0)
    assert later.get_job(job_id).state is JobState.RUNNING
    assert [j.id for j in later.find_jobs("orphan")] == [job_id]
    gate.touch()
    info = finished(later, job_id)
    assert info.state is JobState.FAILED and info.extra["exit_code"] == 5


def test_stop_job(provider: LocalProvider, tmp_path: Path) -> None:
    job = provider.submit_job(
        "job-long",
        {
            "command": py("import time; print('working', flush=True); time.sleep(60)"),
            "output_dir": str(tmp_path / "long"),
        },
    )
    wait_until(lambda: "working" in provider.logs(job_id=job.id))
    pid = job.extra["pid"]
    members = group_members(pid)
    assert len(members) == 2  # the runner and the command
    provider.stop_job(job.id)
    info = provider.get_job(job.id)
    assert info.state is JobState.STOPPED and info.platform_state.startswith("Stopped")
    assert not any(pid_alive(p) for p in members)
    provider.stop_job(job.id)  # stopping a stopped job is a no-op
    assert provider.get_job(job.id).state is JobState.STOPPED


def test_stop_finished_job_keeps_its_outcome(provider: LocalProvider, tmp_path: Path) -> None:
    job = provider.submit_job("job-quick", {"command": py("pass"), "output_dir": str(tmp_path / "q")})
    finished(provider, job.id)
    provider.stop_job(job.id)
    assert provider.get_job(job.id).state is JobState.SUCCEEDED


def test_delete_job_stops_and_forgets_it(provider: LocalProvider, tmp_path: Path) -> None:
    job = provider.submit_job(
        "job-del", {"command": py("import time; time.sleep(60)"), "output_dir": str(tmp_path / "d")}
    )
    provider.delete_job(job.id)
    assert not pid_alive(job.extra["pid"])
    assert provider.list_jobs() == [] and provider.find_jobs("job-del") == []
    with pytest.raises(NotFound):
        provider.get_job(job.id)
    with pytest.raises(NotFound):
        provider.delete_job(job.id)
    with pytest.raises(NotFound):
        provider.stop_job(job.id)
    assert (tmp_path / "d" / "job.log").exists()  # the job's output stays with the results


def test_stop_never_signals_a_reused_pid(provider: LocalProvider, state_dir: Path, tmp_path: Path) -> None:
    job = provider.submit_job("job-reused", {"command": py("pass"), "output_dir": str(tmp_path / "r")})
    finished(provider, job.id)
    stranger = subprocess.Popen(py("import time; time.sleep(60)"), start_new_session=True)
    try:
        path = state_dir / "local" / "jobs" / f"{job.id}.json"
        record = json.loads(path.read_text())
        record.update(pid=stranger.pid, pgid=stranger.pid, start_time=proc_stat(stranger.pid).start_time - 1)
        path.write_text(json.dumps(record))
        (state_dir / "local" / "jobs" / f"{job.id}.exit").unlink()  # as if it had never finished
        assert provider.get_job(job.id).state is JobState.FAILED  # the recorded process is gone
        provider.delete_job(job.id)
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def test_list_and_find_jobs(provider: LocalProvider, tmp_path: Path) -> None:
    a = provider.submit_job("same-name", {"command": py("pass"), "output_dir": str(tmp_path / "a")})
    b = provider.submit_job("same-name", {"command": py("pass"), "output_dir": str(tmp_path / "b")})
    c = provider.submit_job("other", {"command": py("pass"), "output_dir": str(tmp_path / "c")})
    assert {j.id for j in provider.find_jobs("same-name")} == {a.id, b.id}
    assert {j.id for j in provider.list_jobs()} == {a.id, b.id, c.id}
    for job in (a, b, c):
        finished(provider, job.id)


def test_job_secrets_are_masked(provider: LocalProvider, state_dir: Path, tmp_path: Path) -> None:
    code = "import os; assert os.environ['API_KEY'][::-1] == 'eulav-terces-ks'"  # the value, spelled backwards
    job = provider.submit_job(
        "job-secret", {"command": py(code), "output_dir": str(tmp_path / "s"), "env": {"API_KEY": "sk-secret-value"}}
    )
    assert job.spec["env"]["API_KEY"] == MASK
    assert finished(provider, job.id).state is JobState.SUCCEEDED  # the process got the real value
    assert not any("sk-secret-value" in p.read_text() for p in (state_dir / "local").rglob("*.json"))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"command": ["definitely-not-a-program-xyz"], "output_dir": "x"}, "no such executable"),
        ({"command": [], "output_dir": "x"}, "non-empty list"),
        ({"command": ["true"]}, "output_dir"),
        ({"command": ["true"], "output_dir": "x", "cwd": "/no/such/dir"}, "working directory"),
    ],
)
def test_bad_job_specs_are_rejected(provider: LocalProvider, spec: dict, message: str) -> None:
    with pytest.raises(Rejected, match=message):
        provider.submit_job("job", spec)
    assert provider.list_jobs() == []


def test_job_cwd(provider: LocalProvider, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    job = provider.submit_job(
        "job-cwd", {"command": py("import os; print(os.getcwd())"), "cwd": str(work), "output_dir": str(tmp_path / "o")}
    )
    finished(provider, job.id)
    assert provider.logs(job_id=job.id)[-1] == str(work)


MINIMAL_PATH = "/usr/bin:/bin"  # nimctl run by its path from a virtualenv that is not activated
TOOLS = str(Path(sys.executable).parent)


def test_tools_beside_nimctls_interpreter_are_found_without_them_on_path(
    provider: LocalProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("nimctl", path=MINIMAL_PATH):
        pytest.skip(f"nimctl is installed in {MINIMAL_PATH}: the test needs it only in {TOOLS}")
    monkeypatch.setenv("PATH", MINIMAL_PATH)
    job = provider.submit_job("job-tool", {"command": ["nimctl", "--version"], "output_dir": str(tmp_path / "t")})
    info = finished(provider, job.id)
    assert info.state is JobState.SUCCEEDED, provider.logs(job_id=job.id)
    assert provider.logs(job_id=job.id)[-1].startswith("nimctl ")
    seen = provider.submit_job(
        "job-path", {"command": py("import os; print(os.environ['PATH'])"), "output_dir": str(tmp_path / "p")}
    )
    assert finished(provider, seen.id).state is JobState.SUCCEEDED
    assert provider.logs(job_id=seen.id)[-1] == f"{TOOLS}:{MINIMAL_PATH}"


@pytest.mark.parametrize(
    ("inherited", "spec_env", "expected"),
    [
        (MINIMAL_PATH, {}, f"{TOOLS}:{MINIMAL_PATH}"),
        (f"/usr/bin:{TOOLS}:/bin", {}, f"/usr/bin:{TOOLS}:/bin"),  # already there: left as it is
        (f"{TOOLS}/:/bin", {}, f"{TOOLS}/:/bin"),
        (None, {}, f"{TOOLS}:{os.defpath}"),  # unset: what exec would search, after the tools
        (MINIMAL_PATH, {"PATH": "/opt/x/bin"}, "/opt/x/bin"),  # the spec's own PATH is used as written
    ],
)
def test_process_path(
    monkeypatch: pytest.MonkeyPatch, inherited: str | None, spec_env: dict[str, str], expected: str
) -> None:
    if inherited is None:
        monkeypatch.delenv("PATH", raising=False)
    else:
        monkeypatch.setenv("PATH", inherited)
    assert process_env(spec_env)["PATH"] == expected
