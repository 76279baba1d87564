"""The random-time kill campaign: ``nimctl apply`` (or ``destroy``) stopped by kill -9, SIGINT or
SIGTERM at a uniformly random moment — not at a checkpoint — with or without platform faults,
then ``apply`` again until it converges and ``destroy --all`` until nothing is left.

Each trial reports what a user would see go wrong: a traceback, a leak (a live object the state
does not know), a duplicate (a job name created twice, an endpoint created more often than the
trial explains) and whether it converged. Endpoint creations are counted and explained: after
kill -9 the next apply adopts what the killed run created (one create); after SIGINT/SIGTERM the
interrupted run's cleanup removed the endpoint it created (the seed's Ctrl-C promise), so the next
apply creates it once more (two creates, never two at once). Any other count is a defect.

Used by ``tests/reliability/test_random_kills.py`` (a seeded handful) and by
``bench/random_kills.py`` (the full campaign, figures in docs/reliability.md).
"""

from __future__ import annotations

import random
import signal
import time
from dataclasses import dataclass, field
from typing import Any

from tests.support.cli import Result
from tests.support.reliability.harness import (
    FAST_LEPTON,
    LeptonSandbox,
    finish,
    start_nimctl,
    traceback_problems,
)

SIGNALS = ("KILL", "INT", "TERM")
FAULTS = {"rate": 0.3, "lost": 0.3}  # 30 % 429/5xx answers and 30 % lost answers of writes
ATTEMPTS = 8  # converging runs allowed after the kill (faults make single runs fail clearly)


@dataclass
class Trial:
    phase: str  # "apply" | "destroy"
    signame: str
    faults: bool
    at_s: float  # when the signal was sent, seconds after the start
    exit_code: int = 0
    finished_first: bool = False  # the command ended before the signal arrived
    endpoint_creates: int = 0
    explanation: str = ""
    apply_runs: int = 0
    destroy_runs: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def duplicates(self) -> int:
        return sum(1 for p in self.problems if p.startswith("duplicate"))

    @property
    def leaks(self) -> int:
        return sum(1 for p in self.problems if p.startswith("leak"))

    @property
    def tracebacks(self) -> int:
        return sum(1 for p in self.problems if p.startswith("traceback"))

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "duplicates": self.duplicates, "leaks": self.leaks, "tracebacks": self.tracebacks}


def _faults(sandbox: LeptonSandbox, on: bool) -> None:
    sandbox.emulator.configure(
        fault_rate=FAULTS["rate"] if on else 0.0, lost_response_rate=FAULTS["lost"] if on else 0.0
    )


def _signalled(sandbox: LeptonSandbox, args: list[str], signame: str, at_s: float) -> tuple[Result, bool]:
    started = time.monotonic()
    proc = start_nimctl(args, sandbox.env, cwd=sandbox.root)
    while time.monotonic() - started < at_s and proc.poll() is None:
        time.sleep(0.005)
    finished_first = proc.poll() is not None
    if not finished_first:
        proc.send_signal(getattr(signal, f"SIG{signame}"))
    return finish(proc, args, started), finished_first


def _until_ok(sandbox: LeptonSandbox, trial: Trial, what: str) -> Result | None:
    last = None
    for _ in range(ATTEMPTS):
        last = sandbox.apply() if what == "apply" else sandbox.destroy_all()
        if what == "apply":
            trial.apply_runs += 1
        else:
            trial.destroy_runs += 1
        trial.problems += [f"traceback: {p}" for p in traceback_problems(last)]
        if last.code == 0:
            return last
        if last.code != 1:
            trial.problems.append(f"{what} ended with exit code {last.code}: {last.describe()}")
    trial.problems.append(f"{what} did not succeed in {ATTEMPTS} runs: {last.describe() if last else ''}")
    return None


def trial(
    sandbox: LeptonSandbox, rng: random.Random, *, phase: str, signame: str, faults: bool, window_s: float
) -> Trial:
    """One trial on a fresh sandbox. ``window_s``: the signal lands uniformly in [0, window_s)."""
    result = Trial(phase, signame, faults, round(rng.uniform(0.0, window_s), 3))
    args = ["apply", "-f", str(sandbox.config), "--auto-approve"]
    if phase == "destroy":
        _faults(sandbox, False)
        if sandbox.apply().code != 0:
            result.problems.append("the apply before the destroy failed")
        args = ["destroy", "--all", "--auto-approve"]
    _faults(sandbox, faults)
    killed, result.finished_first = _signalled(sandbox, args, signame, result.at_s)
    result.exit_code = killed.code
    result.problems += [f"traceback: {p}" for p in traceback_problems(killed)]
    expected = {-signal.SIGKILL} if signame == "KILL" else {130, -signal.SIGTERM}
    if not result.finished_first and killed.code not in expected | {0, 1}:
        result.problems.append(f"the {signame} ended {phase} with exit code {killed.code}: {killed.describe()}")

    if phase == "apply" and _until_ok(sandbox, result, "apply") is not None:
        result.problems += [f"leak: {u}" for u in sandbox.untracked()]
    _until_ok(sandbox, result, "destroy")
    _faults(sandbox, False)
    result.problems += [f"leak: left after destroy: {u}" for u in sandbox.wait_no_leftovers()]
    state = sandbox.state() or {}
    if state.get("resources") or state.get("pending"):
        result.problems.append(f"leak: the state is not empty after destroy: {sorted(state.get('resources', {}))}")

    creates = sandbox.creates()
    result.endpoint_creates = sum(c for (kind, _), c in creates.items() if kind == "deployment")
    result.problems += [
        f"duplicate: job {name} was created {count} times"
        for (kind, name), count in sorted(creates.items())
        if kind == "job" and count > 1
    ]
    result.explanation, allowed = _explain(result, killed)
    if result.endpoint_creates > allowed:
        result.problems.append(
            f"duplicate: the endpoint was created {result.endpoint_creates} times ({result.explanation})"
        )
    return result


def _explain(result: Trial, killed: Result) -> tuple[str, int]:
    """Why the endpoint was created as often as it was, and the most that is explained."""
    if result.phase == "destroy":
        return "created once by the apply before the destroy", 1
    if result.signame != "KILL" and "Cleaning up after the interrupted run" in killed.text:
        return "the interrupted run's cleanup removed the endpoint it created; the next apply created it again", 2
    return "created once; the next apply adopted or kept it", 1


def campaign(
    make: Any,
    *,
    seed: int,
    trials: list[tuple[str, str, bool]],
    windows: dict[tuple[str, bool], float],
    on_trial: Any = None,
) -> list[Trial]:
    """Run ``trials`` = [(phase, signal, faults)], each on ``make(name)``, signal times from ``seed``;
    ``on_trial(trial)`` is called after each one (the bench records them as they finish)."""
    rng = random.Random(seed)
    reports = []
    for i, (phase, signame, faults) in enumerate(trials):
        sandbox = make(f"random-{i}-{phase}-{signame}-{'faults' if faults else 'clean'}")
        try:
            reports.append(
                trial(sandbox, rng, phase=phase, signame=signame, faults=faults, window_s=windows[(phase, faults)])
            )
            if on_trial is not None:
                on_trial(reports[-1])
        finally:
            sandbox.emulator.configure(**FAST_LEPTON)
            sandbox.close()
    return reports


def measure_window(make: Any, phase: str, faults: bool) -> float:
    """How long an uninterrupted command takes here (the signal window), from one timed run."""
    sandbox = make(f"window-{phase}-{'faults' if faults else 'clean'}")
    try:
        if phase == "destroy":
            sandbox.apply()
        _faults(sandbox, faults)
        started = time.monotonic()
        result = sandbox.apply() if phase == "apply" else sandbox.destroy_all()
        took = time.monotonic() - started
        _faults(sandbox, False)
        if phase == "apply" and result.code != 0:
            sandbox.apply()
        sandbox.destroy_all()
        return max(took, 1.0)
    finally:
        sandbox.emulator.configure(**FAST_LEPTON)
        sandbox.close()
