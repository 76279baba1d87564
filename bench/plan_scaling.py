"""Plan and refresh scaling: N stacks (one endpoint and 3 evaluation jobs each) applied to the
Lepton emulator, then a refreshing `nimctl plan`: wall time and platform requests.
Budget: requests constant in N; 1,000 stacks planned in under 3 s.

    .venv/bin/python bench/plan_scaling.py [--sizes 10,100,1000] [--runs 3] [--cli-max 100]

How the stacks get applied (both through nimctl's real code):
- N <= --cli-max: `nimctl apply --auto-approve -f DIR` against the emulator (the real command);
- larger N: the apply engine itself (`nimctl.apply.applier.run_apply`) called in this process
  (real SDK, real HTTP to the emulator, 20 parallel submissions; tests/support/applied.py), without
  the CLI's process start and output. Either way the following `nimctl plan` must report "No changes".

Each size is planned in two situations: after apply (every job finished and recorded as such:
refresh lists only the endpoints) and after `apply --no-wait` (jobs recorded as running: refresh
also lists the jobs, which Lepton pages 500 at a time).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402
    emulator,
    emulator_env,
    load_average,
    median,
    run,
    save,
)
from tests.support.applied import add_workspace_secrets, apply_in_process, mark_jobs_running  # noqa: E402
from tests.support.cli import nimctl_argv  # noqa: E402
from tests.support.emulator import request_counts  # noqa: E402
from tests.support.stacks import write_stacks  # noqa: E402

BUDGET_S = 3.0
EMULATOR = {"ready_after": 0.0, "job_duration": 0.05, "queue_time": 0.0, "delete_after": 0.05}


def apply_with_cli(server: Any, stacks_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    add_workspace_secrets(server)
    server.clear_requests()
    wall, proc = run(
        [*nimctl_argv(), "apply", "--auto-approve", "--parallelism", "20", "-f", str(stacks_dir)], env, timeout=7200
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stdout[-3000:] + proc.stderr[-3000:])
    return {"how": "nimctl apply", "wall_s": round(wall, 2), "requests": sum(request_counts(server).values())}


def plan_runs(server: Any, stacks_dir: Path, env: dict[str, str], runs: int, refresh: bool) -> dict[str, Any]:
    argv = [*nimctl_argv(), "plan", "-f", str(stacks_dir)] + ([] if refresh else ["--refresh=false"])
    walls, requests, summary = [], [], ""
    for _ in range(runs):
        server.clear_requests()
        wall, proc = run(argv, env)
        walls.append(wall)
        requests.append(request_counts(server))
        summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-500:]
    return {
        "median_s": round(median(walls), 3),
        "min_s": round(min(walls), 3),
        "max_s": round(max(walls), 3),
        "runs": runs,
        "requests": requests[-1],
        "requests_total": sum(requests[-1].values()),
        "requests_same_every_run": all(r == requests[0] for r in requests),
        "summary": summary,
    }


def profile_plan(stacks_dir: Path, env: dict[str, str], out: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "nimctl", "plan", "-f", str(stacks_dir)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cli-max", type=int, default=100, help="largest N applied with `nimctl apply`")
    parser.add_argument(
        "--profile", action="store_true", help="save a cProfile of one plan per size (to $TMPDIR/nimctl-plan-N.prof)"
    )
    parser.add_argument("--save", default="plan_scaling", help="results name under bench/results/ ('' = none)")
    args = parser.parse_args()

    results: dict[str, Any] = {}
    load_before = load_average()
    for size in [int(s) for s in args.sizes.split(",")]:
        workdir = Path(tempfile.mkdtemp(prefix=f"nimctl-bench-{size}-"))
        try:
            stacks_dir = write_stacks(workdir / "stacks", size)
            with emulator(**EMULATOR) as server:
                env = emulator_env(server, workdir, NIMCTL_CACHE_DIR=str(workdir / "cache"))
                state_path = Path(env["NIMCTL_STATE"])
                if size <= args.cli_max:
                    applied = apply_with_cli(server, stacks_dir, env)
                else:
                    applied = apply_in_process(server, stacks_dir, state_path)
                    # the apply command would have run the SDK check (and cached it): do the same
                    run([*nimctl_argv(), "plan", "-f", str(stacks_dir)], env)
                row: dict[str, Any] = {"applied": applied, "state_bytes": state_path.stat().st_size}
                row["plan_after_apply"] = plan_runs(server, stacks_dir, env, args.runs, refresh=True)
                row["plan_no_refresh"] = plan_runs(server, stacks_dir, env, args.runs, refresh=False)
                if args.profile:
                    out = Path(tempfile.gettempdir()) / f"nimctl-plan-{size}.prof"
                    profile_plan(stacks_dir, env, out)
                    row["profile"] = str(out)
                mark_jobs_running(state_path)
                row["plan_after_no_wait"] = plan_runs(server, stacks_dir, env, args.runs, refresh=True)
                results[str(size)] = row
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        r = results[str(size)]
        print(
            f"N={size:5d} stacks ({3 * size} jobs), applied by {r['applied']['how']} in {r['applied']['wall_s']} s, "
            f"state {r['state_bytes'] / 1e6:.2f} MB"
        )
        for key in ("plan_after_apply", "plan_after_no_wait", "plan_no_refresh"):
            p = r[key]
            verdict = "ok" if p["median_s"] < BUDGET_S else "over 3 s"
            print(
                f"   {key:20} median {p['median_s']:6.2f} s (min {p['min_s']:.2f}, max {p['max_s']:.2f})  "
                f"requests {p['requests_total']:3d} {p['requests']}  [{verdict}]  {p['summary'][:60]}"
            )
    print(f"load average before: {load_before}; after: {load_average()}")
    if args.save:
        print("saved", save(args.save, {"budget_s": BUDGET_S, "emulator": EMULATOR, "sizes": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
