"""Checks that payloads have what the ``openai`` Python client's response models require.

The ``openai`` package is not a dependency, so its models' required fields and literal values
are spelled out here (openai>=1: ChatCompletion, ChatCompletionChunk, Completion, Model).
"""

from __future__ import annotations

import json
from typing import Any

CHAT_FINISH = {"stop", "length", "tool_calls", "content_filter", "function_call"}
COMPLETION_FINISH = {"stop", "length", "content_filter"}


def _usage(usage: dict[str, Any]) -> None:
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        assert isinstance(usage[key], int) and usage[key] >= 0, key
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def _head(payload: dict[str, Any], object_: str) -> None:
    assert payload["object"] == object_
    assert isinstance(payload["id"], str) and payload["id"]
    assert isinstance(payload["created"], int)
    assert isinstance(payload["model"], str)
    assert isinstance(payload["choices"], list)


def check_models(payload: dict[str, Any]) -> list[str]:
    assert payload["object"] == "list"
    for model in payload["data"]:
        assert model["object"] == "model" and isinstance(model["id"], str)
        assert isinstance(model["created"], int) and isinstance(model["owned_by"], str)
    return [m["id"] for m in payload["data"]]


def check_chat_completion(payload: dict[str, Any]) -> str:
    _head(payload, "chat.completion")
    assert payload["choices"]
    for choice in payload["choices"]:
        assert isinstance(choice["index"], int) and choice["finish_reason"] in CHAT_FINISH
        assert choice["message"]["role"] == "assistant" and isinstance(choice["message"]["content"], str)
    _usage(payload["usage"])
    return payload["choices"][0]["message"]["content"]


def check_completion(payload: dict[str, Any]) -> str:
    _head(payload, "text_completion")
    assert payload["choices"]
    for choice in payload["choices"]:
        assert isinstance(choice["index"], int) and choice["finish_reason"] in COMPLETION_FINISH
        assert isinstance(choice["text"], str)
    _usage(payload["usage"])
    return payload["choices"][0]["text"]


def check_error(payload: dict[str, Any]) -> dict[str, Any]:
    error = payload["error"]
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str)
    assert "code" in error
    return error


def parse_sse(text: str) -> list[dict[str, Any]]:
    """The JSON chunks of an SSE body; asserts it is well formed and ends with ``data: [DONE]``."""
    events = [block for block in text.split("\n\n") if block]
    assert events and events[-1] == "data: [DONE]", events[-1:]
    chunks = []
    for block in events[:-1]:
        assert block.startswith("data: "), block
        chunks.append(json.loads(block[len("data: ") :]))
    return chunks


def check_chat_chunks(chunks: list[dict[str, Any]]) -> str:
    """The text a streamed chat answer spells out (choice 0)."""
    text, finishes = "", []
    for chunk in chunks:
        assert chunk["object"] == "chat.completion.chunk" and isinstance(chunk["created"], int)
        for choice in chunk["choices"]:
            assert isinstance(choice["index"], int) and "delta" in choice
            if choice["index"] == 0:
                text += choice["delta"].get("content") or ""
            if choice.get("finish_reason") is not None:
                assert choice["finish_reason"] in CHAT_FINISH
                finishes.append(choice["finish_reason"])
    assert finishes, "no chunk carries a finish_reason"
    return text


def check_completion_chunks(chunks: list[dict[str, Any]]) -> str:
    text, finishes = "", []
    for chunk in chunks:
        assert chunk["object"] == "text_completion"
        for choice in chunk["choices"]:
            if choice["index"] == 0:
                text += choice["text"]
            if choice.get("finish_reason") is not None:
                finishes.append(choice["finish_reason"])
    assert finishes and set(finishes) <= COMPLETION_FINISH
    return text
