"""OpenAI-compatible response payloads for nimctl's mock model servers (stdlib only).

Pure functions shared by the Lepton emulator (the mock behind each endpoint URL) and the
local mock server. Answers are deterministic for a given request, say that they come from a
mock, and carry ``usage`` token counts (one token per whitespace-separated word) so
throughput measurements have something to count.

Invalid requests get OpenAI-style error payloads ``{"error": {"message", "type", "param",
"code"}}``; :func:`http_status` gives the HTTP status to send with any payload.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any

MOCK_OWNER = "nimctl-mock"
MAX_MODEL_LEN = 4096
MAX_CHOICES = 8
_ECHO_LIMIT = 200  # characters of the prompt quoted back in an answer
_ROLES = ("system", "user", "assistant", "tool", "developer", "function")

SSE_DONE = "data: [DONE]\n\n"

_STATUS_BY_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "not_found_error": 404,
    "service_unavailable_error": 503,
}


# ---------------------------------------------------------------- errors and status


def error_payload(
    message: str, *, type_: str = "invalid_request_error", param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """An OpenAI-style error body."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def http_status(payload: dict[str, Any]) -> int:
    """The HTTP status for a payload built by this module (200 unless it is an error)."""
    error = payload.get("error")
    if not isinstance(error, dict):
        return 200
    return _STATUS_BY_TYPE.get(str(error.get("type")), 400)


def unauthorized_payload() -> dict[str, Any]:
    return error_payload(
        "Missing or invalid API key. Send it as 'Authorization: Bearer <key>'.",
        type_="authentication_error",
        code="invalid_api_key",
    )


def not_ready_payload(model_id: str) -> dict[str, Any]:
    return error_payload(
        f"Model {model_id!r} is not ready yet; retry later.", type_="service_unavailable_error", code="model_not_ready"
    )


def health_payload(ready: bool) -> dict[str, Any]:
    """What ``GET /v1/health/ready`` returns (send with 200 when ready, 503 otherwise)."""
    message = "Service is ready." if ready else "Service is not ready."
    return {"object": "health.response", "message": message}


# ---------------------------------------------------------------- /v1/models


def models_payload(model_id: str, created: int | None = None) -> dict[str, Any]:
    """``GET /v1/models``: a list holding the one served model."""
    return {
        "object": "list",
        "data": [
            {
                "id": model_id,
                "object": "model",
                "created": int(time.time()) if created is None else created,
                "owned_by": MOCK_OWNER,
                "root": model_id,
                "parent": None,
                "max_model_len": MAX_MODEL_LEN,
                "permission": [],
            }
        ],
    }


# ---------------------------------------------------------------- validation


def _check_model(model_id: str, request: dict[str, Any]) -> dict[str, Any] | None:
    model = request.get("model")
    if not isinstance(model, str) or not model:
        return error_payload("'model' is required and must be a string.", param="model")
    if model != model_id:
        return error_payload(
            f"The model '{model}' does not exist; this server serves '{model_id}'.",
            type_="not_found_error",
            param="model",
            code="model_not_found",
        )
    return None


def _check_sampling(request: dict[str, Any]) -> dict[str, Any] | None:
    for key in ("max_tokens", "max_completion_tokens"):
        value = request.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            return error_payload(f"'{key}' must be a positive integer, got {value!r}.", param=key)
    temperature = request.get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2
    ):
        return error_payload(
            f"'temperature' must be a number between 0 and 2, got {temperature!r}.", param="temperature"
        )
    top_p = request.get("top_p")
    if top_p is not None and (isinstance(top_p, bool) or not isinstance(top_p, (int, float)) or not 0 <= top_p <= 1):
        return error_payload(f"'top_p' must be a number between 0 and 1, got {top_p!r}.", param="top_p")
    n = request.get("n", 1)
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_CHOICES):
        return error_payload(f"'n' must be an integer between 1 and {MAX_CHOICES}, got {n!r}.", param="n")
    stream = request.get("stream")
    if stream is not None and not isinstance(stream, bool):
        return error_payload(f"'stream' must be a boolean, got {stream!r}.", param="stream")
    return None


def _message_text(content: Any) -> str | None:
    """The text of a message's content: a string, or a list of parts with text parts."""
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, dict) or "type" not in part:
                return None
            if part["type"] == "text":
                if not isinstance(part.get("text"), str):
                    return None
                texts.append(part["text"])
        return " ".join(texts)
    return None


def validate_chat_request(model_id: str, request: Any) -> dict[str, Any] | None:
    """The error payload for an invalid ``/v1/chat/completions`` body, else None."""
    if not isinstance(request, dict):
        return error_payload("The request body must be a JSON object.")
    problem = _check_model(model_id, request) or _check_sampling(request)
    if problem:
        return problem
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        return error_payload("'messages' must be a non-empty list.", param="messages")
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            return error_payload(f"messages[{index}] must be an object.", param="messages")
        if message.get("role") not in _ROLES:
            return error_payload(f"messages[{index}].role must be one of {', '.join(_ROLES)}.", param="messages")
        if _message_text(message.get("content")) is None:
            return error_payload(
                f"messages[{index}].content must be a string or a list of content parts.", param="messages"
            )
    return None


def _prompt_texts(prompt: Any) -> list[str] | None:
    """A completion prompt as texts: a string, a list of strings, or token id list(s)."""
    if isinstance(prompt, str):
        return [prompt]
    if isinstance(prompt, list) and prompt:
        if all(isinstance(item, str) for item in prompt):
            return list(prompt)
        if all(isinstance(item, int) and not isinstance(item, bool) for item in prompt):
            return [" ".join(str(token) for token in prompt)]
        if all(isinstance(item, list) and item and all(isinstance(t, int) for t in item) for item in prompt):
            return [" ".join(str(token) for token in item) for item in prompt]
    return None


def validate_completion_request(model_id: str, request: Any) -> dict[str, Any] | None:
    """The error payload for an invalid ``/v1/completions`` body, else None."""
    if not isinstance(request, dict):
        return error_payload("The request body must be a JSON object.")
    problem = _check_model(model_id, request) or _check_sampling(request)
    if problem:
        return problem
    if _prompt_texts(request.get("prompt")) is None:
        return error_payload("'prompt' must be a string, a list of strings, or token ids.", param="prompt")
    return None


# ---------------------------------------------------------------- answers


def count_tokens(text: str) -> int:
    """The mock's tokenizer: one token per whitespace-separated word."""
    return len(text.split())


def _request_id(prefix: str, request: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()
    return f"{prefix}-{digest[:24]}"


def _answer_words(model_id: str, prompt: str, choice_index: int) -> list[str]:
    quoted = " ".join(prompt.split())
    if len(quoted) > _ECHO_LIMIT:
        quoted = quoted[:_ECHO_LIMIT].rstrip() + "..."
    text = f"This is a mock response from {model_id}, served by nimctl's mock server."
    if choice_index:
        text += f" (choice {choice_index})"
    if quoted:
        text += f" You said: {quoted}"
    return text.split()


def _limit(request: dict[str, Any]) -> int | None:
    limit = request.get("max_completion_tokens")
    return limit if limit is not None else request.get("max_tokens")


def _answer(model_id: str, prompt: str, request: dict[str, Any], index: int) -> tuple[str, str]:
    """(text, finish_reason) for one choice, cut to the request's token limit."""
    words = _answer_words(model_id, prompt, index)
    limit = _limit(request)
    if limit is not None and len(words) > limit:
        return " ".join(words[:limit]), "length"
    return " ".join(words), "stop"


def _chat_prompt(request: dict[str, Any]) -> tuple[str, str]:
    """(last user text, all message text) of a validated chat request."""
    texts = [_message_text(m.get("content")) or "" for m in request["messages"]]
    user_texts = [_message_text(m.get("content")) or "" for m in request["messages"] if m["role"] == "user"]
    return (user_texts[-1] if user_texts else texts[-1]), " ".join(texts)


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def chat_completion(model_id: str, request: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/chat/completions`` (non-streaming): a chat.completion or an error payload."""
    problem = validate_chat_request(model_id, request)
    if problem:
        return problem
    last_user, all_text = _chat_prompt(request)
    choices, completion_tokens = [], 0
    for index in range(request.get("n") or 1):
        text, finish = _answer(model_id, last_user, request, index)
        completion_tokens += count_tokens(text)
        choices.append(
            {
                "index": index,
                "message": {"role": "assistant", "content": text},
                "logprobs": None,
                "finish_reason": finish,
            }
        )
    return {
        "id": _request_id("chatcmpl", request),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model_id,
        "choices": choices,
        "usage": _usage(count_tokens(all_text), completion_tokens),
        "system_fingerprint": MOCK_OWNER,
    }


def completion(model_id: str, request: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/completions`` (non-streaming): a text_completion or an error payload."""
    problem = validate_completion_request(model_id, request)
    if problem:
        return problem
    prompts = _prompt_texts(request["prompt"]) or []
    choices, completion_tokens = [], 0
    per_prompt = request.get("n") or 1
    for prompt_index, prompt in enumerate(prompts):
        for n_index in range(per_prompt):
            text, finish = _answer(model_id, prompt, request, n_index)
            if request.get("echo"):
                text = prompt + text
            completion_tokens += count_tokens(text)
            choices.append(
                {"index": prompt_index * per_prompt + n_index, "text": text, "logprobs": None, "finish_reason": finish}
            )
    return {
        "id": _request_id("cmpl", request),
        "object": "text_completion",
        "created": int(time.time()),
        "model": model_id,
        "choices": choices,
        "usage": _usage(sum(count_tokens(p) for p in prompts), completion_tokens),
        "system_fingerprint": MOCK_OWNER,
    }


def _wants_usage(request: dict[str, Any]) -> bool:
    options = request.get("stream_options")
    return isinstance(options, dict) and bool(options.get("include_usage"))


def chat_stream_chunks(model_id: str, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """``chat.completion.chunk`` objects for a streamed chat answer (one word per chunk).

    The request must have passed :func:`validate_chat_request` (``ValueError`` otherwise).
    With ``stream_options.include_usage`` a last chunk with empty choices carries ``usage``.
    """
    problem = validate_chat_request(model_id, request)
    if problem:
        raise ValueError(problem["error"]["message"])
    last_user, all_text = _chat_prompt(request)
    base = {
        "id": _request_id("chatcmpl", request),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model_id,
        "system_fingerprint": MOCK_OWNER,
    }
    completion_tokens = 0
    for index in range(request.get("n") or 1):
        text, finish = _answer(model_id, last_user, request, index)
        completion_tokens += count_tokens(text)
        yield {
            **base,
            "choices": [
                {"index": index, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None}
            ],
        }
        for position, word in enumerate(text.split()):
            piece = word if position == 0 else " " + word
            yield {
                **base,
                "choices": [{"index": index, "delta": {"content": piece}, "logprobs": None, "finish_reason": None}],
            }
        yield {**base, "choices": [{"index": index, "delta": {}, "logprobs": None, "finish_reason": finish}]}
    if _wants_usage(request):
        yield {**base, "choices": [], "usage": _usage(count_tokens(all_text), completion_tokens)}


def completion_stream_chunks(model_id: str, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """``text_completion`` chunks for a streamed completion (one word per chunk).

    The request must have passed :func:`validate_completion_request` (``ValueError`` otherwise).
    """
    problem = validate_completion_request(model_id, request)
    if problem:
        raise ValueError(problem["error"]["message"])
    prompts = _prompt_texts(request["prompt"]) or []
    base = {
        "id": _request_id("cmpl", request),
        "object": "text_completion",
        "created": int(time.time()),
        "model": model_id,
        "system_fingerprint": MOCK_OWNER,
    }
    per_prompt = request.get("n") or 1
    completion_tokens = 0
    for prompt_index, prompt in enumerate(prompts):
        for n_index in range(per_prompt):
            index = prompt_index * per_prompt + n_index
            text, finish = _answer(model_id, prompt, request, n_index)
            completion_tokens += count_tokens(text)
            for position, word in enumerate(text.split()):
                piece = word if position == 0 else " " + word
                yield {**base, "choices": [{"index": index, "text": piece, "logprobs": None, "finish_reason": None}]}
            yield {**base, "choices": [{"index": index, "text": "", "logprobs": None, "finish_reason": finish}]}
    if _wants_usage(request):
        yield {**base, "choices": [], "usage": _usage(sum(count_tokens(p) for p in prompts), completion_tokens)}


def sse_event(payload: dict[str, Any]) -> str:
    """One server-sent event line for a chunk (end the stream with :data:`SSE_DONE`)."""
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n"


def sse_stream(chunks: Iterator[dict[str, Any]]) -> Iterator[str]:
    """Server-sent events for chunks, ending with ``data: [DONE]``."""
    for chunk in chunks:
        yield sse_event(chunk)
    yield SSE_DONE
