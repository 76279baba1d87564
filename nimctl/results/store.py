"""An invocation's results: collected once from each finished job, kept beside the state, read
back offline.

Takes the state (``nimctl.state.model.State``: each invocation's ``job_results``) and the
directory of the state file; gives :class:`InvocationResults` (typed, with the JSON form that
``nimctl results ID --json`` prints) and the collection step the applier (or ``nimctl
results``, for a job it has not seen finish) runs for a finished job.

**Where cached files live**: ``<state dir>/cache/results/<invocation id>/<job>/`` (the state
file's directory; for a state in PostgreSQL, the default state directory)
with ``<job>`` the job's address without ``job.`` (``<stack>.<task>``, characters outside
``[A-Za-z0-9._-]`` replaced and a short hash added when that changed the name). It holds the
job's ``results.yml`` and ``eval_factory_metrics.json`` as the job wrote them (when it wrote
them) and ``nimctl.json``: where they came from, when, their sha256 digests, the job's exit
status and whether its time limit stopped it. A file whose digest does not match is ignored.

How files are collected: a local job's output directory is on this machine; a Lepton job prints
its files into its log (``nimctl.results.channel``), read back through the log API (which still
answers for archived jobs). Nothing here prints.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from nimctl.common.files import write_atomic
from nimctl.common.names import safe_component
from nimctl.results.evalfactory import (
    BUILTIN_RESULTS_FILE,
    METRICS_FILE,
    RESULT_FILES,
    RESULTS_FILE,
    EvalResults,
    ResultsFileError,
    RunMetrics,
    parse_metrics_json,
    parse_results_yml,
)

if TYPE_CHECKING:
    from nimctl.state.model import State

CACHE_SUBDIR = ("cache", "results")
META_FILE = "nimctl.json"
TIMED_OUT_FILE = "nimctl_timed_out"  # left in the output dir by the job script when its limit hit


def cache_root(state_dir: str | Path) -> Path:
    """``<state dir>/cache/results``: the state file's directory (for a state in PostgreSQL, the
    default state directory, where the local platform keeps its registry too)."""
    return Path(state_dir).resolve().joinpath(*CACHE_SUBDIR)


def job_cache_dir(root: Path, invocation_id: str, address: str) -> Path:
    base = address[4:] if address.startswith("job.") else address
    safe = safe_component(base).strip(".") or "job"
    if safe != base:
        safe = f"{safe}-{hashlib.sha256(base.encode()).hexdigest()[:6]}"
    if not re.fullmatch(r"[0-9a-z]+", invocation_id):
        raise ValueError(f"invocation id {invocation_id!r} is not a plain id")
    return root / invocation_id / safe


# -- the cache ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cached:
    """A job's cached result files (verified) and what nimctl.json says about them."""

    files: dict[str, bytes]
    source: str  # "output_dir" | "log"
    fetched_at: float
    status: int | None = None
    timed_out: bool = False
    skipped: dict[str, int] = field(default_factory=dict)
    problems: tuple[str, ...] = ()


def save(
    root: Path,
    invocation_id: str,
    address: str,
    files: dict[str, bytes],
    *,
    source: str,
    status: int | None = None,
    timed_out: bool = False,
    skipped: dict[str, int] | None = None,
    problems: Iterable[str] = (),
) -> Path:
    """Write a job's result files and their nimctl.json (each file atomically, 0600)."""
    directory = job_cache_dir(root, invocation_id, address)
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        if name in RESULT_FILES:
            write_atomic(directory / name, data, mode=0o600, fsync=False)
    meta = {
        "source": source,
        "fetched_at": time.time(),
        "sha256": {n: hashlib.sha256(d).hexdigest() for n, d in files.items() if n in RESULT_FILES},
        "status": status,
        "timed_out": timed_out,
        "skipped": dict(skipped or {}),
        "problems": list(problems),
    }
    write_atomic(directory / META_FILE, json.dumps(meta, indent=2, sort_keys=True).encode(), mode=0o600, fsync=False)
    return directory


def load(root: Path, invocation_id: str, address: str) -> Cached | None:
    """The cached files of a job (those whose digest still matches), or None when none is cached."""
    directory = job_cache_dir(root, invocation_id, address)
    try:
        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict):
        return None
    files: dict[str, bytes] = {}
    problems = list(meta.get("problems") or [])
    for name, digest in (meta.get("sha256") or {}).items():
        if name not in RESULT_FILES:
            continue
        try:
            data = (directory / name).read_bytes()
        except OSError:
            problems.append(f"{name}: missing from the cache at {directory}")
            continue
        if hashlib.sha256(data).hexdigest() != digest:
            problems.append(f"{name}: changed in the cache at {directory} since nimctl wrote it; ignored")
            continue
        files[name] = data
    return Cached(
        files=files,
        source=str(meta.get("source") or ""),
        fetched_at=float(meta.get("fetched_at") or 0.0),
        status=meta.get("status") if isinstance(meta.get("status"), int) else None,
        timed_out=bool(meta.get("timed_out")),
        skipped={str(k): int(v) for k, v in (meta.get("skipped") or {}).items()},
        problems=tuple(problems),
    )


# -- collecting from a finished job ---------------------------------------------------------------


@runtime_checkable
class ResultLogReader(Protocol):
    """What collection needs of a platform whose job files are out of reach: the job's log
    lines that carry results (``nimctl.results.channel``), archived jobs included."""

    def result_log_lines(self, job_id: str, since: float | None) -> list[str]: ...


def collect(
    root: Path,
    invocation_id: str,
    address: str,
    *,
    output_dir: str | None,
    reader: ResultLogReader | None,
    job_id: str | None,
    since: float | None,
) -> Cached | None:
    """Read a finished job's result files and cache them. ``reader`` None: the output directory
    is on this machine (the local platform). Returns what was cached, or None when the job left
    nothing to read (no file, no marker in its log). Platform errors propagate (ProviderError)."""
    from nimctl.results.recover import decode

    if reader is None:
        if not output_dir or not Path(output_dir).is_dir():
            return None
        files = {}
        for name in RESULT_FILES:
            with contextlib.suppress(OSError):
                files[name] = (Path(output_dir) / name).read_bytes()
        timed_out = (Path(output_dir) / TIMED_OUT_FILE).exists()
        save(root, invocation_id, address, files, source="output_dir", timed_out=timed_out)
        return load(root, invocation_id, address)
    if not job_id:
        return None
    recovered = decode(reader.result_log_lines(job_id, since))
    if recovered is None:
        return None
    save(
        root,
        invocation_id,
        address,
        recovered.files,
        source="log",
        status=recovered.status,
        timed_out=recovered.timed_out,
        skipped=recovered.skipped,
        problems=recovered.problems,
    )
    return load(root, invocation_id, address)


def collect_record(
    root: Path, invocation_id: str, address: str, record: dict[str, Any], reader: ResultLogReader | None
) -> Cached | None:
    """``collect`` for a job as its ``job_results`` record describes it (platform, job id, start)."""
    local = record.get("platform", "local") == "local"
    return collect(
        root,
        invocation_id,
        address,
        output_dir=record.get("results_dir") if local else None,
        reader=None if local else reader,
        job_id=record.get("job_id"),
        since=record.get("started_at"),
    )


# -- reading an invocation's results --------------------------------------------------------------


@dataclass(frozen=True)
class JobResults:
    """One job's outcome and scores, as ``nimctl results`` shows them."""

    address: str
    task: str
    job: str
    state: str
    platform_state: str
    started_at: float | None
    finished_at: float | None
    results_dir: str | None  # where the job wrote its files (container path on Lepton)
    storage: str | None  # where they are now: a local path, or the storage path of a task mount
    time_limit_s: float | None
    timed_out: bool
    summary: str  # nimctl.smoke/perf's one line, when there is one
    builtin: Any  # nimctl.smoke/perf's results.json (local runs), else None
    evaluation: EvalResults | None
    run_metrics: RunMetrics | None
    source: str | None  # where the cached files came from: "output_dir" | "log" | None
    problems: tuple[str, ...] = ()

    @property
    def duration_s(self) -> float | None:
        if isinstance(self.started_at, (int, float)) and isinstance(self.finished_at, (int, float)):
            return float(self.finished_at - self.started_at)
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "task": self.task,
            "job": self.job,
            "state": self.state,
            "platform_state": self.platform_state,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_s": self.duration_s,
            "time_limit_s": self.time_limit_s,
            "timed_out": self.timed_out,
            "results_dir": self.results_dir,
            "storage": self.storage,
            "summary": self.summary or None,
            "results": self.builtin,
            # The eval-factory scores: tasks.<task>.metrics.<metric>.scores.<score>.value
            **(self.evaluation.to_json() if self.evaluation else {"tasks": {}, "groups": {}, "versions": {}}),
            "run_metrics": self.run_metrics.to_json() if self.run_metrics else None,
            "source": self.source,
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class InvocationResults:
    invocation: str
    status: str
    jobs: tuple[JobResults, ...]

    def to_json(self) -> dict[str, Any]:
        """The document of ``nimctl results ID --json``::

        {"invocation": ID, "status": ..., "results": [{"address", "task", "state", "duration_s",
         "timed_out", "tasks": {<task>: {"metrics": {<metric>: {"scores": {<score>: {"value"}}}}}},
         "groups", "versions", "run_metrics", "storage", ...}, ...]}
        """
        return {"invocation": self.invocation, "status": self.status, "results": [j.to_json() for j in self.jobs]}


def job_results(root: Path, invocation_id: str, address: str, record: dict[str, Any]) -> JobResults:
    """One job's results from its ``job_results`` record and the cache (local output files as a
    fallback when nothing is cached, e.g. for a run older than the cache)."""
    cached = load(root, invocation_id, address)
    problems = list(cached.problems) if cached else []
    files = dict(cached.files) if cached else {}
    directory = record.get("results_dir")
    local_dir = Path(directory) if directory and record.get("platform", "local") == "local" else None
    if cached is None and local_dir is not None and local_dir.is_dir():
        for name in RESULT_FILES:
            with contextlib.suppress(OSError):
                files[name] = (local_dir / name).read_bytes()
    evaluation = metrics = None
    try:
        if RESULTS_FILE in files:
            evaluation = parse_results_yml(files[RESULTS_FILE].decode("utf-8", "replace"), RESULTS_FILE)
    except ResultsFileError as err:
        problems.append(err.message)
    try:
        if METRICS_FILE in files:
            metrics = parse_metrics_json(files[METRICS_FILE].decode("utf-8", "replace"), METRICS_FILE)
    except ResultsFileError as err:
        problems.append(err.message)
    builtin = None
    if local_dir is not None:
        with contextlib.suppress(OSError, ValueError):
            builtin = json.loads((local_dir / BUILTIN_RESULTS_FILE).read_text(encoding="utf-8"))
    limit = record.get("time_limit_s")
    return JobResults(
        address=address,
        task=str(record.get("task") or address.split(".", 2)[-1]),
        job=str(record.get("job") or ""),
        state=str(record.get("state") or "unknown"),
        platform_state=str(record.get("platform_state") or ""),
        started_at=record.get("started_at"),
        finished_at=record.get("finished_at"),
        results_dir=directory,
        storage=record.get("storage") or (str(local_dir) if local_dir is not None else None),
        time_limit_s=float(limit) if isinstance(limit, (int, float)) else None,
        timed_out=bool(record.get("timed_out")) or bool(cached and cached.timed_out),
        summary=str(record.get("summary") or ""),
        builtin=builtin,
        evaluation=evaluation,
        run_metrics=metrics,
        source=cached.source if cached else ("output_dir" if files else None),
        problems=tuple(problems),
    )


def invocation_results(state: State, root: Path, invocation_id: str) -> InvocationResults:
    """Every job result of one invocation (by address), from the state and the cache."""
    inv = state.invocations[invocation_id]
    jobs = tuple(
        job_results(root, invocation_id, address, record) for address, record in sorted(inv.job_results.items())
    )
    return InvocationResults(invocation=inv.id, status=inv.status, jobs=jobs)
