"""The reliability suite's larger runs, with the figures docs/reliability.md quotes.

    .venv/bin/python bench/reliability.py                 # everything (about 10-15 minutes on 2 cores)
    .venv/bin/python bench/reliability.py --parts crash   # crash matrix only
    .venv/bin/python bench/reliability.py --json out.json # also write the raw figures

Parts:
- crash: every checkpoint of a traced apply x kill -9 / SIGTERM / SIGINT, on the Lepton emulator
  (two tasks) and the local platform (the quickstart, real processes); kill -9 at every checkpoint
  of destroy; signals in the middle of the readiness and job waits.
- faults: 10/30/50 % of workspace requests failing (429/5xx) and as many writes losing their
  answer, five tasks submitted in parallel, apply then destroy; answers slower than the client
  timeout during the endpoint create and the job submissions.
- bad: malformed configs x validate/plan/apply, damaged state files x six commands, bad plan files.
- suites: the concurrency, secrets and exposure tests (pytest), reported as passed/failed.

Everything runs the real CLI in subprocesses against 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nimctl.offline.emulator.options import EmulatorOptions  # noqa: E402
from nimctl.offline.emulator.server import EmulatorServer  # noqa: E402
from tests.support.reliability import harness as h  # noqa: E402
from tests.support.reliability import hostile  # noqa: E402

SIGNALS = ("KILL", "TERM", "INT")


class Bench:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.emulator = EmulatorServer(EmulatorOptions(**h.FAST_LEPTON, seed=4321)).start()
        self.count = 0

    def folder(self, name: str) -> Path:
        self.count += 1
        return self.root / f"{self.count:04d}-{name}"

    def lepton(self, name: str = "case", **options: Any) -> h.LeptonSandbox:
        return h.LeptonSandbox(self.folder(name), self.emulator, **options)

    def local(self, name: str = "case", **options: Any) -> h.LocalSandbox:
        return h.LocalSandbox(self.folder(name), **options)

    def close(self) -> None:
        self.emulator.stop()


def say(text: str) -> None:
    print(text, flush=True)


def tally(reports: list[h.CaseReport]) -> dict[str, Any]:
    return {
        "tried": len(reports),
        "survived": sum(r.survived for r in reports),
        "failed": [r.describe() for r in reports if not r.survived],
        "seconds": round(sum(r.seconds for r in reports), 1),
    }


def crash_part(bench: Bench) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for platform, make in (("lepton", bench.lepton), ("local", bench.local)):
        sandbox = make("trace")
        apply_marks, destroy_marks = h.discover_marks(sandbox)
        sandbox.close()
        say(f"[crash] {platform}: {len(apply_marks)} apply checkpoints, {len(destroy_marks)} destroy checkpoints")
        entry: dict[str, Any] = {
            "apply_marks": apply_marks,
            "destroy_marks": destroy_marks,
            "trace_problems": h.mark_problems(apply_marks, destroy_marks, 2),
        }
        for signame in SIGNALS:
            entry[f"apply {signame}"] = tally(h.apply_matrix(make, apply_marks, [signame]))
            say(f"[crash] {platform} apply {signame}: {_line(entry[f'apply {signame}'])}")
        entry["destroy KILL"] = tally(h.destroy_matrix(make, destroy_marks))
        say(f"[crash] {platform} destroy KILL: {_line(entry['destroy KILL'])}")
        waits = h.LEPTON_WAITS if platform == "lepton" else h.LOCAL_WAITS
        delay = 0.4 if platform == "lepton" else 0.2
        entry["during waits"] = tally(h.wait_matrix(make, apply_marks, waits, SIGNALS, delay=delay))
        say(f"[crash] {platform} signals in the middle of waits: {_line(entry['during waits'])}")
        figures[platform] = entry
    return figures


def _line(t: dict[str, Any]) -> str:
    failed = "" if not t["failed"] else "\n    " + "\n    ".join(t["failed"])
    return f"{t['survived']}/{t['tried']} survived ({t['seconds']:.0f}s){failed}"


def faults_part(bench: Bench) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for rate in (0.1, 0.3, 0.5):
        sandbox = bench.lepton(f"faults-{rate}", config=h.LEPTON_FIVE_TASKS, tasks=5, seed=11)
        sandbox.env["NIMCTL_RETRY_MAX_ATTEMPTS"] = "12"
        report = h.fault_case(sandbox, rate)
        duplicates = sandbox.duplicates(max_endpoint_creates=report.apply_runs)
        figures[f"{rate:.0%}"] = {
            "survived": report.survived,
            "apply_runs": report.apply_runs,
            "destroy_runs": report.destroy_runs,
            "faults_injected": dict(report.faults),
            "job_creates": report.job_creates,
            "endpoint_creates": report.endpoint_creates,
            "duplicates": len(duplicates),
            "problems": report.problems,
            "seconds": round(report.seconds, 1),
        }
        say(f"[faults] {report.describe()} ({report.seconds:.0f}s)")
    for mark in ("invocation:started", "endpoints:ready"):
        sandbox = bench.lepton("timeouts", config=h.LEPTON_FIVE_TASKS, tasks=5)
        started = time.monotonic()
        problems = h.slow_gateway_case(sandbox, mark)
        timed_out = sum(1 for r in bench.emulator.requests if r.duration >= 0.9)
        figures[f"timeouts after {mark}"] = {
            "survived": not problems,
            "problems": problems,
            "slow_requests": timed_out,
            "seconds": round(time.monotonic() - started, 1),
        }
        say(
            f"[faults] answers slower than the client timeout after {mark}: "
            f"{problems or 'survived'} ({timed_out} requests outlasted it)"
        )
    sandbox = bench.lepton("late-landing", config=h.LEPTON_FIVE_TASKS, tasks=5, job_duration=30.0)
    twice, problems = h.late_landing_case(sandbox)
    figures["submit landing after its look-up"] = {
        "jobs_run_twice": twice,
        "left_after_destroy": problems,
        "survived": not problems,
    }
    say(
        f"[faults] submits landing after their look-up (worst timing): {twice}/5 jobs ran twice; "
        f"after destroy --all: {problems or 'nothing left'}"
    )
    return figures


def bad_part(bench: Bench) -> dict[str, Any]:
    from nimctl.state.model import State
    from nimctl.state.store import StateStore

    def sandbox() -> h.LeptonSandbox:
        box = bench.lepton("bad")
        StateStore(box.state_path).write(State())
        bench.emulator.clear_requests()
        return box

    figures: dict[str, Any] = {}
    box = sandbox()
    before = hostile.snapshot(box.state_dir)
    cases = hostile.config_inputs(box.root / "configs")
    verdicts = hostile.run_cases(cases, box.env, box.root)
    extra = hostile.untouched_problems(box, before, bench.emulator)
    inputs = {c.name.split(" ", 1)[1] for c in cases}  # "validate corpus/x.yaml" -> "corpus/x.yaml"
    figures["configs"] = _verdicts(verdicts, extra, inputs=len(inputs))
    say(f"[bad] configs: {_bad_line(figures['configs'])}")

    box = sandbox()
    verdicts, extra = hostile.run_state_cases(box, bench.emulator, hostile.STATE_COMMANDS)
    figures["state files"] = _verdicts(verdicts, extra, inputs=len(hostile.damaged_states()))
    say(f"[bad] state files: {_bad_line(figures['state files'])}")

    box = sandbox()
    verdicts, extra = hostile.run_plan_file_cases(box, bench.emulator, box.root / "plans")
    figures["plan files"] = _verdicts(verdicts, extra, inputs=len(verdicts))
    say(f"[bad] plan files: {_bad_line(figures['plan files'])}")
    return figures


def _verdicts(verdicts: list[hostile.Verdict], extra: list[str], *, inputs: int) -> dict[str, Any]:
    seconds = [v.result.seconds for v in verdicts]
    return {
        "inputs": inputs,
        "runs": len(verdicts),
        "rejected_cleanly": sum(not v.problems for v in verdicts),
        "problems": [f"{v.case.name}: {'; '.join(v.problems)}" for v in verdicts if v.problems] + extra,
        "slowest_s": round(max(seconds), 2) if seconds else 0.0,
        "exit_codes": dict(Counter(v.result.code for v in verdicts)),
    }


def _bad_line(f: dict[str, Any]) -> str:
    problems = "" if not f["problems"] else "\n    " + "\n    ".join(f["problems"][:20])
    return (
        f"{f['inputs']} inputs, {f['runs']} runs, {f['rejected_cleanly']} rejected cleanly "
        f"(slowest {f['slowest_s']} s){problems}"
    )


def suites_part() -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for name in ("test_concurrency.py", "test_secrets.py", "test_exposure.py"):
        started = time.monotonic()
        argv = [
            sys.executable,
            "-m",
            "pytest",
            "-o",
            "addopts=",
            "-q",
            "-p",
            "no:warnings",
            "-m",
            "slow or not slow",
            f"tests/reliability/{name}",
        ]
        proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True)
        last = (proc.stdout.strip().splitlines() or ["?"])[-1]
        figures[name] = {"exit": proc.returncode, "summary": last, "seconds": round(time.monotonic() - started, 1)}
        say(f"[suites] {name}: {last}")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--parts", default="crash,faults,bad,suites", help="comma-separated: crash, faults, bad, suites (default: all)"
    )
    parser.add_argument("--json", dest="json_path", help="write the raw figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the sandboxes (state, traces) for inspection")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    root = Path(tempfile.mkdtemp(prefix="nimctl-reliability-"))
    started = time.monotonic()
    bench = Bench(root)
    figures: dict[str, Any] = {"parts": parts}
    try:
        if "crash" in parts:
            figures["crash"] = crash_part(bench)
        if "faults" in parts:
            figures["faults"] = faults_part(bench)
        if "bad" in parts:
            figures["bad"] = bad_part(bench)
        if "suites" in parts:
            figures["suites"] = suites_part()
    finally:
        bench.close()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    figures["seconds"] = round(time.monotonic() - started, 1)
    say(f"done in {figures['seconds']:.0f}s" + (f"; sandboxes kept in {root}" if args.keep else ""))
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if _all_good(figures) else 1


def _all_good(figures: dict[str, Any]) -> bool:
    crash_ok = all(
        not e["failed"]
        for p in figures.get("crash", {}).values()
        for k, e in p.items()
        if isinstance(e, dict) and "failed" in e
    )
    faults_ok = all(f["survived"] for f in figures.get("faults", {}).values())
    bad_ok = all(not f["problems"] for f in figures.get("bad", {}).values())
    suites_ok = all(s["exit"] == 0 for s in figures.get("suites", {}).values())
    return crash_ok and faults_ok and bad_ok and suites_ok


if __name__ == "__main__":
    sys.exit(main())
