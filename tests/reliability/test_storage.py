"""Storage faults: a read-only or full state directory is refused before any platform call, and a
disk that fills after a side effect leaves everything recoverable. The state directory is a real
small tmpfs (``tests/support/reliability/storage.py``): real EROFS and ENOSPC."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.support.cli import Result
from tests.support.reliability import storage
from tests.support.reliability.harness import LEPTON_TWO_TASKS, LeptonSandbox, _decode, traceback_problems

pytestmark = pytest.mark.skipif(storage.available() is not None, reason=str(storage.available()))
WRITES = ("POST", "PATCH", "PUT", "DELETE")


def run(confined: storage.ConfinedDir, sandbox: LeptonSandbox, *args: str, **env: str) -> Result:
    started = time.monotonic()
    proc = subprocess.run(
        confined.argv([sys.executable, "-m", "nimctl", *args]),
        env={**sandbox.env, **env},
        cwd=sandbox.root,
        capture_output=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    return Result(proc.returncode, _decode(proc.stdout), _decode(proc.stderr), time.monotonic() - started, list(args))


def writes(lepton) -> list[str]:
    time.sleep(0.05)  # the emulator logs a request just after answering it
    return [f"{r.method} {r.path}" for r in lepton.requests if r.method in WRITES]


@pytest.fixture
def confined(tmp_path, lepton):
    sandbox = LeptonSandbox(tmp_path / "box", lepton, LEPTON_TWO_TASKS)
    directory = storage.ConfinedDir(sandbox.state_dir)
    outside = directory.path("nimctl.state.json")  # the confined state file, seen from here

    def state() -> dict | None:
        from nimctl.state.backend import open_state

        backend = open_state(str(outside))
        try:
            return backend.read().to_dict() if backend.exists() else None
        finally:
            getattr(backend, "close", lambda: None)()

    sandbox.state_path = outside
    sandbox.state = state  # type: ignore[method-assign]  # what the sandbox's checks read
    try:
        yield directory, sandbox
    finally:
        directory.close()
        sandbox.close()


def _refused(result: Result, words: str) -> list[str]:
    problems = traceback_problems(result)
    if result.code != 1 or words not in result.err:
        problems.append(f"expected a clear refusal ({words!r}): {result.describe()}")
    return problems


def test_read_only_and_full_state_directories_are_refused_before_any_platform_write(confined, lepton):
    directory, sandbox = confined
    config = str(sandbox.config)
    first = run(directory, sandbox, "apply", "-f", config, "--auto-approve")
    assert first.code == 0, first.describe()
    live_before = sandbox.live()
    problems: list[str] = []
    for fault, words in (("read-only", "the file system is read-only"), ("full", "the disk is full")):
        directory.read_only(fault == "read-only")
        if fault == "full":
            directory.fill()
        lepton.clear_requests()
        for args in (
            ("apply", "-f", config, "--auto-approve", "-o", "deployment.lepton_config.max_replicas=2"),
            ("destroy", "--all", "--auto-approve"),
        ):
            result = run(directory, sandbox, *args)
            problems += [f"{fault} / {args[0]}: {p}" for p in _refused(result, words)]
            if "run the command again" not in result.err:
                problems.append(f"{fault} / {args[0]}: the message does not say how to go on: {result.err}")
        problems += [f"{fault}: a platform write was made: {w}" for w in writes(lepton)]
        if sandbox.live() != live_before:
            problems.append(f"{fault}: the platform changed: {sandbox.live()} (was {live_before})")
    directory.free()
    directory.read_only(False)
    assert problems == []
    done = run(directory, sandbox, "destroy", "--all", "--auto-approve")
    assert done.code == 0, done.describe()
    assert sandbox.wait_nothing_live() == []


def test_a_fresh_state_in_a_full_directory_touches_nothing(confined, lepton):
    directory, sandbox = confined
    directory.fill()
    lepton.clear_requests()
    result = run(directory, sandbox, "apply", "-f", str(sandbox.config), "--auto-approve")
    assert _refused(result, "the disk is full") == []
    assert writes(lepton) == [] and sandbox.live() == []


def test_a_disk_that_fills_after_the_endpoint_is_created_leaves_a_recoverable_run(confined, lepton, tmp_path):
    directory, sandbox = confined
    lepton.configure(ready_after=1.5)  # the disk fills while the endpoint starts
    trace = tmp_path / "trace"
    argv = [sys.executable, "-m", "nimctl", "apply", "-f", str(sandbox.config), "--auto-approve"]
    proc = subprocess.Popen(
        directory.argv(argv),
        env={**sandbox.env, "NIMCTL_TRACE_FILE": str(trace)},
        cwd=sandbox.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not (trace.exists() and any(m.startswith("recorded:create:endpoint") for m in trace.read_text().split())):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    directory.fill()
    out, err = proc.communicate(timeout=120)
    failed = Result(proc.returncode, _decode(out), _decode(err), 0.0, ["apply"])
    assert _refused(failed, "the disk is full") == []
    assert "`nimctl apply` continues" in failed.err and "nimctl destroy" in failed.err
    assert len(sandbox.live()) >= 1  # the endpoint kept running: nothing could be journaled to remove it

    directory.free()
    plan = run(directory, sandbox, "plan", "-f", str(sandbox.config))
    assert plan.code == 0 and not traceback_problems(plan), plan.describe()
    again = run(directory, sandbox, "apply", "-f", str(sandbox.config), "--auto-approve")
    assert again.code == 0, again.describe()
    assert sandbox.duplicates(max_endpoint_creates=1) == []
    assert sandbox.untracked() == []
    done = run(directory, sandbox, "destroy", "--all", "--auto-approve")
    assert done.code == 0, done.describe()
    assert sandbox.wait_nothing_live() == []
