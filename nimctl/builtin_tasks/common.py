"""Plumbing shared by nimctl's built-in tasks: configuration from the environment, the HTTP
client, server-sent events, statistics and the results file.

A built-in task runs as its own process (``python -m nimctl.builtin_tasks.smoke``), locally or
as a Lepton job, and is configured only through the environment:

    NIMCTL_ENDPOINT_URL   base URL of the OpenAI-compatible server (``/v1`` is added; a URL that
                          already ends in /v1 or /v1/chat/completions is accepted too)
    NIMCTL_MODEL_ID       the served model name
    NIMCTL_API_KEY_ENV    name of the variable holding the API key (optional; without it, or
                          with that variable unset, requests carry no Authorization header)
    NIMCTL_OUTPUT_DIR     where results.json is written (default: the current directory)
    NIMCTL_TASK_PARAMS    JSON object of the task's params (optional; unknown keys are an error)

Every run that measured something also writes ``results.yml`` in NeMo Evaluator's layout
(``results.tasks.<smoke|perf>.metrics.<name>.scores.<name>.value``), so its scores show like a
harness's.

Exit status: 0 when the task passed, 1 when it failed or could not run, 130 when stopped by a
signal. Every run writes ``results.json`` (schema ``nimctl.task-results/1``)::

    {
      "schema": "nimctl.task-results/1",
      "task": "nimctl.smoke" | "nimctl.perf",
      "passed": true,
      "summary": "one line for a results table",
      "endpoint": "http://127.0.0.1:8000",  "model": "my-model",
      "started_at": "2025-01-01T12:00:00Z",  "finished_at": "...",  "duration_s": 1.23,
      "params": {...the effective params, defaults filled in...},
      "error": "why the task could not run"            (only then; passed is false)
      -- nimctl.smoke --
      "checks": [{"name": "chat", "passed": true, "detail": "...", "duration_s": 0.01}, ...]
      -- nimctl.perf --
      "levels": [{"concurrency": 4, "requests": 16, "succeeded": 16, "failed": 0,
                  "error_rate": 0.0, "duration_s": 0.5, "requests_per_s": 32.0,
                  "output_tokens": 512, "output_tokens_per_s": 1024.0,
                  "latency_ms": {"p50", "p95", "p99", "mean", "max"},
                  "ttft_ms": {"p50", "p95", "p99", "mean", "max"},
                  "errors": ["first few distinct error messages"]}, ...]
    }
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from nimctl.common import job_vars
from nimctl.common.files import write_atomic
from nimctl.common.net import is_loopback_url
from nimctl.results.evalfactory import BUILTIN_RESULTS_FILE as RESULTS_FILE
from nimctl.results.evalfactory import RESULTS_FILE as EVAL_FACTORY_RESULTS_FILE  # the same scores

if TYPE_CHECKING:  # pragma: no cover
    import httpx

SCHEMA = "nimctl.task-results/1"
EXIT_PASSED, EXIT_FAILED, EXIT_STOPPED = 0, 1, 130
_URL_SUFFIXES = ("/chat/completions", "/completions", "/v1")


class TaskConfigError(Exception):
    """The task's environment or params are wrong; the message says which and how to fix it."""


@dataclass
class TaskEnv:
    task: str
    endpoint_url: str  # base URL, without /v1
    model_id: str
    output_dir: Path
    params: dict[str, Any]
    api_key: str | None = field(default=None, repr=False)
    api_key_env: str | None = None


def base_url(url: str) -> str:
    """The server's base URL: trailing ``/chat/completions``, ``/completions``, ``/v1`` removed."""
    url = url.strip().rstrip("/")
    for suffix in _URL_SUFFIXES:
        if url.endswith(suffix):
            url = url[: -len(suffix)].rstrip("/")
    return url


def load_env(task: str, environ: dict[str, str] | None = None) -> TaskEnv:
    env = os.environ if environ is None else environ
    url = env.get(job_vars.ENDPOINT_URL, "").strip()
    model = env.get(job_vars.MODEL_ID, "").strip()
    missing = [name for name, value in ((job_vars.ENDPOINT_URL, url), (job_vars.MODEL_ID, model)) if not value]
    if missing:
        raise TaskConfigError(f"{', '.join(missing)} not set: {task} needs the endpoint's base URL and model id")
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise TaskConfigError(f"NIMCTL_ENDPOINT_URL={url!r} is not an http(s) URL")
    raw = env.get(job_vars.TASK_PARAMS, "").strip() or "{}"
    try:
        params = json.loads(raw)
    except ValueError as err:
        raise TaskConfigError(f"NIMCTL_TASK_PARAMS is not valid JSON: {err}") from None
    if not isinstance(params, dict):
        raise TaskConfigError("NIMCTL_TASK_PARAMS must be a JSON object of the task's params")
    key_env = env.get(job_vars.API_KEY_ENV, "").strip() or None
    return TaskEnv(
        task=task,
        endpoint_url=base_url(url),
        model_id=model,
        output_dir=Path(env.get(job_vars.OUTPUT_DIR) or "."),
        params=params,
        api_key=env.get(key_env) if key_env else None,
        api_key_env=key_env,
    )


def merge_params(task: str, given: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """``defaults`` updated with ``given``; an unknown key is an error (it is probably a typo)."""
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise TaskConfigError(
            f"unknown param(s) for {task}: {', '.join(unknown)}; known: {', '.join(sorted(defaults))}"
        )
    return {**defaults, **given}


def number_param(
    params: dict[str, Any], key: str, *, minimum: float, integer: bool = False, optional: bool = False
) -> Any:
    value = params.get(key)
    if value is None and optional:
        return None
    number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if number is None or number < minimum or (integer and not float(number).is_integer()):
        kind = "an integer" if integer else "a number"
        raise TaskConfigError(f"param {key} must be {kind} >= {minimum:g}, got {value!r}")
    return int(number) if integer else float(number)


def make_client(env: TaskEnv, timeout: float) -> httpx.Client:
    """An HTTP client for the endpoint. Proxy settings from the environment apply only to remote
    endpoints: a loopback server must never be reached through a proxy."""
    import httpx

    headers = {"Accept": "application/json", "User-Agent": f"nimctl-task/{env.task}"}
    if env.api_key:
        headers["Authorization"] = f"Bearer {env.api_key}"
    return httpx.Client(
        base_url=env.endpoint_url,
        headers=headers,
        timeout=httpx.Timeout(timeout),
        trust_env=not is_loopback_url(env.endpoint_url),
    )


def http_problem(response: httpx.Response, env: TaskEnv) -> str:
    """A one-line description of an unsuccessful answer, with what to do about 401/403/404."""
    try:
        body = response.read().decode("utf-8", errors="replace")
    except Exception:  # noqa: BLE001 (the body is only decoration here)
        body = ""
    try:
        message = json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = body.strip()[:200]
    text = f"HTTP {response.status_code}" + (f": {message}" if message else "")
    if response.status_code in (401, 403):
        where = f"${env.api_key_env}" if env.api_key_env else "the variable named by NIMCTL_API_KEY_ENV"
        text += f" (is the API key in {where} right?)"
    return text


def iter_sse(lines: Iterator[str]) -> Iterator[Any]:
    """The JSON payloads of a server-sent event stream, then the string ``"[DONE]"`` if it came.

    Raises ValueError on a data line that is not JSON.
    """
    for line in lines:
        if not line.startswith("data:"):
            continue  # blank separators, comments, "event:" lines
        data = line[5:].strip()
        if data == "[DONE]":
            yield "[DONE]"
            return
        yield json.loads(data)


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0..100), interpolated linearly between closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def distribution_ms(values_s: list[float]) -> dict[str, float | None]:
    """p50/p95/p99/mean/max of durations given in seconds, in milliseconds."""

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000.0, 2)

    return {
        "p50": ms(percentile(values_s, 50)),
        "p95": ms(percentile(values_s, 95)),
        "p99": ms(percentile(values_s, 99)),
        "mean": ms(sum(values_s) / len(values_s)) if values_s else None,
        "max": ms(max(values_s)) if values_s else None,
    }


def iso_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def write_results(output_dir: Path, results: dict[str, Any]) -> Path:
    """Write results.json atomically (a reader never sees half a file)."""
    path = output_dir / RESULTS_FILE
    write_atomic(path, json.dumps(results, indent=2) + "\n", mode=None, fsync=False)
    return path


def eval_factory_metrics(task: str, results: dict[str, Any]) -> dict[str, float]:
    """The run's headline numbers as eval-factory metrics (one score each, named like the metric),
    so built-in scores show like any harness's: smoke's checks, perf's throughput and latency."""
    metrics: dict[str, float] = {}
    checks = results.get("checks")
    if isinstance(checks, list) and checks:
        passed = sum(1 for c in checks if isinstance(c, dict) and c.get("passed"))
        metrics["checks_passed"] = float(passed)
        metrics["pass_rate"] = passed / len(checks)
    for level in results.get("levels") or []:
        if not isinstance(level, dict):
            continue
        prefix = f"c{level.get('concurrency')}"
        for name, value in (
            ("requests_per_s", level.get("requests_per_s")),
            ("p50_latency_ms", (level.get("latency_ms") or {}).get("p50")),
            ("error_rate", level.get("error_rate")),
        ):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                metrics[f"{prefix}_{name}"] = float(value)
    return metrics


def write_eval_factory_results(output_dir: Path, task: str, results: dict[str, Any]) -> Path | None:
    """``results.yml`` in NeMo Evaluator's layout (JSON text, which YAML reads as is: the built-ins
    need no YAML library), beside results.json. Nothing is written when the run measured nothing."""
    metrics = eval_factory_metrics(task, results)
    if not metrics:
        return None
    from nimctl.results.evalfactory import results_document

    document = results_document(task.split(".", 1)[-1], metrics, versions={"nimctl": _nimctl_version()})
    path = output_dir / EVAL_FACTORY_RESULTS_FILE
    write_atomic(path, json.dumps(document, indent=2) + "\n", mode=None, fsync=False)
    return path


def _nimctl_version() -> str:
    try:
        from importlib.metadata import version

        return version("nimctl")
    except Exception:  # run from a source tree without installed metadata
        return "unknown"


def run_task(task: str, body: Callable[[TaskEnv], dict[str, Any]]) -> int:
    """Run a task's ``body`` with the environment's configuration; write results.json; exit status.

    ``body`` returns the task-specific part of the results, including ``passed`` and ``summary``.
    """

    def stop(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    started, clock = iso_now(), time.monotonic()
    results: dict[str, Any] = {"schema": SCHEMA, "task": task, "passed": False, "summary": ""}
    output_dir = Path(os.environ.get(job_vars.OUTPUT_DIR) or ".")
    code = EXIT_FAILED
    try:
        env = load_env(task)
        results.update(endpoint=env.endpoint_url, model=env.model_id)
        results.update(body(env))
        code = EXIT_PASSED if results.get("passed") else EXIT_FAILED
    except TaskConfigError as err:
        results.update(error=str(err), summary=f"could not run: {err}")
    except KeyboardInterrupt:
        results.update(error="stopped by a signal", summary="stopped before finishing")
        code = EXIT_STOPPED
    results.update(started_at=started, finished_at=iso_now(), duration_s=round(time.monotonic() - clock, 3))
    try:
        path = write_results(output_dir, results)
        write_eval_factory_results(output_dir, task, results)
    except OSError as err:
        print(f"{task}: cannot write {output_dir / RESULTS_FILE}: {err}", file=sys.stderr)
        return EXIT_FAILED
    verdict = "PASSED" if results["passed"] else "FAILED"
    print(f"{task}: {verdict}: {results.get('summary', '')}\n{task}: results in {path}", flush=True)
    return code
