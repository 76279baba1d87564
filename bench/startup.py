"""Start-up: `nimctl --help`, `validate` and `plan --refresh=false` on the seed example, beside
`python -c pass` (the interpreter's floor). Budget: under 300 ms each.

    .venv/bin/python bench/startup.py [--runs 15] [--hyperfine]

Measured as a user runs it: the installed `nimctl` script, bytecode caching on (the bytecode is
written by a warm-up run), an empty state directory. With --hyperfine (if installed) the same
commands are timed by hyperfine as well, as a cross-check.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import load_average, median, save  # noqa: E402
from tests.support.cli import SEED, nimctl_argv, user_env  # noqa: E402

BUDGET_S = 0.300
# What a fast start must not pay for (imported inside the commands that need them).
HEAVY = ("leptonai", "httpx", "requests", "fastapi", "uvicorn", "deepdiff", "rich", "jsonschema", "pydantic")


def commands(workdir: Path) -> dict[str, list[str]]:
    nimctl = nimctl_argv()
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "nimctl --help": [*nimctl, "--help"],
        "nimctl validate -f SEED": [*nimctl, "validate", "-f", str(SEED)],
        "nimctl plan --refresh=false -f SEED": [*nimctl, "plan", "--refresh=false", "-f", str(SEED)],
    }


def time_runs(argv: list[str], env: dict[str, str], runs: int, warmup: int = 2) -> list[float]:
    walls = []
    for i in range(warmup + runs):
        started = time.perf_counter()
        proc = subprocess.run(
            argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL
        )
        wall = time.perf_counter() - started
        if proc.returncode not in (0, 2):
            raise RuntimeError(f"{argv} exited {proc.returncode}")
        if i >= warmup:
            walls.append(wall)
    return walls


def heavy_imports(argv: list[str], env: dict[str, str], cwd: Path) -> list[str]:
    """Top-level packages from HEAVY that the command imports (from `python -X importtime`)."""
    if argv[0] == sys.executable:
        return []
    cmd = [sys.executable, "-X", "importtime", "-m", "nimctl", *argv[1:]]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=cwd)
    found = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            root = name.split(".")[0]
            if root in HEAVY:
                found.add(root)
    return sorted(found)


def hyperfine(cmds: dict[str, list[str]], env: dict[str, str], runs: int) -> dict[str, float]:
    exe = shutil.which("hyperfine")
    if exe is None:
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "hf.json"
        argv = [exe, "-N", "--warmup", "2", "--runs", str(runs), "--export-json", str(out)]
        for label, cmd in cmds.items():
            argv += ["-n", label, " ".join(cmd)]
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        data = json.loads(out.read_text())
    return {r["command"]: r["median"] for r in data["results"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--hyperfine", action="store_true", help="also time with hyperfine (if installed)")
    parser.add_argument("--save", default="startup", help="results name under bench/results/ ('' = none)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        env = user_env(NIMCTL_STATE=str(workdir / "state" / "nimctl.state.json"))
        cmds = commands(workdir)
        load_before = load_average()
        rows = {}
        for label, argv in cmds.items():
            walls = time_runs(argv, env, args.runs)
            rows[label] = {
                "median_s": round(median(walls), 4),
                "min_s": round(min(walls), 4),
                "max_s": round(max(walls), 4),
                "runs": len(walls),
                "heavy_imports": heavy_imports(argv, env, workdir),
            }
        hf = hyperfine(cmds, env, args.runs) if args.hyperfine else {}
        for label, value in hf.items():
            rows[label]["hyperfine_median_s"] = round(value, 4)
        state_dir = workdir / "state"
        wrote_state = state_dir.exists() and any(state_dir.iterdir())

    print(f"load average before: {load_before}; after: {load_average()}")
    print(f"{'command':40} {'median':>8} {'min':>8} {'max':>8}  {'hyperfine':>9}  heavy imports")
    for label, row in rows.items():
        hf_text = f"{row['hyperfine_median_s'] * 1000:7.0f}ms" if "hyperfine_median_s" in row else " " * 9
        verdict = "" if label.startswith("python") else ("  ok" if row["median_s"] < BUDGET_S else "  OVER BUDGET")
        print(
            f"{label:40} {row['median_s'] * 1000:6.0f}ms {row['min_s'] * 1000:6.0f}ms "
            f"{row['max_s'] * 1000:6.0f}ms  {hf_text}  {','.join(row['heavy_imports']) or '-'}{verdict}"
        )
    if wrote_state:
        print("note: a command wrote to the state directory")
    if args.save:
        print("saved", save(args.save, {"budget_s": BUDGET_S, "load_average_before": load_before, "commands": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
