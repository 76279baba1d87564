"""nimctl.offline.mock_openai: pure payload builders shared by the emulator and the local mock server."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nimctl.offline import mock_openai as mo
from tests.support.openai_shapes import (
    check_chat_chunks,
    check_chat_completion,
    check_completion,
    check_completion_chunks,
    check_error,
    check_models,
    parse_sse,
)

MODEL = "meta/llama-3.1-8b-instruct"


def chat(content="Hello there", **extra):
    return {
        "model": MODEL,
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": content}],
        **extra,
    }


def test_models_payload():
    assert check_models(mo.models_payload(MODEL)) == [MODEL]


def test_chat_completion_is_deterministic_and_says_it_is_a_mock():
    first, second = mo.chat_completion(MODEL, chat()), mo.chat_completion(MODEL, chat())
    text = check_chat_completion(first)
    assert "mock" in text and "Hello there" in text and MODEL in text
    assert first["choices"] == second["choices"] and first["id"] == second["id"]
    assert first["usage"]["prompt_tokens"] == len(["Be", "brief.", "Hello", "there"])
    assert first["usage"]["completion_tokens"] == len(text.split())
    assert mo.http_status(first) == 200


def test_max_tokens_truncates_with_finish_reason_length():
    payload = mo.chat_completion(MODEL, chat(max_tokens=3))
    assert payload["choices"][0]["finish_reason"] == "length"
    assert payload["usage"]["completion_tokens"] == 3
    assert mo.chat_completion(MODEL, chat(max_completion_tokens=2))["usage"]["completion_tokens"] == 2


def test_n_choices_and_content_parts():
    payload = mo.chat_completion(
        MODEL, chat([{"type": "text", "text": "part one"}, {"type": "image_url", "image_url": {"url": "x"}}], n=3)
    )
    assert [c["index"] for c in payload["choices"]] == [0, 1, 2]
    assert "part one" in check_chat_completion(payload)


def test_completion_shapes():
    text = check_completion(mo.completion(MODEL, {"model": MODEL, "prompt": "Once upon a time"}))
    assert "Once upon a time" in text
    multi = mo.completion(MODEL, {"model": MODEL, "prompt": ["a b", "c"], "n": 2})
    assert [c["index"] for c in multi["choices"]] == [0, 1, 2, 3]
    assert multi["usage"]["prompt_tokens"] == 3
    tokens = mo.completion(MODEL, {"model": MODEL, "prompt": [1, 2, 3], "max_tokens": 1})
    assert tokens["choices"][0]["finish_reason"] == "length"
    echoed = mo.completion(MODEL, {"model": MODEL, "prompt": "Echo me.", "echo": True})
    assert echoed["choices"][0]["text"].startswith("Echo me.")


def test_chat_stream_matches_the_non_streamed_answer():
    request = chat(stream=True, stream_options={"include_usage": True})
    chunks = parse_sse("".join(mo.sse_stream(mo.chat_stream_chunks(MODEL, request))))
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert check_chat_chunks(chunks) == check_chat_completion(mo.chat_completion(MODEL, chat()))
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
    without_usage = list(mo.chat_stream_chunks(MODEL, chat(stream=True)))
    assert all("usage" not in c for c in without_usage)


def test_completion_stream():
    request = {"model": MODEL, "prompt": "Say hi", "stream": True, "max_tokens": 4}
    chunks = parse_sse("".join(mo.sse_stream(mo.completion_stream_chunks(MODEL, request))))
    assert len(check_completion_chunks(chunks).split()) == 4


@pytest.mark.parametrize(
    ("request_", "param", "status"),
    [
        ({"model": "other", "messages": [{"role": "user", "content": "x"}]}, "model", 404),
        ({"messages": [{"role": "user", "content": "x"}]}, "model", 400),
        ({"model": MODEL, "messages": []}, "messages", 400),
        ({"model": MODEL, "messages": [{"role": "robot", "content": "x"}]}, "messages", 400),
        ({"model": MODEL, "messages": [{"role": "user", "content": 5}]}, "messages", 400),
        ({"model": MODEL, "messages": [{"role": "user", "content": "x"}], "max_tokens": 0}, "max_tokens", 400),
        ({"model": MODEL, "messages": [{"role": "user", "content": "x"}], "temperature": 3}, "temperature", 400),
        ({"model": MODEL, "messages": [{"role": "user", "content": "x"}], "n": 99}, "n", 400),
        ({"model": MODEL, "messages": [{"role": "user", "content": "x"}], "stream": "yes"}, "stream", 400),
    ],
)
def test_chat_validation_errors(request_, param, status):
    payload = mo.chat_completion(MODEL, request_)
    assert check_error(payload)["param"] == param
    assert mo.http_status(payload) == status
    with pytest.raises(ValueError):
        list(mo.chat_stream_chunks(MODEL, request_))


def test_completion_validation_errors():
    for bad in ({"model": MODEL}, {"model": MODEL, "prompt": 5}, {"model": MODEL, "prompt": []}, "text"):
        payload = mo.completion(MODEL, bad)
        check_error(payload)
        assert mo.http_status(payload) == 400


def test_status_helpers():
    assert mo.http_status(mo.unauthorized_payload()) == 401
    assert mo.http_status(mo.not_ready_payload(MODEL)) == 503
    assert mo.health_payload(True)["message"] == "Service is ready."


def test_import_is_stdlib_only():
    # What makes the import fast is what it imports (exact); its time is not asserted here.
    code = (
        "import sys; import nimctl.offline.mock_openai; "
        "heavy = {'fastapi', 'starlette', 'uvicorn', 'leptonai', 'httpx', 'requests', 'pydantic'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
