"""``nimctl.perf``: throughput and latency of the endpoint at several concurrency levels.

At each level, ``concurrency`` workers (one HTTP connection each) send streaming requests back
to back until the level's request budget or time budget is spent. Per level: requests/s, output
tokens/s, latency p50/p95/p99, time to first token (first streamed text) p50/p95/p99, error rate.
Output tokens are the server's ``usage.completion_tokens`` (asked for with
``stream_options.include_usage``), or the number of text chunks when it does not report usage.

Params (NIMCTL_TASK_PARAMS):
    concurrency     list of levels, default [1, 4, 16]
    requests        requests per level (default: 4 x concurrency, at least 8, when no duration_s)
    duration_s      time budget per level in seconds (default none; with requests, whichever
                    runs out first ends the level)
    max_tokens      tokens asked per request (32)
    endpoint_type   "chat" (default) or "completions"
    prompt          the prompt sent
    timeout_s       per-request timeout (60)
    warmup          requests sent before measuring (1)
    max_error_rate  the task passes when every level's error rate is at most this (0.0)

Results schema: see ``nimctl.builtin_tasks.common``.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from nimctl.builtin_tasks.common import (
    TaskConfigError,
    TaskEnv,
    distribution_ms,
    http_problem,
    iter_sse,
    make_client,
    merge_params,
    number_param,
    run_task,
)

TASK = "nimctl.perf"
DEFAULTS: dict[str, Any] = {
    "concurrency": [1, 4, 16],
    "requests": None,
    "duration_s": None,
    "max_tokens": 32,
    "endpoint_type": "chat",
    "prompt": "Write a short paragraph about the sea.",
    "timeout_s": 60.0,
    "warmup": 1,
    "max_error_rate": 0.0,
}
MAX_CONCURRENCY = 1024
MAX_ERRORS_SHOWN = 5


@dataclass
class Sample:
    """One request's outcome. Times in seconds from the request's start."""

    ok: bool
    latency: float
    ttft: float | None = None
    output_tokens: int = 0
    error: str | None = None


def request_body(env: TaskEnv, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    common = {
        "model": env.model_id,
        "max_tokens": params["max_tokens"],
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if params["endpoint_type"] == "completions":
        return "/v1/completions", {**common, "prompt": params["prompt"]}
    return "/v1/chat/completions", {**common, "messages": [{"role": "user", "content": params["prompt"]}]}


def _chunk_text(chunk: dict[str, Any]) -> str:
    text = []
    for choice in chunk.get("choices") or []:
        if not isinstance(choice, dict):
            continue
        piece = choice.get("text") if "text" in choice else (choice.get("delta") or {}).get("content")
        if isinstance(piece, str):
            text.append(piece)
    return "".join(text)


def timed_request(client: Any, env: TaskEnv, path: str, body: dict[str, Any]) -> Sample:
    """Send one streaming request and time it; never raises for a failed request."""
    import httpx

    start = time.perf_counter()
    ttft: float | None = None
    chunks_with_text, usage_tokens, done = 0, None, False
    try:
        with client.stream("POST", path, json=body) as response:
            if response.status_code != 200:
                return Sample(False, time.perf_counter() - start, error=http_problem(response, env))
            for event in iter_sse(response.iter_lines()):
                if event == "[DONE]":
                    done = True
                    break
                if not isinstance(event, dict):
                    continue
                if _chunk_text(event):
                    chunks_with_text += 1
                    if ttft is None:
                        ttft = time.perf_counter() - start
                usage = event.get("usage")
                if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
                    usage_tokens = usage["completion_tokens"]
    except httpx.HTTPError as err:
        return Sample(False, time.perf_counter() - start, error=f"{type(err).__name__}: {err}")
    except ValueError as err:
        return Sample(False, time.perf_counter() - start, error=f"bad server-sent event: {err}")
    latency = time.perf_counter() - start
    if not done:
        return Sample(False, latency, ttft, error="the stream ended without 'data: [DONE]'")
    if ttft is None:
        return Sample(False, latency, error="the answer carried no text")
    return Sample(True, latency, ttft, usage_tokens if usage_tokens is not None else chunks_with_text)


class LevelRun:
    """One concurrency level: workers take request slots until the budget is spent."""

    def __init__(self, env: TaskEnv, params: dict[str, Any], concurrency: int) -> None:
        self.env, self.params, self.concurrency = env, params, concurrency
        self.budget = params["requests"]
        self.deadline: float | None = None
        self.issued = 0
        self.samples: list[Sample] = []
        self.lock = threading.Lock()

    def _take_slot(self) -> bool:
        with self.lock:
            if self.budget is not None and self.issued >= self.budget:
                return False
            if self.deadline is not None and time.monotonic() >= self.deadline:
                return False
            self.issued += 1
            return True

    def _worker(self, client: Any) -> None:
        path, body = request_body(self.env, self.params)
        while self._take_slot():
            sample = timed_request(client, self.env, path, body)
            with self.lock:
                self.samples.append(sample)

    def run(self) -> dict[str, Any]:
        clients = [make_client(self.env, self.params["timeout_s"]) for _ in range(self.concurrency)]
        try:
            start = time.monotonic()
            if self.params["duration_s"] is not None:
                self.deadline = start + self.params["duration_s"]
            threads = [threading.Thread(target=self._worker, args=(client,), daemon=True) for client in clients]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.monotonic() - start
        finally:
            for client in clients:
                client.close()
        return summarise(self.concurrency, self.samples, wall)


def summarise(concurrency: int, samples: list[Sample], wall: float) -> dict[str, Any]:
    ok = [s for s in samples if s.ok]
    failed = len(samples) - len(ok)
    tokens = sum(s.output_tokens for s in ok)
    errors: list[str] = []
    for sample in samples:
        if sample.error and sample.error not in errors and len(errors) < MAX_ERRORS_SHOWN:
            errors.append(sample.error)
    per_s = (lambda n: round(n / wall, 2)) if wall > 0 else (lambda n: None)
    return {
        "concurrency": concurrency,
        "requests": len(samples),
        "succeeded": len(ok),
        "failed": failed,
        "error_rate": round(failed / len(samples), 4) if samples else 1.0,
        "duration_s": round(wall, 3),
        "requests_per_s": per_s(len(ok)),
        "output_tokens": tokens,
        "output_tokens_per_s": per_s(tokens),
        "latency_ms": distribution_ms([s.latency for s in ok]),
        "ttft_ms": distribution_ms([s.ttft for s in ok if s.ttft is not None]),
        "errors": errors,
    }


def resolve_params(given: dict[str, Any]) -> dict[str, Any]:
    params = merge_params(TASK, given, DEFAULTS)
    levels = params["concurrency"]
    if isinstance(levels, int) and not isinstance(levels, bool):
        levels = [levels]
    if (
        not isinstance(levels, list)
        or not levels
        or not all(isinstance(c, int) and not isinstance(c, bool) and 1 <= c <= MAX_CONCURRENCY for c in levels)
    ):
        raise TaskConfigError(f"param concurrency must be a list of integers 1..{MAX_CONCURRENCY}, got {levels!r}")
    params["concurrency"] = levels
    params["requests"] = number_param(params, "requests", minimum=1, integer=True, optional=True)
    params["duration_s"] = number_param(params, "duration_s", minimum=0.01, optional=True)
    params["max_tokens"] = number_param(params, "max_tokens", minimum=1, integer=True)
    params["timeout_s"] = number_param(params, "timeout_s", minimum=0.1)
    params["warmup"] = number_param(params, "warmup", minimum=0, integer=True)
    params["max_error_rate"] = number_param(params, "max_error_rate", minimum=0)
    if params["max_error_rate"] > 1:
        raise TaskConfigError(f"param max_error_rate must be between 0 and 1, got {params['max_error_rate']}")
    if params["endpoint_type"] not in ("chat", "completions"):
        raise TaskConfigError(f"param endpoint_type must be 'chat' or 'completions', got {params['endpoint_type']!r}")
    if not isinstance(params["prompt"], str) or not params["prompt"].strip():
        raise TaskConfigError("param prompt must be a non-empty string")
    return params


def _level_params(params: dict[str, Any], concurrency: int) -> dict[str, Any]:
    if params["requests"] is None and params["duration_s"] is None:
        return {**params, "requests": max(8, 4 * concurrency)}
    return params


def _summary(levels: list[dict[str, Any]]) -> str:
    parts = []
    for level in levels:
        p50 = level["latency_ms"]["p50"]
        ttft = level["ttft_ms"]["p50"]
        part = f"c={level['concurrency']}: {level['requests_per_s']} req/s"
        if p50 is not None:
            part += f", p50 {p50:.0f} ms, ttft {ttft:.0f} ms"
        if level["failed"]:
            part += f", {level['error_rate']:.0%} errors"
        parts.append(part)
    return "; ".join(parts)


def perf(env: TaskEnv) -> dict[str, Any]:
    params = resolve_params(env.params)
    if params["warmup"]:
        with make_client(env, params["timeout_s"]) as client:
            path, body = request_body(env, params)
            for _ in range(params["warmup"]):
                timed_request(client, env, path, body)
    levels = []
    for concurrency in params["concurrency"]:
        level = LevelRun(env, _level_params(params, concurrency), concurrency).run()
        level["passed"] = level["requests"] > 0 and level["error_rate"] <= params["max_error_rate"]
        levels.append(level)
        print(f"{TASK}: {_summary([level])}", flush=True)
    passed = all(level["passed"] for level in levels)
    return {"passed": passed, "summary": _summary(levels), "params": params, "levels": levels}


def main() -> int:
    return run_task(TASK, perf)


if __name__ == "__main__":
    sys.exit(main())
