"""nimctl.smoke and nimctl.perf run as the processes a job runs, against the mock server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nimctl.builtin_tasks.common import SCHEMA, base_url, iter_sse, percentile
from nimctl.offline.mock_server import MockServer
from tests.support.local import MODEL

SMOKE_CHECKS = ["models", "chat", "completion", "chat_stream", "completion_stream"]


def run_task(
    task: str,
    tmp_path: Path,
    url: str,
    *,
    model: str = MODEL,
    params: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any], str]:
    """Run ``python -m nimctl.builtin_tasks.<task>`` with the job env contract; (exit code, results, output)."""
    out = tmp_path / task
    job_env = {key: value for key, value in os.environ.items() if not key.startswith("NIMCTL_")}
    job_env.update({"NIMCTL_ENDPOINT_URL": url, "NIMCTL_MODEL_ID": model, "NIMCTL_OUTPUT_DIR": str(out)})
    if params is not None:
        job_env["NIMCTL_TASK_PARAMS"] = json.dumps(params)
    job_env.update(env or {})
    result = subprocess.run(
        [sys.executable, "-m", f"nimctl.builtin_tasks.{task}"], env=job_env, capture_output=True, text=True, timeout=120
    )
    results = json.loads((out / "results.json").read_text())
    assert results["schema"] == SCHEMA and results["task"] == f"nimctl.{task}"
    assert results["started_at"] <= results["finished_at"] and results["duration_s"] >= 0
    assert (result.returncode == 0) is results["passed"]
    return result.returncode, results, result.stdout + result.stderr


# ---------------------------------------------------------------- smoke


def test_smoke_passes_against_the_mock(mock_server: MockServer, tmp_path: Path) -> None:
    code, results, output = run_task("smoke", tmp_path, mock_server.url)
    assert code == 0, output
    assert [c["name"] for c in results["checks"]] == SMOKE_CHECKS
    assert all(c["passed"] for c in results["checks"]), results["checks"]
    assert results["summary"] == "5/5 checks passed" and results["model"] == MODEL
    assert "mock response" in results["checks"][1]["detail"]
    assert "PASSED" in output


def test_smoke_accepts_a_v1_or_chat_url_and_selected_checks(mock_server: MockServer, tmp_path: Path) -> None:
    code, results, _ = run_task(
        "smoke",
        tmp_path,
        mock_server.url + "/v1/chat/completions",
        params={"checks": ["chat", "chat_stream"], "max_tokens": 4},
    )
    assert code == 0
    assert results["endpoint"] == mock_server.url
    assert [c["name"] for c in results["checks"]] == ["chat", "chat_stream"]


def test_smoke_fails_when_the_model_is_not_served(mock_server: MockServer, tmp_path: Path) -> None:
    code, results, output = run_task("smoke", tmp_path, mock_server.url, model="some/other-model")
    assert code == 1
    assert not any(c["passed"] for c in results["checks"])
    assert "'some/other-model' is not listed" in results["checks"][0]["detail"]
    assert "HTTP 404" in results["checks"][1]["detail"]
    assert "0/5 checks passed" in results["summary"] and "FAILED" in output


def test_smoke_with_api_key(start_mock: Callable[..., MockServer], tmp_path: Path) -> None:
    server = start_mock(api_key="tok-123")
    key_env = {"NIMCTL_API_KEY_ENV": "MY_ENDPOINT_KEY", "MY_ENDPOINT_KEY": "tok-123"}
    code, results, _ = run_task("smoke", tmp_path / "with", server.url, env=key_env)
    assert code == 0, results
    code, results, _ = run_task(
        "smoke", tmp_path / "without", server.url, env={"NIMCTL_API_KEY_ENV": "MY_ENDPOINT_KEY"}
    )
    assert code == 1
    assert "HTTP 401" in results["checks"][0]["detail"] and "$MY_ENDPOINT_KEY" in results["checks"][0]["detail"]


def test_smoke_unreachable_endpoint(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    code, results, _ = run_task("smoke", tmp_path, f"http://127.0.0.1:{closed}", params={"timeout_s": 2})
    assert code == 1
    assert all("request failed: ConnectError" in c["detail"] for c in results["checks"])


@pytest.mark.parametrize(
    ("task", "params", "needle"),
    [
        ("smoke", {"max_token": 3}, "unknown param(s) for nimctl.smoke: max_token"),
        ("smoke", {"checks": ["chat", "vision"]}, "param checks must be"),
        ("perf", {"concurrency": [0]}, "param concurrency must be"),
        ("perf", {"requests": -1}, "param requests must be an integer >= 1"),
        ("perf", {"endpoint_type": "embedding"}, "param endpoint_type"),
    ],
)
def test_bad_params_are_reported(mock_server: MockServer, tmp_path: Path, task: str, params: dict, needle: str) -> None:
    code, results, output = run_task(task, tmp_path, mock_server.url, params=params)
    assert code == 1 and needle in results["error"] and "Traceback" not in output


def test_missing_env_is_reported(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("NIMCTL_")}
    env["NIMCTL_OUTPUT_DIR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "nimctl.builtin_tasks.smoke"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    results = json.loads((tmp_path / "results.json").read_text())
    assert "NIMCTL_ENDPOINT_URL, NIMCTL_MODEL_ID not set" in results["error"]


# ---------------------------------------------------------------- perf


def test_perf_levels_have_sane_figures(mock_server: MockServer, tmp_path: Path) -> None:
    params = {"concurrency": [1, 4, 16], "requests": 32, "max_tokens": 8}
    code, results, output = run_task("perf", tmp_path, mock_server.url, params=params)
    assert code == 0, output
    assert [level["concurrency"] for level in results["levels"]] == [1, 4, 16]
    for level in results["levels"]:
        assert level["requests"] == level["succeeded"] == 32 and level["failed"] == 0 and level["error_rate"] == 0
        assert level["output_tokens"] == 32 * 8  # the mock stops at max_tokens
        assert level["requests_per_s"] > 0
        assert level["output_tokens_per_s"] == pytest.approx(8 * level["requests_per_s"], rel=0.02)
        latency, ttft = level["latency_ms"], level["ttft_ms"]
        assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
        assert 0 < ttft["p50"] <= ttft["p95"] <= ttft["p99"]
        assert ttft["p50"] <= latency["p50"]
        assert level["passed"] and level["errors"] == []
    assert results["summary"].startswith("c=1: ")


def test_perf_token_latency_shows_in_latency_and_ttft(start_mock: Callable[..., MockServer], tmp_path: Path) -> None:
    server = start_mock(token_latency=0.005)
    params = {"concurrency": [2], "requests": 6, "max_tokens": 10, "warmup": 0}
    code, results, _ = run_task("perf", tmp_path, server.url, params=params)
    assert code == 0
    level = results["levels"][0]
    assert level["ttft_ms"]["p50"] >= 5 and level["latency_ms"]["p50"] >= 50
    assert level["ttft_ms"]["p50"] < level["latency_ms"]["p50"] / 2


def test_perf_time_budget(mock_server: MockServer, tmp_path: Path) -> None:
    params = {"concurrency": [2], "duration_s": 0.3, "endpoint_type": "completions", "max_tokens": 4}
    code, results, _ = run_task("perf", tmp_path, mock_server.url, params=params)
    assert code == 0
    level = results["levels"][0]
    # The time budget ends the level (not a request count: how many fit in 0.3 s depends on the
    # machine's load); the upper bound guards a level that never stops, not speed.
    assert level["requests"] >= 1 and 0.3 <= level["duration_s"] < 60


def test_perf_fails_on_errors(start_mock: Callable[..., MockServer], tmp_path: Path) -> None:
    server = start_mock(api_key="needed")
    code, results, _ = run_task("perf", tmp_path, server.url, params={"concurrency": [1, 2], "requests": 3})
    assert code == 1
    for level in results["levels"]:
        assert level["error_rate"] == 1.0 and not level["passed"] and level["succeeded"] == 0
        assert level["errors"] and level["errors"][0].startswith("HTTP 401")
        assert level["latency_ms"]["p50"] is None
    code, results, _ = run_task(
        "perf", tmp_path / "tolerant", server.url, params={"concurrency": [1], "requests": 2, "max_error_rate": 1.0}
    )
    assert code == 0


# ---------------------------------------------------------------- helpers


def test_percentile() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0], 99) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile(list(map(float, range(101))), 95) == 95.0
    assert percentile([5.0, 1.0], 100) == 5.0


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("http://h:1", "http://h:1"),
        ("http://h:1/", "http://h:1"),
        ("http://h:1/v1", "http://h:1"),
        ("https://h/v1/chat/completions", "https://h"),
        ("https://h/x/v1/completions/", "https://h/x"),
    ],
)
def test_base_url(url: str, base: str) -> None:
    assert base_url(url) == base


def test_iter_sse() -> None:
    lines = [": comment", "event: message", 'data: {"a": 1}', "", "data: [DONE]", 'data: {"after": 1}']
    assert list(iter_sse(iter(lines))) == [{"a": 1}, "[DONE]"]
    with pytest.raises(ValueError):
        list(iter_sse(iter(["data: {broken"])))
