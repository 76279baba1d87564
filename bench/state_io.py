"""State I/O: bytes and time of one state write (and read) at 1,000 stacks, and how many writes
and bytes a whole apply of K jobs on one endpoint costs (it must not turn quadratic in practice).

    .venv/bin/python bench/state_io.py [--stacks 1000] [--k 1,10,50,200] [--runs 5]

Part 1 applies N stacks (1 endpoint + 3 jobs each) from real configs with the real apply engine,
in-process, to an in-memory platform (no emulator needed to time the store), then times
`StateStore.write` (split into its steps) and `StateStore.read` (first read, and a read of bytes
already validated).

Part 2 runs `nimctl apply --auto-approve` of one stack with K evaluation tasks against the Lepton
emulator and counts the state writes (the state's serial) and the bytes the nimctl process wrote
(/proc/self/io wchar at exit, minus its stdout/stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
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
    save,
)
from tests.support.stacks import write_stacks  # noqa: E402

EMULATOR = {"ready_after": 0.2, "job_duration": 0.5, "queue_time": 0.0, "delete_after": 0.05}

# Runs nimctl and reports, at exit, the bytes this process wrote (Linux /proc/self/io).
IO_WRAPPER = """\
import atexit, json, os, sys
def _report():
    try:
        fields = dict(line.split(": ") for line in open("/proc/self/io").read().splitlines())
    except OSError:
        return
    with open(os.environ["BENCH_IO_FILE"], "w") as fh:
        json.dump({k: int(v) for k, v in fields.items()}, fh)
atexit.register(_report)
sys.argv = ["nimctl", *sys.argv[1:]]
from nimctl.cli.app import main
main()
"""


# -- part 1: one write at N stacks ----------------------------------------------------------------


def applied_state(stacks_dir: Path) -> Any:
    """The state the real apply engine records for these stacks, applied in-process to an
    in-memory platform (tests/support/memory.py): every endpoint Ready, every job succeeded."""
    from nimctl.config.loader import load_configs
    from nimctl.stack.builder import build_stacks
    from tests.support.memory import apply, memory_workspace

    stacks = build_stacks(load_configs([str(stacks_dir)]))
    with memory_workspace() as ws:
        code, _ = apply(ws, stacks, parallelism=20)
        if code != 0:
            raise RuntimeError(f"apply of {len(stacks)} stacks exited {code}")
        return ws.state()


def time_write_steps(state: Any, path: Path, runs: int) -> dict[str, Any]:
    from nimctl.state.encoding import encode_state, state_document
    from nimctl.state.secret_guard import find_unredacted_secrets
    from nimctl.state.store import StateStore

    StateStore(path).write(state)  # creates the directory and the file
    steps: dict[str, list[float]] = {
        "document": [],
        "secret_guard_all": [],
        "encode": [],
        "write_first": [],
        "write_next": [],
        "read_first": [],
        "read_again": [],
    }
    payload = b""
    for _ in range(runs):
        t = time.perf_counter()
        doc = state_document(state)
        steps["document"].append(time.perf_counter() - t)
        t = time.perf_counter()
        find_unredacted_secrets(doc)
        steps["secret_guard_all"].append(time.perf_counter() - t)
        t = time.perf_counter()
        payload = encode_state(doc)
        steps["encode"].append(time.perf_counter() - t)
        store = StateStore(path)
        store.read()
        t = time.perf_counter()
        store.write(state)  # a process's first write: every record is checked for secrets
        steps["write_first"].append(time.perf_counter() - t)
        t = time.perf_counter()
        store.write(state)  # what each further journaled step of an apply pays
        steps["write_next"].append(time.perf_counter() - t)
        cache = Path(os.environ["NIMCTL_CACHE_DIR"]) / "valid-states.json"
        cache.unlink(missing_ok=True)  # a state nobody validated yet
        t = time.perf_counter()
        StateStore(path).read()
        steps["read_first"].append(time.perf_counter() - t)
        t = time.perf_counter()
        StateStore(path).read()
        steps["read_again"].append(time.perf_counter() - t)
    return {
        "bytes": path.stat().st_size,
        "payload_bytes": len(payload),
        "resources": len(state.resources),
        **{f"{k}_ms": round(median(v) * 1000, 1) for k, v in steps.items()},
    }


# -- part 2: a whole apply of K jobs --------------------------------------------------------------


def apply_k(server: Any, k: int, workdir: Path) -> dict[str, Any]:
    config = k_tasks_config(workdir / f"k{k}.yaml", k, endpoint=f"bench-k{k}")
    io_file = workdir / f"io-{k}.json"
    env = emulator_env(
        server,
        workdir,
        NIMCTL_STATE=str(workdir / f"state-{k}" / "nimctl.state.json"),
        NIMCTL_CACHE_DIR=str(workdir / "cache"),
        NIMCTL_POLL_INTERVAL="0.2",
        BENCH_IO_FILE=str(io_file),
    )
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", IO_WRAPPER, "apply", "--auto-approve", "--parallelism", "10", "-f", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
        stdin=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(proc.stdout[-2000:] + proc.stderr[-2000:])
    state_file = Path(env["NIMCTL_STATE"])
    serial = json.loads(state_file.read_text())["serial"]
    io = json.loads(io_file.read_text())
    written = io["wchar"] - len(proc.stdout.encode()) - len(proc.stderr.encode())
    return {
        "k": k,
        "wall_s": round(wall, 2),
        "state_writes": serial,
        "state_bytes_final": state_file.stat().st_size,
        "bytes_written": written,
        "bytes_per_job": round(written / k),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stacks", type=int, default=1000)
    parser.add_argument("--k", default="1,10,50,200")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--save", default="state_io", help="results name under bench/results/ ('' = none)")
    args = parser.parse_args()

    load_before = load_average()
    workdir = Path(tempfile.mkdtemp(prefix="nimctl-bench-state-"))
    os.environ["NIMCTL_CACHE_DIR"] = str(workdir / "cache")
    try:
        state = applied_state(write_stacks(workdir / "stacks", args.stacks))
        one = time_write_steps(state, workdir / "one" / "nimctl.state.json", args.runs)
        print(f"state of {args.stacks} stacks: {one['resources']} resources, {one['bytes'] / 1e6:.2f} MB on disk")
        print(
            f"  write: {one['write_first_ms']} ms the first in a process, {one['write_next_ms']} ms each next one "
            f"(steps: document {one['document_ms']}, secret guard of every record {one['secret_guard_all_ms']}, "
            f"encode {one['encode_ms']}; the rest is I/O and fsync)"
        )
        print(f"  read: {one['read_first_ms']} ms the first time, {one['read_again_ms']} ms for bytes validated before")
        applies = []
        with emulator(**EMULATOR) as server:
            for k in [int(x) for x in args.k.split(",")]:
                row = apply_k(server, k, workdir)
                applies.append(row)
                print(
                    f"  apply K={k:4d}: {row['state_writes']:4d} state writes, {row['bytes_written'] / 1e6:8.2f} MB "
                    f"written ({row['bytes_per_job'] / 1e3:.1f} kB per job), final state "
                    f"{row['state_bytes_final'] / 1e3:.0f} kB, wall {row['wall_s']} s"
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"load average before: {load_before}; after: {load_average()}")
    if args.save:
        print(
            "saved",
            save(args.save, {"stacks": args.stacks, "one_write": one, "applies": applies, "emulator": EMULATOR}),
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
