"""The random-time kill campaign, in full (docs/reliability.md quotes its figures).

    nice .venv/bin/python bench/random_kills.py                      # 20 apply trials per signal x fault setting, 6 destroy
    nice .venv/bin/python bench/random_kills.py --apply-trials 50 --destroy-trials 10 --seed 7
    nice .venv/bin/python bench/random_kills.py --json bench/results/random_kills.json

Each trial (``tests/support/reliability/random_kills.py``): ``nimctl apply`` of two Lepton tasks on the
emulator (or ``destroy --all`` after an apply) is sent kill -9, SIGINT or SIGTERM at a uniformly
random moment of its run (the window is one uninterrupted run's duration, measured first), with
no faults or with 30 % 429/5xx answers and 30 % lost write answers; then ``apply`` until it
converges and ``destroy --all`` until nothing is left. Reported per signal and fault setting:
trials, signals that landed before the command finished, endpoint creations (counted and
explained), duplicates, leaks, tracebacks. Everything runs on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nimctl.offline.emulator.options import EmulatorOptions  # noqa: E402
from nimctl.offline.emulator.server import EmulatorServer  # noqa: E402
from tests.support.reliability import random_kills as rk  # noqa: E402
from tests.support.reliability.harness import FAST_LEPTON, LEPTON_TWO_TASKS, LeptonSandbox  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apply-trials", type=int, default=20, help="per signal and fault setting")
    parser.add_argument("--destroy-trials", type=int, default=6, help="per signal and fault setting")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--json", help="write every trial and the summary here")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="nimctl-random-kills-"))
    emulator = EmulatorServer(EmulatorOptions(**FAST_LEPTON, seed=args.seed)).start()
    counter = iter(range(1_000_000))

    def make(name: str) -> LeptonSandbox:
        return LeptonSandbox(root / f"{next(counter):04d}-{name}", emulator, LEPTON_TWO_TASKS)

    started = time.monotonic()
    try:
        windows = {
            (phase, faults): rk.measure_window(make, phase, faults)
            for phase in ("apply", "destroy")
            for faults in (False, True)
        }
        plan = [
            (phase, signame, faults)
            for phase, count in (("apply", args.apply_trials), ("destroy", args.destroy_trials))
            for faults in (False, True)
            for signame in rk.SIGNALS
            for _ in range(count)
        ]
        partial = Path(args.json + ".partial") if args.json else None

        def record(done: rk.Trial) -> None:  # one JSON line per finished trial: a long run is never lost
            if partial is not None:
                with partial.open("a") as fh:
                    fh.write(json.dumps(done.to_dict()) + "\n")

        trials = rk.campaign(make, seed=args.seed, trials=plan, windows=windows, on_trial=record)
    finally:
        emulator.stop()
        shutil.rmtree(root, ignore_errors=True)
    summary = summarise(trials)
    elapsed = time.monotonic() - started
    print(f"random-time kill campaign: {len(trials)} trials in {elapsed:.0f} s (seed {args.seed})")
    print("signal windows (s): " + ", ".join(f"{p}{' +faults' if f else ''} {w:.2f}" for (p, f), w in windows.items()))
    header = f"{'phase':8} {'signal':6} {'faults':7} {'trials':>6} {'landed':>6} {'creates 1/2/more':>17} {'dup':>4} {'leak':>4} {'tb':>3} {'apply runs':>10}"
    print(header)
    for key, row in sorted(summary.items()):
        phase, signame, faults = key.split("/")
        print(
            f"{phase:8} {signame:6} {faults:7} {row['trials']:>6} {row['landed']:>6} "
            f"{row['creates_1']:>5}/{row['creates_2']:>3}/{row['creates_more']:>3}      "
            f"{row['duplicates']:>4} {row['leaks']:>4} {row['tracebacks']:>3} {row['apply_runs']:>10}"
        )
    failed = [t for t in trials if t.problems]
    for t in failed[:20]:
        print(f"FAILED {t.phase} {t.signame} faults={t.faults} at {t.at_s}s: " + "; ".join(t.problems)[:600])
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "seed": args.seed,
                    "seconds": round(elapsed),
                    "windows": {f"{p}/{f}": w for (p, f), w in windows.items()},
                    "summary": summary,
                    "trials": [t.to_dict() for t in trials],
                },
                indent=1,
            )
            + "\n"
        )
    return 1 if failed else 0


def summarise(trials: list[rk.Trial]) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = defaultdict(
        lambda: dict.fromkeys(
            (
                "trials",
                "landed",
                "creates_1",
                "creates_2",
                "creates_more",
                "duplicates",
                "leaks",
                "tracebacks",
                "apply_runs",
                "failed",
            ),
            0,
        )
    )
    for t in trials:
        row = rows[f"{t.phase}/{t.signame}/{'30+30%' if t.faults else 'none'}"]
        row["trials"] += 1
        row["landed"] += 0 if t.finished_first else 1
        bucket = "creates_1" if t.endpoint_creates <= 1 else "creates_2" if t.endpoint_creates == 2 else "creates_more"
        row[bucket] += 1
        row["duplicates"] += t.duplicates
        row["leaks"] += t.leaks
        row["tracebacks"] += t.tracebacks
        row["apply_runs"] += t.apply_runs
        row["failed"] += 1 if t.problems else 0
    return dict(rows)


if __name__ == "__main__":
    sys.exit(main())
