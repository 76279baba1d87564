"""Apply and refreshing plan at N stacks, on both state backends: wall time, CPU, platform
requests and state writes, the cost per stack and the fit a + b·N + c·N².

    .venv/bin/python bench/apply_scaling.py [--sizes 10,100,1000] [--backends file,postgres]
                                            [--tag after] [--code DIR]

Each stack is one endpoint and one evaluation job (ifeval) on the emulated Lepton workspace
(Ready after 0.5 s, jobs take 0.5 s; NIMCTL_POLL_INTERVAL=0.5). Each run is the real
``nimctl apply --auto-approve -f DIR`` (default --parallelism 10) into an empty state, then the
real ``nimctl plan -f DIR`` (refreshing, "No changes"). CPU is the nimctl process's user+system
time; requests come from the emulator's log; writes are counted in the nimctl process
(``StateStore.writes``/``appends``, ``PostgresState.requests``; for code without those counters,
the state's final serial, one whole-state write per serial). PostgreSQL is a throwaway server on
127.0.0.1 (tests/support/postgres.py). ``--code DIR`` runs another checkout's nimctl (PYTHONPATH)
for "before" figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import emulator, emulator_env, load_average, run, save  # noqa: E402
from tests.support.emulator import request_counts  # noqa: E402
from tests.support.stacks import write_stacks  # noqa: E402

COUNTED = Path(__file__).with_name("counted_nimctl.py")


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def one(n: int, backend: str, code: str | None, postgres: Any, workdir: Path) -> dict[str, Any]:
    stacks = write_stacks(workdir / f"stacks-{n}", n, tasks=["ifeval"])
    with emulator(ready_after=0.5, job_duration=0.5, queue_time=0.0, delete_after=0.05, seed=7) as server:
        counts = workdir / f"counts-{backend}-{n}.json"
        extra = {
            "NIMCTL_CACHE_DIR": str(workdir / "cache"),
            "NIMCTL_POLL_INTERVAL": "0.5",
            "NIMCTL_BENCH_COUNTS": str(counts),
        }
        if backend == "postgres":
            extra["NIMCTL_STATE"] = postgres.url()
        env = emulator_env(server, workdir / f"run-{backend}-{n}", **extra)
        if code:
            env["PYTHONPATH"] = code
        argv = [sys.executable, str(COUNTED)]
        cpu0 = _child_cpu()
        wall, proc = run([*argv, "apply", "--auto-approve", "-f", str(stacks)], env)
        cpu = _child_cpu() - cpu0
        if proc.returncode != 0:
            raise RuntimeError(proc.stdout[-3000:] + proc.stderr[-3000:])
        apply_counts = json.loads(counts.read_text()) if counts.exists() else {}
        requests = request_counts(server)
        before_plan = sum(requests.values())
        server.clear_requests()
        cpu0 = _child_cpu()
        plan_wall, plan = run([*argv, "plan", "-f", str(stacks)], env)
        plan_cpu = _child_cpu() - cpu0
        assert "No changes" in plan.stdout, plan.stdout[-2000:]
        plan_requests = sum(request_counts(server).values())
    row = {
        "stacks": n,
        "backend": backend,
        "apply_wall_s": round(wall, 2),
        "apply_cpu_s": round(cpu, 2),
        "platform_requests": before_plan,
        "requests_by_kind": requests,
        "serial": apply_counts.get("serial"),
        "whole_writes": apply_counts.get("writes"),
        "appended_steps": apply_counts.get("appends"),
        "database_requests": apply_counts.get("db_requests"),
        "plan_wall_s": round(plan_wall, 2),
        "plan_cpu_s": round(plan_cpu, 2),
        "plan_requests": plan_requests,
    }
    print(json.dumps({k: v for k, v in row.items() if k != "requests_by_kind"}), flush=True)
    return row


def fit(rows: list[dict[str, Any]], key: str) -> dict[str, float]:
    """Least squares of ``key`` against a + b·N + c·N² (exact through three sizes), and the cost
    per stack between the two largest sizes."""
    points = sorted((float(r["stacks"]), float(r[key])) for r in rows)
    if len(points) < 2:
        return {}
    a, b, c = _least_squares(points, degree=2 if len(points) >= 3 else 1)
    slope = (points[-1][1] - points[-2][1]) / (points[-1][0] - points[-2][0]) if len(points) > 1 else float("nan")
    return {"a_s": round(float(a), 3), "b_ms_per_stack": round(float(b) * 1e3, 3),
            "c_us_per_stack2": round(float(c) * 1e6, 4), "per_stack_ms": round(slope * 1e3, 2)}  # fmt: skip


def _least_squares(points: list[tuple[float, float]], degree: int) -> tuple[float, float, float]:
    """Coefficients (a, b, c) of a + b·x + c·x² (c = 0 for degree 1): the normal equations,
    solved by Gaussian elimination."""
    k = degree + 1
    matrix = [[sum(x ** (i + j) for x, _ in points) for j in range(k)] for i in range(k)]
    vector = [sum(y * x**i for x, y in points) for i in range(k)]
    for col in range(k):
        pivot = max(range(col, k), key=lambda r: abs(matrix[r][col]))
        matrix[col], matrix[pivot] = matrix[pivot], matrix[col]
        vector[col], vector[pivot] = vector[pivot], vector[col]
        for row in range(col + 1, k):
            factor = matrix[row][col] / matrix[col][col]
            matrix[row] = [v - factor * p for v, p in zip(matrix[row], matrix[col], strict=True)]
            vector[row] -= factor * vector[col]
    coef = [0.0] * k
    for row in reversed(range(k)):
        coef[row] = (vector[row] - sum(matrix[row][j] * coef[j] for j in range(row + 1, k))) / matrix[row][row]
    return coef[0], coef[1], coef[2] if k > 2 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--backends", default="file,postgres")
    parser.add_argument("--tag", default="after")
    parser.add_argument("--code", default=None, help="a checkout whose nimctl to run (PYTHONPATH)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    backends = args.backends.split(",")
    postgres = None
    if "postgres" in backends:
        from tests.support.postgres import PostgresServer

        postgres = PostgresServer().start()
    workdir = Path(tempfile.mkdtemp(prefix="nimctl-apply-scaling-"))
    load_before = load_average()
    rows = []
    try:
        for backend in backends:
            for n in sizes:
                rows.append(one(n, backend, args.code, postgres, workdir))
    finally:
        if postgres is not None:
            from tests.support.postgres import remove_template

            postgres.stop()
            remove_template()
        shutil.rmtree(workdir, ignore_errors=True)
    fits = {
        backend: {
            key: fit([r for r in rows if r["backend"] == backend], key) for key in ("apply_wall_s", "apply_cpu_s")
        }
        for backend in backends
    }
    print(json.dumps(fits, indent=2))
    name = "apply_scaling" if args.tag == "after" else f"apply_scaling-{args.tag}"
    path = save(
        name,
        {"load_average_before": load_before, "load_average_after": load_average(), "nice": os.nice(0),
         "rows": rows, "fits": fits, "code": args.code or "this checkout", "finished": time.time()},
    )  # fmt: skip
    print(f"saved {path}")


if __name__ == "__main__":
    main()
