"""The reliability suite's machinery, shared by the tests and ``bench/reliability.py``.

Everything here drives the real ``nimctl`` CLI as a subprocess and looks at the platform from the
outside: the Lepton emulator through its world (what was created, ever) and the local platform
through ``/proc`` (which processes still carry the state directory in their command line or
environment). Checks return lists of problems instead of asserting, so a benchmark run can count
cases tried and survived while a test simply asserts the list is empty.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nimctl.providers.local.proc import RUNNER
from tests.support.applied import add_workspace_secrets
from tests.support.cli import ENDPOINT_TOKEN, Result, clean_env

REPO = Path(__file__).resolve().parents[3]
CONFIGS = REPO / "tests" / "reliability" / "configs"
LEPTON_TWO_TASKS = CONFIGS / "lepton_two_tasks.yaml"
LEPTON_FIVE_TASKS = REPO / "examples" / "lepton_multi_task.yaml"
LOCAL_QUICKSTART = REPO / "examples" / "local-quickstart.yaml"

# Short lifecycles: Starting -> Ready in 50 ms, jobs done in ~120 ms. Not tests/conftest.py's
# FAST_EMULATOR (the emulator fixture's start options, seeded): a sandbox applies these to the
# shared reliability emulator, so they also turn its faults and latency back off.
FAST_LEPTON = {
    "ready_after": 0.05,
    "job_duration": 0.1,
    "queue_time": 0.02,
    "delete_after": 0.05,
    "fault_rate": 0.0,
    "lost_response_rate": 0.0,
    "latency": 0.0,
}
FINISHED_JOB = ("Completed", "Failed", "Stopped", "Deleted", "Archived")  # Lepton job states that hold nothing
TIMED_OUT = -1000  # Result.code of a command that had to be killed for overrunning its time

# Runs nimctl under an address-space limit without preexec_fn (unsafe in a threaded parent).
_LIMITED = (
    "import resource, runpy, sys\n"
    "limit = int(sys.argv.pop(1))\n"
    "resource.setrlimit(resource.RLIMIT_AS, (limit, limit))\n"
    "sys.argv[0] = 'nimctl'\n"
    "runpy.run_module('nimctl', run_name='__main__', alter_sys=True)\n"
)


def nimctl(
    args: list[str],
    env: dict[str, str],
    *,
    cwd: Path | None = None,
    timeout: float = 120.0,
    memory_bytes: int | None = None,
) -> Result:
    """Run the real CLI in a fresh interpreter; never raises for a failing or hanging command."""
    if memory_bytes is None:
        argv = [sys.executable, "-m", "nimctl", *args]
    else:
        argv = [sys.executable, "-c", _LIMITED, str(memory_bytes), *args]
    started = time.monotonic()
    try:
        proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:  # subprocess.run has killed it
        return Result(
            TIMED_OUT,
            _decode(exc.stdout),
            _decode(exc.stderr) + f"\n[timed out after {timeout}s]",
            time.monotonic() - started,
            list(args),
        )
    return Result(proc.returncode, _decode(proc.stdout), _decode(proc.stderr), time.monotonic() - started, list(args))


def start_nimctl(args: list[str], env: dict[str, str], *, cwd: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "nimctl", *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def finish(proc: subprocess.Popen, args: list[str], started: float, timeout: float = 120.0) -> Result:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return Result(TIMED_OUT, _decode(out), _decode(err) + "\n[timed out]", time.monotonic() - started, args)
    return Result(proc.returncode, _decode(out), _decode(err), time.monotonic() - started, args)


def _decode(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode("utf-8", errors="replace")


def base_env(root: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without any Lepton or nimctl setting, pointed at ``root``."""
    cache = root / "lepton-cache"
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "latest_version_check").write_text(str(time.time()))  # keeps the SDK off PyPI
    env = clean_env(
        NIMCTL_STATE=str(root / "state" / "nimctl.state.json"),
        LEPTON_CACHE_DIR=str(cache),
        NIMCTL_POLL_INTERVAL="0.05",
        NIMCTL_LOCAL_GRACE_S="3",
    )
    env.update(extra)
    return env


def traceback_problems(result: Result) -> list[str]:
    return (
        [f"traceback in the output of {result.describe()}"]
        if "Traceback (most recent call last)" in result.text
        else []
    )


# -- processes (the local platform's truth) -------------------------------------------------------


def processes_mentioning(text: str) -> dict[int, str]:
    """Live, non-zombie processes (other than this one) whose command line or environment holds
    ``text``: pid -> command line."""
    needle = text.encode()
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
            status = (entry / "status").read_text()
        except OSError:
            continue
        if "State:\tZ" in status or "State:\tX" in status:
            continue
        if needle in cmdline or needle in environ:
            found[int(entry.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
    return found


def process_stopped(pid: int) -> bool:
    """The process is stopped by a signal (``T`` in /proc/<pid>/stat)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return text[text.rindex(")") + 2 :].startswith("T")


def wait_while(check: Callable[[], Any], timeout: float, interval: float = 0.05) -> Any:
    """Poll ``check`` while it returns something truthy (not done yet) or until the time is up;
    its last value (falsy when done). The opposite of tests/support/polling.wait_until."""
    deadline = time.monotonic() + timeout
    value = check()
    while value and time.monotonic() < deadline:
        time.sleep(interval)
        value = check()
    return value


# -- sandboxes: one state file, one config, one platform ----------------------------------------


class Sandbox:
    """A state directory, a config and the platform it deploys to. Subclasses say what is live."""

    platform = ""

    def __init__(self, root: Path, config: Path, tasks: int) -> None:
        self.root = root
        self.config = config
        self.tasks = tasks
        root.mkdir(parents=True, exist_ok=True)
        self.state_dir = root / "state"
        self.state_path = self.state_dir / "nimctl.state.json"
        self.env = base_env(root)

    def run(self, *args: str, timeout: float = 120.0, **extra_env: str) -> Result:
        return nimctl(list(args), {**self.env, **extra_env}, cwd=self.root, timeout=timeout)

    def apply(self, **extra_env: str) -> Result:
        return self.run("apply", "-f", str(self.config), "--auto-approve", **extra_env)

    def plan(self, *extra: str, **extra_env: str) -> Result:
        return self.run("plan", "-f", str(self.config), *extra, **extra_env)

    def destroy_all(self, **extra_env: str) -> Result:
        return self.run("destroy", "--all", "--auto-approve", **extra_env)

    def state(self) -> dict[str, Any] | None:
        """The state as nimctl reads it (the file with its journal's steps, or PostgreSQL's rows)."""
        from nimctl.state.backend import open_state

        backend = open_state(self.env["NIMCTL_STATE"])
        try:
            return backend.read().to_dict() if backend.exists() else None
        finally:
            getattr(backend, "close", lambda: None)()

    def tracked_names(self) -> set[str]:
        """Platform names the state knows: its records and its journal's pending entries."""
        state = self.state() or {}
        names = {r.get("name") for r in state.get("resources", {}).values()}
        names |= {p.get("name") for p in state.get("pending", [])}
        return {n for n in names if n}

    # What subclasses provide.
    def live(self) -> list[str]:
        """Objects that run or serve now (finished or stopped jobs do not count)."""
        raise NotImplementedError

    def leftovers(self) -> list[str]:
        """Everything still on the platform, finished jobs included (what destroy must remove)."""
        raise NotImplementedError

    def untracked(self) -> list[str]:
        """Live objects the state does not know about: a leak."""
        raise NotImplementedError

    def duplicates(self, *, max_endpoint_creates: int) -> list[str]:
        raise NotImplementedError

    def job_creates(self) -> int:
        raise NotImplementedError

    def close(self) -> None:
        """Remove whatever a failed case left (never fails)."""

    # Checks shared by every case.
    def wait_nothing_live(self, timeout: float = 15.0) -> list[str]:
        return wait_while(self.live, timeout) or []

    def wait_no_leftovers(self, timeout: float = 15.0) -> list[str]:
        return wait_while(self.leftovers, timeout) or []

    def converged_problems(self) -> list[str]:
        """After a successful apply: one endpoint recorded and live, every task succeeded."""
        problems = []
        state = self.state() or {}
        if state.get("pending"):
            problems.append(f"journal not empty after a successful apply: {state['pending']}")
        resources = state.get("resources", {})
        endpoints = [a for a, r in resources.items() if r["type"] == "endpoint"]
        jobs = {a: r for a, r in resources.items() if r["type"] == "job"}
        if len(endpoints) != 1:
            problems.append(f"expected one endpoint in the state, found {endpoints}")
        if len(jobs) != self.tasks:
            problems.append(f"expected {self.tasks} jobs in the state, found {sorted(jobs)}")
        not_done = {
            a: r.get("observed", {}).get("state")
            for a, r in jobs.items()
            if r.get("observed", {}).get("state") != "succeeded"
        }
        if not_done:
            problems.append(f"jobs not succeeded after a successful apply: {not_done}")
        problems += [f"untracked (leaked) object: {u}" for u in self.untracked()]
        running = [i for i, inv in state.get("invocations", {}).items() if inv.get("status") == "running"]
        if running:
            problems.append(f"invocations still recorded as running after a finished apply: {running}")
        return problems


class LeptonSandbox(Sandbox):
    """The emulated Lepton workspace (the real SDK talks to it over HTTP on 127.0.0.1)."""

    platform = "lepton"

    def __init__(
        self, root: Path, emulator: Any, config: Path = LEPTON_TWO_TASKS, tasks: int = 2, **options: Any
    ) -> None:
        super().__init__(root, config, tasks)
        self.emulator = emulator
        emulator.reset()
        emulator.configure(**{**FAST_LEPTON, **options})
        add_workspace_secrets(emulator)  # Lepton starts nothing whose secret reference is missing
        self.env.update(emulator.env())
        self.env.update({"ENDPOINT_API_KEY": ENDPOINT_TOKEN, "NIMCTL_RETRY_MAX_SECONDS": "20"})

    @property
    def world(self) -> Any:
        return self.emulator.world

    def _deployments(self) -> list[dict[str, Any]]:
        return self.world.deployments()

    def live(self) -> list[str]:
        found = [f"deployment {d['metadata']['name']} ({d['status']['state']})" for d in self._deployments()]
        found += [
            f"job {j['metadata']['name']} ({j['status']['state']})"
            for j in self.world.jobs()
            if j["status"]["state"] not in FINISHED_JOB
        ]
        return found

    def leftovers(self) -> list[str]:
        """Deployments, jobs still running, and any job the state still tracks. A finished job of a
        run that a later apply superseded is not counted: nimctl no longer tracks it and Lepton
        archives it after its TTL (see ``finished_untracked`` and docs/reliability.md)."""
        tracked = self.tracked_names()
        return self.live() + [
            f"job {j['metadata']['name']} ({j['status']['state']})"
            for j in self.world.jobs()
            if j["metadata"]["name"] in tracked and j["status"]["state"] in FINISHED_JOB
        ]

    def finished_untracked(self) -> list[str]:
        tracked = self.tracked_names()
        return [
            j["metadata"]["name"]
            for j in self.world.jobs()
            if j["metadata"]["name"] not in tracked and j["status"]["state"] in FINISHED_JOB
        ]

    def untracked(self) -> list[str]:
        tracked = self.tracked_names()
        found = [
            f"deployment {d['metadata']['name']}"
            for d in self._deployments()
            if d["metadata"]["name"] not in tracked and d["status"]["state"] != "Deleting"
        ]
        found += [
            f"job {j['metadata']['name']} ({j['status']['state']})"
            for j in self.world.jobs()
            if j["metadata"]["name"] not in tracked and j["status"]["state"] not in FINISHED_JOB
        ]
        return found

    def creates(self) -> Counter:
        return Counter((h["kind"], h["name"]) for h in self.world.history)

    def duplicates(self, *, max_endpoint_creates: int) -> list[str]:
        """A job name created twice is a duplicate (names are not unique on Lepton); an endpoint
        created more often than the runs that had a reason to create it is one too."""
        problems = []
        for (kind, name), count in sorted(self.creates().items()):
            if kind == "job" and count > 1:
                problems.append(f"job {name} was created {count} times")
            if kind == "deployment" and count > max_endpoint_creates:
                problems.append(f"endpoint {name} was created {count} times (at most {max_endpoint_creates} expected)")
        return problems

    def job_creates(self) -> int:
        return sum(count for (kind, _), count in self.creates().items() if kind == "job")


class LocalSandbox(Sandbox):
    """The local platform: endpoints and jobs are processes started by nimctl."""

    platform = "local"

    def __init__(self, root: Path, config: Path = LOCAL_QUICKSTART, tasks: int = 2) -> None:
        super().__init__(root, config, tasks)

    @property
    def registry(self) -> Path:
        return self.state_dir / "local"

    def _processes(self) -> dict[int, str]:
        return processes_mentioning(str(self.state_dir))

    def live(self) -> list[str]:
        return [f"process {pid}: {cmd[:160]}" for pid, cmd in sorted(self._processes().items())]

    def leftovers(self) -> list[str]:
        return self.live()

    def _records(self, kind: str) -> list[dict[str, Any]]:
        folder = self.registry / kind
        records = []
        for path in sorted(folder.glob("*.json")) if folder.exists() else []:
            try:
                records.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue
        return records

    def untracked(self) -> list[str]:
        tracked = self.tracked_names()
        servers = [
            cmd for cmd in self._processes().values() if "nimctl.offline.mock_server" in cmd and RUNNER not in cmd
        ]
        running = self._processes()
        found = []
        for record in self._records("endpoints") + self._records("jobs"):
            if record.get("name") not in tracked and record.get("pid") in running:
                found.append(f"running {record.get('name')} (pid {record.get('pid')}) is not in the state")
        if len(servers) > 1:
            found.append(f"{len(servers)} endpoint server processes: {servers}")
        return found

    def duplicates(self, *, max_endpoint_creates: int) -> list[str]:
        problems = []
        names = Counter(r.get("name") for r in self._started_jobs())
        problems += [f"job {n} was started {c} times" for n, c in names.items() if c > 1]
        servers = [
            cmd for cmd in self._processes().values() if "nimctl.offline.mock_server" in cmd and RUNNER not in cmd
        ]
        if len(servers) > 1:
            problems.append(f"{len(servers)} endpoint servers run at once: {servers}")
        return problems

    def _started_jobs(self) -> list[dict[str, Any]]:
        """Job records whose process really started: it left an exit file, or it still runs. A record
        of a start that a kill -9 cut short ran nothing (the provider reports it 'Never started')."""
        running = "\n".join(self._processes().values())
        return [
            r
            for r in self._records("jobs")
            if (self.registry / "jobs" / f"{r.get('id')}.exit").exists() or f"--run-id {r.get('id')} " in running
        ]

    def job_creates(self) -> int:
        return len(self._started_jobs())

    def close(self) -> None:
        if self._processes():
            self.destroy_all()
        for pid in self._processes():  # only processes our own nimctl runs started
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass


# -- the crash matrix ---------------------------------------------------------------------------


@dataclass
class CaseReport:
    platform: str
    phase: str  # "apply" | "destroy"
    point: str
    signal: str
    problems: list[str]
    seconds: float

    @property
    def survived(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        head = f"{self.platform} {self.phase} {self.signal}@{self.point}"
        return head + ("" if self.survived else ":\n  - " + "\n  - ".join(self.problems))


def read_marks(trace: Path) -> list[str]:
    """The marks of a trace file, each once, in the order they first appeared."""
    seen: dict[str, None] = {}
    for line in trace.read_text().splitlines() if trace.exists() else []:
        if line.strip():
            seen.setdefault(line.strip(), None)
    return list(seen)


def discover_marks(sandbox: Sandbox) -> tuple[list[str], list[str]]:
    """Every checkpoint of a clean apply and of the destroy after it, from traced runs."""
    apply_trace, destroy_trace = sandbox.root / "trace-apply.log", sandbox.root / "trace-destroy.log"
    applied = sandbox.apply(NIMCTL_TRACE_FILE=str(apply_trace))
    if applied.code != 0:
        raise AssertionError(f"the traced apply failed: {applied.describe()}")
    destroyed = sandbox.destroy_all(NIMCTL_TRACE_FILE=str(destroy_trace))
    if destroyed.code != 0:
        raise AssertionError(f"the traced destroy failed: {destroyed.describe()}")
    return read_marks(apply_trace), read_marks(destroy_trace)


def mark_problems(apply_marks: list[str], destroy_marks: list[str], tasks: int) -> list[str]:
    """What a complete trace must hold: each journaled call's intent and outcome, each wait."""
    problems = []
    for needed in ("invocation:started", "endpoints:ready", "jobs:submitted", "jobs:finished", "invocation:succeeded"):
        if needed not in apply_marks:
            problems.append(f"apply never marked {needed}")
    for kind, op, count in (("endpoint", "create", 1), ("job", "submit", tasks)):
        pending = [m for m in apply_marks if m.startswith(f"pending:{op}:{kind}.")]
        recorded = [m for m in apply_marks if m.startswith(f"recorded:{op}:{kind}.")]
        if len(pending) != count or len(recorded) != count:
            problems.append(f"expected {count} pending and recorded {op} marks, got {pending} / {recorded}")
    deletes = [m for m in destroy_marks if m.startswith("pending:delete:")]
    if len(deletes) != tasks + 1 or len([m for m in destroy_marks if m.startswith("recorded:delete:")]) != tasks + 1:
        problems.append(f"destroy should journal {tasks + 1} deletes, marked {destroy_marks}")
    return problems


def _crash_exit_problems(result: Result, signame: str) -> list[str]:
    expected = -signal.SIGKILL if signame == "KILL" else 130
    problems = traceback_problems(result)
    if result.code != expected:
        problems.append(f"expected exit {expected} from the {signame} at the mark; {result.describe()}")
    return problems


def _plan_explains(sandbox: Sandbox, state: dict[str, Any] | None) -> list[str]:
    plan = sandbox.plan()
    problems = traceback_problems(plan)
    if plan.code != 0:
        return problems + [f"plan after the crash failed: {plan.describe()}"]
    pending = (state or {}).get("pending", [])
    if pending and "interrupted run" not in plan.text:
        problems.append(f"plan does not say that an interrupted run left {len(pending)} step(s):\n{plan.text[-800:]}")
    for entry in pending:
        if entry["address"] not in plan.text:
            problems.append(f"plan does not name the interrupted step on {entry['address']}")
    if "Plan:" not in plan.text and "No changes" not in plan.text:
        problems.append(f"plan has no summary line: {plan.text[-400:]}")
    return problems


def _converge_and_destroy(
    sandbox: Sandbox, *, max_endpoint_creates: int, exact_job_creates: int | None, job_creates_before: int
) -> list[str]:
    problems: list[str] = []
    converged = sandbox.apply()
    problems += traceback_problems(converged)
    if converged.code != 0:
        problems.append(f"apply after the crash did not converge: {converged.describe()}")
    else:
        problems += sandbox.converged_problems()
        again = sandbox.plan("--detailed-exitcode")
        if again.code != 0:
            problems.append(f"plan after the converging apply still has changes: {again.describe()}")
    problems += sandbox.duplicates(max_endpoint_creates=max_endpoint_creates)
    jobs_started = sandbox.job_creates()
    if exact_job_creates is not None and jobs_started != exact_job_creates:
        problems.append(
            f"{jobs_started} jobs were submitted in all; a crash must not cost a re-run ({exact_job_creates} expected)"
        )
    elif jobs_started - job_creates_before > sandbox.tasks:
        problems.append(
            f"the converging apply submitted {jobs_started - job_creates_before} jobs for {sandbox.tasks} tasks"
        )
    problems += _destroy_clean(sandbox)
    return problems


def _destroy_clean(sandbox: Sandbox) -> list[str]:
    gone = sandbox.destroy_all()
    problems = traceback_problems(gone)
    if gone.code != 0:
        problems.append(f"destroy --all failed: {gone.describe()}")
    left = sandbox.wait_no_leftovers()
    if left:
        problems.append(f"left on the platform after destroy --all: {left}")
    state = sandbox.state() or {}
    if state.get("resources") or state.get("pending"):
        problems.append(
            f"state not empty after destroy --all: resources {sorted(state.get('resources', {}))}, "
            f"pending {state.get('pending')}"
        )
    return problems


def apply_crash_case(sandbox: Sandbox, point: str, signame: str = "KILL") -> CaseReport:
    """Stop ``nimctl apply`` at ``point`` with ``signame``; then plan, re-apply, destroy --all."""
    started = time.monotonic()
    crashed = sandbox.apply(NIMCTL_CRASH_AT=point, NIMCTL_CRASH_SIGNAL=signame)
    problems = _crash_exit_problems(crashed, signame)
    state = sandbox.state()
    if signame != "KILL":
        problems += _interrupt_cleanup_problems(sandbox, state, crashed)
    problems += _plan_explains(sandbox, state)
    before = sandbox.job_creates()
    # After kill -9 nothing was cleaned up: the next apply adopts what the killed one created, so the
    # endpoint is created once and each task runs once. After a caught signal the cleanup removed
    # the endpoint and stopped the jobs: the next apply creates them again (never twice at once).
    problems += _converge_and_destroy(
        sandbox,
        max_endpoint_creates=1 if signame == "KILL" else 2,
        exact_job_creates=sandbox.tasks if signame == "KILL" else None,
        job_creates_before=before,
    )
    return CaseReport(sandbox.platform, "apply", point, signame, problems, time.monotonic() - started)


def _interrupt_cleanup_problems(sandbox: Sandbox, state: dict[str, Any] | None, crashed: Result) -> list[str]:
    """A caught signal: the cleanup removed what this invocation created and recorded it."""
    problems = []
    left = sandbox.wait_nothing_live(timeout=5.0)
    if left:
        problems.append(f"the interrupted apply left running: {left}")
    state = state or {}
    if state.get("pending"):
        problems.append(f"the interrupted apply left journal entries: {state['pending']}")
    invocations = list(state.get("invocations", {}).values())
    if not invocations:
        problems.append("the interrupted apply recorded no invocation")
    elif invocations[-1].get("status") != "interrupted":
        problems.append(f"the interrupted invocation is recorded as {invocations[-1].get('status')!r}")
    endpoints = [a for a, r in state.get("resources", {}).items() if r["type"] == "endpoint"]
    if endpoints:
        problems.append(f"the interrupted apply still records endpoints {endpoints}")
    return problems


def destroy_crash_case(sandbox: Sandbox, point: str) -> CaseReport:
    """kill -9 ``nimctl destroy --all`` at ``point``; plan explains, destroy again leaves nothing."""
    started = time.monotonic()
    problems: list[str] = []
    applied = sandbox.apply()
    if applied.code != 0:
        problems.append(f"the apply before the destroy failed: {applied.describe()}")
    crashed = sandbox.destroy_all(NIMCTL_CRASH_AT=point, NIMCTL_CRASH_SIGNAL="KILL")
    problems += _crash_exit_problems(crashed, "KILL")
    problems += _plan_explains(sandbox, sandbox.state())
    problems += [f"untracked (leaked) object after the killed destroy: {u}" for u in sandbox.untracked()]
    problems += _destroy_clean(sandbox)
    again = sandbox.destroy_all()
    if again.code != 0 or "Nothing to destroy" not in again.text:
        problems.append(f"a second destroy is not harmless: {again.describe()}")
    return CaseReport(sandbox.platform, "destroy", point, "KILL", problems, time.monotonic() - started)


def during_wait_case(sandbox: Sandbox, after_mark: str, signame: str, *, delay: float = 0.4) -> CaseReport:
    """Signal ``nimctl apply`` in the middle of a wait (``delay`` s after ``after_mark``), not at a mark."""
    started = time.monotonic()
    trace = sandbox.root / "trace-wait.log"
    args = ["apply", "-f", str(sandbox.config), "--auto-approve"]
    proc = start_nimctl(args, {**sandbox.env, "NIMCTL_TRACE_FILE": str(trace)}, cwd=sandbox.root)
    problems: list[str] = []
    seen = wait_while(lambda: after_mark not in read_marks(trace) and proc.poll() is None, 60)
    if seen or proc.poll() is not None:
        problems.append(f"apply never reached {after_mark}")
    time.sleep(delay)
    proc.send_signal(getattr(signal, f"SIG{signame}"))
    crashed = finish(proc, args, started)
    problems += _crash_exit_problems(crashed, signame)
    state = sandbox.state()
    if signame != "KILL":
        problems += _interrupt_cleanup_problems(sandbox, state, crashed)
    problems += _plan_explains(sandbox, state)
    if isinstance(sandbox, LeptonSandbox):
        sandbox.emulator.configure(**FAST_LEPTON)  # the slow lifecycle only served to make the wait long
    before = sandbox.job_creates()
    problems += _converge_and_destroy(
        sandbox, max_endpoint_creates=1 if signame == "KILL" else 2, exact_job_creates=None, job_creates_before=before
    )
    return CaseReport(sandbox.platform, "apply", f"during:{after_mark}", signame, problems, time.monotonic() - started)


def select(marks: Iterable[str], prefixes: Iterable[str]) -> list[str]:
    """The marks that start with any of ``prefixes`` (the CI subset), in trace order."""
    prefixes = tuple(prefixes)
    return [m for m in marks if m.startswith(prefixes)]


def pick(marks: list[str], prefix: str, index: int = 0) -> str:
    """The ``index``-th discovered mark starting with ``prefix`` (fails if the journal lost it)."""
    found = [m for m in marks if m.startswith(prefix)]
    if len(found) <= index:
        raise AssertionError(f"no mark #{index} starting with {prefix!r} among the discovered {marks}")
    return found[index]


SandboxFactory = Callable[..., Sandbox]  # (case name, **platform options) -> a fresh sandbox


def _guarded(make: SandboxFactory, name: str, case: Callable[[Sandbox], CaseReport], **options: Any) -> CaseReport:
    sandbox = make(name, **options)
    try:
        return case(sandbox)
    finally:
        sandbox.close()


def apply_matrix(make: SandboxFactory, marks: list[str], signals: Iterable[str]) -> list[CaseReport]:
    return [
        _guarded(make, f"apply-{signame}-{i}", lambda s, p=point, g=signame: apply_crash_case(s, p, g))
        for signame in signals
        for i, point in enumerate(marks)
    ]


def destroy_matrix(make: SandboxFactory, marks: list[str]) -> list[CaseReport]:
    return [
        _guarded(make, f"destroy-{i}", lambda s, p=point: destroy_crash_case(s, p)) for i, point in enumerate(marks)
    ]


# The waits of an apply, made long enough (2 s) to be signalled in their middle, 0.4 s after the
# mark that starts them. On the local platform the jobs (the quickstart's perf task) take ~1 s.
LEPTON_WAITS = (("recorded:create:", {"ready_after": 2.0}), ("jobs:submitted", {"job_duration": 2.0}))
LOCAL_WAITS = (("jobs:submitted", {}),)


def wait_matrix(
    make: SandboxFactory,
    marks: list[str],
    waits: Iterable[tuple[str, dict[str, Any]]],
    signals: Iterable[str],
    delay: float = 0.4,
) -> list[CaseReport]:
    reports = []
    for prefix, options in waits:
        for signame in signals:
            point = pick(marks, prefix)
            reports.append(
                _guarded(
                    make,
                    f"wait-{signame}-{prefix.strip(':')}",
                    lambda s, p=point, g=signame: during_wait_case(s, p, g, delay=delay),
                    **options,
                )
            )
    return reports


def failures(reports: Iterable[CaseReport]) -> str:
    return "\n".join(r.describe() for r in reports if not r.survived)


# -- faults ---------------------------------------------------------------------------------------


@dataclass
class FaultReport:
    rate: float
    problems: list[str]
    apply_runs: int = 0
    destroy_runs: int = 0
    faults: Counter = field(default_factory=Counter)  # what the emulator injected, by kind
    job_creates: int = 0
    endpoint_creates: int = 0
    seconds: float = 0.0

    @property
    def survived(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        head = (
            f"faults {self.rate:.0%}: apply runs {self.apply_runs}, destroy runs {self.destroy_runs}, "
            f"injected {dict(self.faults)}, job creates {self.job_creates}, endpoint creates "
            f"{self.endpoint_creates}"
        )
        return head + ("" if self.survived else ":\n  - " + "\n  - ".join(self.problems))


def _clear_failure_problems(result: Result, what: str, bound_s: float) -> list[str]:
    """A failed run under faults: exit 1, an error line with a hint, within its time bound."""
    problems = traceback_problems(result)
    if result.code not in (0, 1):
        problems.append(f"{what} neither succeeded nor failed cleanly: {result.describe()}")
    if result.code == 1 and ("Error" not in result.err or "hint:" not in result.err):
        problems.append(f"{what} failed without an error and a hint: {result.describe()}")
    if result.seconds > bound_s:
        problems.append(f"{what} took {result.seconds:.0f}s (bound {bound_s:.0f}s)")
    return problems


def fault_case(sandbox: LeptonSandbox, rate: float, *, attempts: int = 6, bound_s: float = 120.0) -> FaultReport:
    """apply until it converges, then destroy until nothing is left, with ``rate`` of all workspace
    requests failing (429/5xx, not applied) and ``rate`` of all writes applied but answered 502."""
    started = time.monotonic()
    report = FaultReport(rate, [])
    sandbox.emulator.configure(fault_rate=rate, lost_response_rate=rate)
    applied = None
    for _ in range(attempts):
        applied = sandbox.apply()
        report.apply_runs += 1
        report.problems += _clear_failure_problems(applied, "apply", bound_s)
        report.problems += [f"leaked after apply run {report.apply_runs}: {u}" for u in sandbox.untracked()]
        if applied.code == 0:
            break
    if applied is None or applied.code != 0:
        report.problems.append(f"apply did not converge in {attempts} runs at {rate:.0%} faults")
    else:
        report.problems += sandbox.converged_problems()
    report.problems += sandbox.duplicates(max_endpoint_creates=report.apply_runs)
    for _ in range(attempts):
        gone = sandbox.destroy_all()
        report.destroy_runs += 1
        report.problems += _clear_failure_problems(gone, "destroy", bound_s)
        if gone.code == 1 and "still present" not in gone.err and "Error" not in gone.err:
            report.problems.append(f"a failed destroy does not say what is left: {gone.describe()}")
        report.problems += [f"leaked after destroy run {report.destroy_runs}: {u}" for u in sandbox.untracked()]
        if gone.code == 0:
            break
    else:
        report.problems.append(f"destroy did not finish in {attempts} runs at {rate:.0%} faults")
    report.faults = Counter(r.fault for r in sandbox.emulator.requests if r.fault)
    sandbox.emulator.configure(fault_rate=0.0, lost_response_rate=0.0)
    left = sandbox.wait_no_leftovers()
    if left:
        report.problems.append(f"left on the platform: {left}")
    state = sandbox.state() or {}
    if state.get("resources") or state.get("pending"):
        report.problems.append(f"state not empty at the end: {sorted(state.get('resources', {}))}")
    report.job_creates = sandbox.job_creates()
    report.endpoint_creates = sum(c for (kind, _), c in sandbox.creates().items() if kind == "deployment")
    report.seconds = time.monotonic() - started
    return report


def slow_gateway_case(
    sandbox: LeptonSandbox, mark: str, *, latency: float = 1.0, client_timeout: float = 0.3, slow_for: float = 2.0
) -> list[str]:
    """Every answer of the workspace takes ``latency`` s, longer than nimctl waits for it
    (NIMCTL_LEPTON_TIMEOUT), for ``slow_for`` s from ``mark`` on: the calls time out and are retried
    (creates look up their name first); the apply must converge with nothing created twice.

    The process stops itself at ``mark`` (SIGSTOP) so the slow spell starts exactly there."""
    problems: list[str] = []
    args = ["apply", "-f", str(sandbox.config), "--auto-approve"]
    env = {
        **sandbox.env,
        "NIMCTL_LEPTON_TIMEOUT": str(client_timeout),
        "NIMCTL_CRASH_AT": mark,
        "NIMCTL_CRASH_SIGNAL": "STOP",
        "NIMCTL_RETRY_MAX_ATTEMPTS": "30",
        "NIMCTL_RETRY_MAX_SECONDS": "60",
    }
    started = time.monotonic()
    proc = start_nimctl(args, env, cwd=sandbox.root)
    try:
        if wait_while(lambda: not process_stopped(proc.pid) and proc.poll() is None, 60):
            problems.append(f"apply never stopped at {mark}")
        sandbox.emulator.clear_requests()
        sandbox.emulator.configure(latency=latency)
        proc.send_signal(signal.SIGCONT)
        time.sleep(slow_for)
    finally:
        sandbox.emulator.configure(latency=0.0)
        proc.send_signal(signal.SIGCONT)
    result = finish(proc, args, started)
    timed_out = [r for r in sandbox.emulator.requests if r.duration >= latency * 0.9]
    if not timed_out:
        problems.append("no request outlasted the client timeout: the test exercised nothing")
    problems += traceback_problems(result)
    if result.code != 0:
        problems.append(f"apply did not ride out the slow spell: {result.describe()}")
    else:
        problems += sandbox.converged_problems()
    problems += sandbox.duplicates(max_endpoint_creates=1)
    if sandbox.job_creates() != sandbox.tasks:
        problems.append(f"{sandbox.job_creates()} jobs submitted for {sandbox.tasks} tasks")
    problems += _destroy_clean(sandbox)
    return problems


def late_landing_case(sandbox: LeptonSandbox) -> tuple[int, list[str]]:
    """The worst timing for a timed-out submit: the workspace turns slow (2 s answers, nimctl waits
    0.3 s) just as the jobs are submitted and fast again 0.5 s later, so each submit's look-up by
    name is answered before the submit itself lands. Lepton job names are not unique and the API
    takes no idempotency key: a second run of the same job can result. Measured, not promised
    away: returns (jobs run twice, problems); the promise kept is that destroy removes them all."""
    problems: list[str] = []
    args = ["apply", "-f", str(sandbox.config), "--auto-approve", "--no-wait"]
    env = {
        **sandbox.env,
        "NIMCTL_LEPTON_TIMEOUT": "0.3",
        "NIMCTL_CRASH_AT": "endpoints:ready",
        "NIMCTL_CRASH_SIGNAL": "STOP",
    }
    started = time.monotonic()
    proc = start_nimctl(args, env, cwd=sandbox.root)
    try:
        if wait_while(lambda: not process_stopped(proc.pid) and proc.poll() is None, 60):
            problems.append("apply never stopped at endpoints:ready")
        sandbox.emulator.configure(latency=2.0)
        proc.send_signal(signal.SIGCONT)
        time.sleep(0.5)
    finally:
        sandbox.emulator.configure(latency=0.0)
        proc.send_signal(signal.SIGCONT)
    result = finish(proc, args, started)
    problems += traceback_problems(result)
    if result.code != 0:
        problems.append(f"apply failed: {result.describe()}")
    time.sleep(2.5)  # every submit still in flight has landed
    twice = sum(1 for (kind, _), count in sandbox.creates().items() if kind == "job" and count > 1)
    problems += [f"untracked (leaked) object: {u}" for u in sandbox.untracked()]
    problems += _destroy_clean(sandbox)
    left = [j["metadata"]["name"] for j in sandbox.world.jobs()]
    if left:
        problems.append(f"jobs left after destroy --all: {left}")
    return twice, problems
