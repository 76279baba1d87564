"""How results look on a terminal: apply's results table and ``nimctl results ID``.

Takes job results in the JSON form of ``nimctl.results.store.JobResults.to_json()`` (what
``nimctl results --json`` prints and apply's ``JobResults`` event carries); gives lines of text.
Rows stay within ``width`` columns (100 by default): scores are cut with an ellipsis, and paths,
which can be long, go on lines of their own under the table instead of into a column.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from nimctl.results.evalfactory import format_number

WIDTH = 100
_ELLIPSIS = "…"

Job = dict[str, Any]


def state_word(job: Job) -> str:
    """The job's state, and "timed out" when its time limit stopped it."""
    if job.get("timed_out"):
        limit = job.get("time_limit_s")
        return f"timed out ({format_number(limit)} s)" if isinstance(limit, (int, float)) else "timed out"
    return str(job.get("state") or "?")


def duration_text(job: Job) -> str:
    seconds = job.get("duration_s")
    if not isinstance(seconds, (int, float)):
        start, end = job.get("started_at"), job.get("finished_at")
        if not (isinstance(start, (int, float)) and isinstance(end, (int, float))):
            return ""
        seconds = end - start
    seconds = max(0.0, float(seconds))  # platform clocks in whole seconds can make a short job look negative
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def scores(job: Job) -> Iterator[tuple[str, str, str, float, dict[str, Any]]]:
    """(task, metric, score, value, stats) for every score, groups first, in file order."""
    for table, suffix in ((job.get("groups") or {}, " (group)"), (job.get("tasks") or {}, "")):
        for task, entry in table.items():
            for metric, body in ((entry or {}).get("metrics") or {}).items():
                for score, item in ((body or {}).get("scores") or {}).items():
                    if isinstance(item, dict) and isinstance(item.get("value"), (int, float)):
                        yield f"{task}{suffix}", metric, score, float(item["value"]), item.get("stats") or {}


def _label(metric: str, score: str) -> str:
    return metric if metric == score else f"{metric}.{score}"


def scores_text(job: Job) -> str:
    """The headline scores (every score of every task), else the built-in's summary."""
    found = list(scores(job))
    several = len({task for task, *_ in found}) > 1
    parts = [f"{task + ':' if several else ''}{_label(m, s)}={format_number(v)}" for task, m, s, v, _ in found]
    if parts:
        return ", ".join(parts)
    if job.get("summary"):
        return str(job["summary"])
    problems = job.get("problems") or []
    return f"(scores unreadable: {problems[0]})" if problems else ""


def _clip(text: str, width: int) -> str:
    if width <= 1:
        return _ELLIPSIS if text else ""
    return text if len(text) <= width else text[: width - 1] + _ELLIPSIS


def _clip_left(text: str, width: int) -> str:
    return text if len(text) <= width else _ELLIPSIS + text[len(text) - width + 1 :]


def task_labels(jobs: Sequence[Job]) -> list[str]:
    """Each job's task name; ``<stack>.<task>`` when the jobs come from several stacks."""
    addresses = [str(job.get("address") or "") for job in jobs]
    stacks = {a.split(".", 2)[1] for a in addresses if a.count(".") >= 2}
    if len(stacks) <= 1:
        return [str(job.get("task") or a.split(".", 2)[-1]) for job, a in zip(jobs, addresses, strict=True)]
    return [a.removeprefix("job.") for a in addresses]


def table_lines(jobs: Sequence[Job], *, width: int = WIDTH) -> list[str]:
    """``task  state  duration  scores`` rows, at most ``width`` columns, then where each job's
    files are (a local path, or the storage path of a task mount): label line, path line."""
    if not jobs:
        return []
    names = task_labels(jobs)
    rows = [
        [name, state_word(job), duration_text(job), scores_text(job)] for name, job in zip(names, jobs, strict=True)
    ]
    headers = ["task", "state", "duration", "scores"]
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(3)]
    # The task column gives way first when even short scores would not fit.
    widths[0] = min(widths[0], max(24, width - widths[1] - widths[2] - 6 - 30))
    room = max(10, width - sum(widths) - 6)
    lines = []
    for row in [headers, ["-" * widths[0], "-" * widths[1], "-" * widths[2], "-" * min(room, 6)], *rows]:
        cells = [_clip(row[i], widths[i]).ljust(widths[i]) for i in range(3)] + [_clip(row[3], room)]
        lines.append("  ".join(cells).rstrip())
    for name, job in zip(names, jobs, strict=True):
        if job.get("storage"):
            lines += [_clip(f"{name}: files in", width), "  " + _clip_left(str(job["storage"]), width - 2)]
    return lines


def detail_lines(job: Job, *, width: int = WIDTH) -> list[str]:
    """Every metric of every task of one job, one per line, with the run's request figures."""
    head = f"{job.get('address')}  {state_word(job)}"
    if duration_text(job):
        head += f"  {duration_text(job)}"
    lines = [head]
    if job.get("summary"):
        lines.append(_clip(f"  {job['summary']}", width))
    rows = []
    for task, metric, score, value, stats in scores(job):
        extra = []
        if isinstance(stats.get("stderr"), (int, float)):
            extra.append(f"stderr {format_number(stats['stderr'])}")
        if isinstance(stats.get("count"), (int, float)):
            extra.append(f"n={format_number(stats['count'])}")
        rows.append((task, _label(metric, score), value, extra))
    task_w = max((len(r[0]) for r in rows), default=0)
    name_w = max((len(r[1]) for r in rows), default=0)
    for task, name, value, extra in rows:
        text = f"  {task:<{task_w}}  {name:<{name_w}}  {format_number(value)}"
        lines.append(_clip(text + (f"  ({', '.join(extra)})" if extra else ""), width))
    if rows and job.get("versions"):
        versions = ", ".join(f"{k} {v}" for k, v in job["versions"].items())
        lines.append(_clip(f"  made by {versions}", width))
    if not rows and not job.get("summary"):
        lines.append("  no scores (the job left no results.yml)")
    metrics = job.get("run_metrics") or {}
    if metrics.get("requests") is not None:
        text = f"  requests: {metrics['requests']}"
        if metrics.get("successful_requests") is not None:
            text += f" ({metrics['successful_requests']} ok)"
        if isinstance(metrics.get("avg_latency_ms"), (int, float)):
            text += f", average latency {metrics['avg_latency_ms']:.1f} ms"
        lines.append(text)
    if job.get("storage"):
        lines += ["  files in:", "    " + _clip_left(str(job["storage"]), width - 4)]
    for problem in job.get("problems") or []:
        lines.append(_clip(f"  problem: {problem}", width))
    return lines
