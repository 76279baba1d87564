"""Apply overhead: with the emulator's readiness delay R and job duration D, an apply of K tasks
on one endpoint ideally takes R + D (every job runs at once). Reports wall - (R + D) for each K,
split into where it goes, and the lag from the endpoint becoming Ready to the first job submitted.
Budget: overhead under 1 s plus one poll interval.

    .venv/bin/python bench/apply_overhead.py [--ready 3.2] [--duration 5.3] [--k 1,10,50] [--runs 3]
                                             [--poll 0.5,auto]

`--poll` values are NIMCTL_POLL_INTERVAL settings ("auto" = nimctl's default back-off: 0.2 s
growing by half each round up to 5 s). Each run is a real `nimctl apply --auto-approve` (default
--parallelism 10) in a fresh state directory against the emulator (queue time 0). The times of
the platform events come from the emulator's own record (when the deployment was created, when
each job was submitted), so the split needs no instrumentation of nimctl:

    wall = start-up and plan (process start -> deployment created)
         + R
         + ready lag (Ready -> first job submitted: readiness detection, the model probe, state writes)
         + submission span (first -> last job submitted)
         + D
         + finish lag (last job done -> nimctl exits: detection, results, state writes)
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402
    emulator,
    emulator_env,
    k_tasks_config,
    load_average,
    median,
    run,
    save,
)
from tests.support.cli import nimctl_argv  # noqa: E402

BUDGET_BASE_S = 1.0


def auto_interval_at(elapsed: float, first: float = 0.2, growth: float = 1.5, cap: float = 5.0) -> float:
    """The interval of nimctl's default back-off (nimctl.apply.waiting.Poller) in effect at ``elapsed``."""
    waited, interval = 0.0, first
    while waited + interval < elapsed:
        waited += interval
        interval = min(cap, interval * growth)
    return interval


def one_apply(server: Any, workdir: Path, k: int, poll: str, ready: float, duration: float, tag: str) -> dict[str, Any]:
    endpoint = f"bench-{tag}"
    config = k_tasks_config(workdir / f"{tag}.yaml", k, endpoint=endpoint)
    extra = {"NIMCTL_STATE": str(workdir / tag / "nimctl.state.json"), "NIMCTL_CACHE_DIR": str(workdir / "cache")}
    if poll != "auto":
        extra["NIMCTL_POLL_INTERVAL"] = poll
    env = emulator_env(server, workdir, **extra)
    started = time.time()
    wall, proc = run([*nimctl_argv(), "apply", "--auto-approve", "-f", str(config)], env)
    ended = started + wall
    if proc.returncode != 0:
        raise RuntimeError(proc.stdout[-2000:] + proc.stderr[-2000:])
    history = server.world.history
    created = next(h["time"] for h in history if h["kind"] == "deployment" and h["name"] == endpoint)
    jobs = sorted(h["time"] for h in history if h["kind"] == "job" and h["time"] >= created)
    assert len(jobs) == k, (len(jobs), k)
    ready_at = created + ready
    return {
        "wall_s": wall,
        "overhead_s": wall - (ready + duration),
        "startup_and_plan_s": created - started,
        "ready_to_first_submit_s": jobs[0] - ready_at,
        "submission_span_s": jobs[-1] - jobs[0],
        "finish_lag_s": ended - (jobs[-1] + duration),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ready", type=float, default=3.2, help="R: seconds until an endpoint is Ready")
    parser.add_argument("--duration", type=float, default=5.3, help="D: seconds a job runs")
    parser.add_argument("--k", default="1,10,50")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--poll", default="0.5,auto")
    parser.add_argument("--save", default="apply_overhead", help="results name under bench/results/ ('' = none)")
    args = parser.parse_args()

    load_before = load_average()
    rows: list[dict[str, Any]] = []
    workdir = Path(tempfile.mkdtemp(prefix="nimctl-bench-apply-"))
    try:
        with emulator(ready_after=args.ready, job_duration=args.duration, queue_time=0.0, delete_after=0.05) as server:
            # warm-up: bytecode, the SDK spec-check cache (what a user's second apply sees)
            one_apply(server, workdir, 1, "0.5", args.ready, args.duration, "warmup")
            for poll in args.poll.split(","):
                for k in [int(x) for x in args.k.split(",")]:
                    tag = f"k{k}-p{poll.replace('.', '')}"
                    runs = [
                        one_apply(server, workdir, k, poll, args.ready, args.duration, f"{tag}-{i}")
                        for i in range(args.runs)
                    ]
                    row = {"k": k, "poll": poll, "runs": len(runs)}
                    for key in runs[0]:
                        row[key] = round(median([r[key] for r in runs]), 3)
                    rows.append(row)
                    # one poll interval: the fixed one, or the back-off's when the longer wait ends
                    interval = float(poll) if poll != "auto" else auto_interval_at(max(args.ready, args.duration))
                    row["poll_interval_s"] = round(interval, 3)
                    budget = BUDGET_BASE_S + interval
                    verdict = "ok" if row["overhead_s"] < budget else "OVER"
                    print(
                        f"K={k:3d} poll={poll:4}  wall {row['wall_s']:6.2f} s  overhead {row['overhead_s']:5.2f} s "
                        f"[{verdict} < {budget:.2f}]  = start+plan {row['startup_and_plan_s']:.2f} + ready->submit "
                        f"{row['ready_to_first_submit_s']:.2f} + submit span {row['submission_span_s']:.2f} "
                        f"+ finish lag {row['finish_lag_s']:.2f}"
                    )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"R = {args.ready} s, D = {args.duration} s; medians of {args.runs} runs; "
        f"load average before: {load_before}; after: {load_average()}"
    )
    if args.save:
        print("saved", save(args.save, {"ready_s": args.ready, "duration_s": args.duration, "rows": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
