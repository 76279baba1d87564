"""The mock OpenAI server over real HTTP: the shapes an OpenAI client expects, SSE, auth, delays."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from nimctl.offline.mock_server import MockServer, MockServerError, make_server
from tests.support.local import MODEL
from tests.support.openai_shapes import (
    check_chat_chunks,
    check_chat_completion,
    check_completion,
    check_completion_chunks,
    check_error,
    check_models,
    parse_sse,
)
from tests.support.polling import wait_until

CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "What is the capital of France?"}], "max_tokens": 64}
COMPLETION = {"model": MODEL, "prompt": "Once upon a time", "max_tokens": 64}


@pytest.fixture
def client(mock_server: MockServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=mock_server.url, trust_env=False, timeout=10) as http:
        yield http


def test_models(client: httpx.Client) -> None:
    response = client.get("/v1/models")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert check_models(response.json()) == [MODEL]


def test_chat_completion_is_deterministic_and_says_it_is_a_mock(client: httpx.Client) -> None:
    first = client.post("/v1/chat/completions", json=CHAT)
    assert first.status_code == 200
    content = check_chat_completion(first.json())
    assert first.json()["model"] == MODEL
    assert "mock" in content and "capital of France" in content
    second = client.post("/v1/chat/completions", json=CHAT).json()
    assert second["choices"] == first.json()["choices"] and second["id"] == first.json()["id"]


def test_completion(client: httpx.Client) -> None:
    response = client.post("/v1/completions", json=COMPLETION)
    assert response.status_code == 200
    assert "mock" in check_completion(response.json())


def test_chat_stream_matches_the_plain_answer(client: httpx.Client) -> None:
    plain = client.post("/v1/chat/completions", json=CHAT).json()["choices"][0]["message"]["content"]
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text = response.read().decode()
    chunks = parse_sse(text)
    assert check_chat_chunks(chunks) == plain
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == len(plain.split())
    assert all(chunk["model"] == MODEL for chunk in chunks)


def test_completion_stream(client: httpx.Client) -> None:
    plain = client.post("/v1/completions", json=COMPLETION).json()["choices"][0]["text"]
    with client.stream("POST", "/v1/completions", json={**COMPLETION, "stream": True}) as response:
        assert response.status_code == 200
        chunks = parse_sse(response.read().decode())
    assert check_completion_chunks(chunks) == plain


def test_keep_alive_connection_serves_several_streams(client: httpx.Client) -> None:
    for _ in range(3):  # chunked encoding ends each stream cleanly, so the connection is reused
        with client.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as response:
            parse_sse(response.read().decode())
        assert client.get("/v1/models").status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "status", "needle"),
    [
        ("/v1/chat/completions", {**CHAT, "model": "other"}, 404, "does not exist"),
        ("/v1/chat/completions", {"model": MODEL}, 400, "messages"),
        ("/v1/chat/completions", {**CHAT, "max_tokens": 0}, 400, "max_tokens"),
        ("/v1/completions", {"model": MODEL}, 400, "prompt"),
        ("/v1/embeddings", {"model": MODEL, "input": "x"}, 404, "No route"),
    ],
)
def test_errors_are_openai_shaped(client: httpx.Client, path: str, body: dict, status: int, needle: str) -> None:
    response = client.post(path, json=body)
    assert response.status_code == status
    assert needle in check_error(response.json())["message"]


def test_invalid_json(client: httpx.Client) -> None:
    response = client.post("/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400 and "not valid JSON" in check_error(response.json())["message"]
    assert client.get("/nowhere").status_code == 404


def test_api_key(start_mock: Callable[..., MockServer]) -> None:
    server = start_mock(api_key="s3cret")
    with httpx.Client(base_url=server.url, trust_env=False) as http:
        assert http.get("/v1/health/ready").status_code == 200  # health probes need no key
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"}):
            response = http.post("/v1/chat/completions", json=CHAT, headers=headers)
            assert response.status_code == 401
            assert check_error(response.json())["type"] == "authentication_error"
            assert "s3cret" not in response.text
        good = {"Authorization": "Bearer s3cret"}
        assert http.get("/v1/models", headers=good).status_code == 200
        assert http.post("/v1/chat/completions", json=CHAT, headers=good).status_code == 200


def test_startup_delay(start_mock: Callable[..., MockServer]) -> None:
    server = start_mock(startup_delay=0.3)
    with httpx.Client(base_url=server.url, trust_env=False) as http:
        assert http.get("/v1/health/ready").status_code == 503
        assert http.get("/v1/health/live").status_code == 200
        not_ready = http.post("/v1/chat/completions", json=CHAT)
        assert not_ready.status_code == 503 and check_error(not_ready.json())["code"] == "model_not_ready"
        wait_until(lambda: http.get("/v1/health/ready").status_code == 200, timeout=5)
        assert http.post("/v1/chat/completions", json=CHAT).status_code == 200


def test_token_latency(start_mock: Callable[..., MockServer]) -> None:
    server = start_mock(token_latency=0.01)
    with httpx.Client(base_url=server.url, trust_env=False) as http:
        started = time.perf_counter()
        answer = http.post("/v1/chat/completions", json={**CHAT, "max_tokens": 10}).json()
        assert answer["usage"]["completion_tokens"] == 10
        assert time.perf_counter() - started >= 0.1
        started = time.perf_counter()
        with http.stream("POST", "/v1/chat/completions", json={**CHAT, "max_tokens": 10, "stream": True}) as stream:
            first_text_at = None
            for line in stream.iter_lines():
                if line.startswith("data: {") and json.loads(line[6:])["choices"][0]["delta"].get("content"):
                    first_text_at = first_text_at or time.perf_counter() - started
        total = time.perf_counter() - started
    assert 0.01 <= first_text_at < total and total >= 0.1


def test_serves_many_concurrent_streams(mock_server: MockServer) -> None:
    errors: list[str] = []

    def one() -> None:
        with httpx.Client(base_url=mock_server.url, trust_env=False, timeout=10) as http:
            for _ in range(2):
                with http.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as response:
                    try:
                        check_chat_chunks(parse_sse(response.read().decode()))
                    except AssertionError as err:
                        errors.append(str(err))

    threads = [threading.Thread(target=one) for _ in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_loopback_only_unless_allowed() -> None:
    with pytest.raises(MockServerError, match="--allow-remote"):
        make_server(host="0.0.0.0", port=0)
    with pytest.raises(MockServerError, match="loopback only"):
        make_server(host="192.0.2.1", port=0)


def test_cli_process_starts_and_stops_on_sigterm() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "MODEL_PORT": str(port), "NIMCTL_MOCK_API_KEY": "k1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "nimctl.offline.mock_server", "--served-model-name", "cli-model"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=2) as http:

            def ready() -> bool:
                try:
                    return http.get("/v1/health/ready").status_code == 200
                except httpx.TransportError:
                    return False

            wait_until(ready, timeout=60, interval=0.01)  # guards a hang, not speed
            models = http.get("/v1/models", headers={"Authorization": "Bearer k1"}).json()
            assert check_models(models) == ["cli-model"]
            assert http.get("/v1/models").status_code == 401
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
        output = process.stdout.read()
        assert f"serving 'cli-model' on http://127.0.0.1:{port}/v1" in output and "API key required" in output
        assert "k1" not in output
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_cli_refuses_remote_host_with_a_clear_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "nimctl.offline.mock_server", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 2
    assert "loopback only" in result.stderr and "Traceback" not in result.stderr
