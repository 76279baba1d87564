"""Lepton logs: an endpoint's or job's recent lines, and the lines of a job's log that carry its
result files (``nimctl.results.channel``), read back in pages from Lepton's Loki-style ``/logs``.
"""

from __future__ import annotations

import time
from typing import Any

from nimctl.common.errors import NimctlError
from nimctl.providers.lepton.client import LeptonClient

# Reading results back from a job's log (result_log_lines): lines per request, at most this many
# requests (files of at most 1 MiB: ~14,000 lines each), and how far back to look when the job's
# start is unknown (its time-to-live after finishing: three days).
RESULT_LOG_PAGE = 5000
RESULT_LOG_PAGES = 10
RESULT_LOG_LOOKBACK_S = 4 * 86400


class LeptonLogs(LeptonClient):
    """The log methods of ``base.Provider`` on Lepton, and ``results.store``'s log reader."""

    def result_log_lines(self, job_id: str, since: float | None) -> list[str]:
        """The job's log lines that carry its result files (``nimctl.results.channel``), oldest
        first, archived jobs included. The SDK sends ``q``, ``limit`` and ``job_query_mode`` only
        with both ``start`` and ``end`` (ns), so the query spans the job's life: from a while
        before it started to a day ahead (a clock ahead of this machine's loses nothing)."""
        from nimctl.results.channel import MARKER

        start = int(((since if since else time.time() - RESULT_LOG_LOOKBACK_S) - 3600) * 1e9)
        end = int((time.time() + 86400) * 1e9)
        lines: list[tuple[int, str]] = []
        for _ in range(RESULT_LOG_PAGES):
            first = start

            def page(first: int = first) -> Any:
                return self.client.log.get_log(
                    name_or_job=job_id,
                    start=str(first),
                    end=str(end),
                    limit=RESULT_LOG_PAGE,
                    q=MARKER,
                    job_query_mode="alive_and_archive",
                    direction="forward",
                )

            payload = self._call(
                page, action="read the results in the log of", resource=f"job {job_id}", budget=self._budget()
            )
            batch = _log_lines(payload)
            lines += batch
            if len(batch) < RESULT_LOG_PAGE:
                break
            start = max(stamp for stamp, _ in batch) + 1  # next page: after the last line seen
        return [line for _, line in sorted(lines, key=lambda pair: pair[0])]

    def logs(self, *, endpoint: str | None = None, job_id: str | None = None, limit: int = 200) -> list[str]:
        if (endpoint is None) == (job_id is None):
            raise NimctlError("logs needs exactly one of endpoint or job_id")
        resource = f"endpoint {endpoint}" if endpoint else f"job {job_id}"
        payload = self._call(
            lambda: self.client.log.get_log(name_or_deployment=endpoint, name_or_job=job_id),
            action="read the logs of",
            resource=resource,
            budget=self._budget(),
        )
        lines = sorted(_log_lines(payload), key=lambda pair: pair[0])
        return [line for _, line in lines[-limit:]] if limit > 0 else []


def _log_lines(payload: Any) -> list[tuple[int, str]]:
    """(timestamp ns, line) pairs from a Loki-style ``/logs`` answer."""
    if isinstance(payload, str):
        return [(i, line) for i, line in enumerate(payload.splitlines())]
    data = payload.get("data", payload) if isinstance(payload, dict) else {}
    streams = data.get("result", []) if isinstance(data, dict) else []
    lines: list[tuple[int, str]] = []
    for stream in streams if isinstance(streams, list) else []:
        for value in (stream.get("values") or []) if isinstance(stream, dict) else []:
            if isinstance(value, (list, tuple)) and len(value) >= 2:
                try:
                    stamp = int(value[0])
                except (TypeError, ValueError):
                    stamp = 0
                lines.append((stamp, str(value[1]).rstrip("\n")))
    return lines
