"""How results look on a terminal: apply's results table and ``nimctl results ID``.

Takes ``nimctl.results.store.JobResults``; gives lines of text. Rows stay within ``width``
columns (100 by default): scores are cut with an ellipsis, and paths, which can be long, go on
lines of their own under the table instead of into a column.
"""

from __future__ import annotations

from collections.abc import Sequence

from nimctl.results.evalfactory import format_number
from nimctl.results.store import JobResults

WIDTH = 100
_ELLIPSIS = "…"


def state_word(job: JobResults) -> str:
    """The job's state, and "timed out" when its time limit stopped it."""
    if job.timed_out:
        limit = f" ({format_number(job.time_limit_s)} s)" if job.time_limit_s else ""
        return f"timed out{limit}"
    return job.state


def duration_text(job: JobResults) -> str:
    seconds = job.duration_s
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def scores_text(job: JobResults) -> str:
    """The headline scores (every score of every task, in file order), else the built-in's summary."""
    if job.evaluation is not None:
        heads = job.evaluation.headlines()
        several = len({h.task for h in heads}) > 1
        parts = [f"{h.task}:{h.text()}" if several else h.text() for h in heads]
        if parts:
            return ", ".join(parts)
    if job.summary:
        return job.summary
    if job.problems:
        return f"(scores unreadable: {job.problems[0]})"
    return ""


def _clip(text: str, width: int) -> str:
    if width <= 1:
        return _ELLIPSIS if text else ""
    return text if len(text) <= width else text[: width - 1] + _ELLIPSIS


def table_lines(jobs: Sequence[JobResults], *, width: int = WIDTH, label: str = "address") -> list[str]:
    """``task  state  duration  scores`` rows, at most ``width`` columns, then one ``where`` line
    per job whose files can be found (a local path, or the storage path of a task mount)."""
    if not jobs:
        return []
    names = [job.address if label == "address" else job.task for job in jobs]
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
        if job.storage:
            lines.append(_clip(f"{name}: files in {job.storage}", width))
    return lines


def detail_lines(job: JobResults, *, width: int = WIDTH) -> list[str]:
    """Every metric of every task of one job, one per line, with the run's request figures."""
    head = f"{job.address}  {state_word(job)}"
    if duration_text(job):
        head += f"  {duration_text(job)}"
    lines = [head]
    if job.evaluation is not None:
        rows = []
        for tables, kind in ((job.evaluation.groups, "group"), (job.evaluation.tasks, "task")):
            for task, scores in tables.items():
                for metric_name, metric in scores.metrics.items():
                    for score_name, score in metric.scores.items():
                        name = metric_name if score_name == metric_name else f"{metric_name}.{score_name}"
                        extra = []
                        if "stderr" in score.stats:
                            extra.append(f"stderr {format_number(score.stats['stderr'])}")
                        if "count" in score.stats:
                            extra.append(f"n={format_number(score.stats['count'])}")
                        rows.append((f"{task}" if kind == "task" else f"{task} (group)", name, score.value, extra))
        task_w = max((len(r[0]) for r in rows), default=0)
        name_w = max((len(r[1]) for r in rows), default=0)
        for task, name, value, extra in rows:
            text = f"  {task:<{task_w}}  {name:<{name_w}}  {format_number(value)}"
            lines.append(_clip(text + (f"  ({', '.join(extra)})" if extra else ""), width))
        if job.evaluation.versions:
            versions = ", ".join(f"{k} {v}" for k, v in job.evaluation.versions.items())
            lines.append(_clip(f"  made by {versions}", width))
    elif job.summary:
        lines.append(f"  {job.summary}")
    else:
        lines.append("  no scores (the job left no results.yml)")
    metrics = job.run_metrics
    if metrics is not None and metrics.requests is not None:
        text = f"  requests: {metrics.requests}"
        if metrics.successful_requests is not None:
            text += f" ({metrics.successful_requests} ok)"
        if metrics.avg_latency_ms is not None:
            text += f", average latency {metrics.avg_latency_ms:.1f} ms"
        lines.append(text)
    if job.storage:
        lines.append(_clip(f"  files: {job.storage}", width))
    for problem in job.problems:
        lines.append(_clip(f"  problem: {problem}", width))
    return lines
