"""``nimctl.smoke``: does the endpoint answer like an OpenAI-compatible server for its model?

Checks, each passing or failing on its own (results schema: see ``nimctl.builtin_tasks.common``):

    models             GET /v1/models lists the served model
    chat               POST /v1/chat/completions: a well-formed chat.completion naming the model
    completion         POST /v1/completions: a well-formed text_completion naming the model
    chat_stream        the same chat request streamed: chat.completion.chunk events, then [DONE]
    completion_stream  the same for completions

Params (NIMCTL_TASK_PARAMS): ``checks`` (names to run, default all; drop ``completion`` and
``completion_stream`` for chat-only servers), ``max_tokens`` (16), ``timeout_s`` (60), ``prompt``.
The task passes when every check it ran passed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from nimctl.builtin_tasks.common import (
    TaskConfigError,
    TaskEnv,
    http_problem,
    iter_sse,
    make_client,
    merge_params,
    number_param,
    run_task,
)

if TYPE_CHECKING:  # pragma: no cover
    import httpx

TASK = "nimctl.smoke"
CHECKS = ("models", "chat", "completion", "chat_stream", "completion_stream")
DEFAULTS: dict[str, Any] = {
    "checks": list(CHECKS),
    "max_tokens": 16,
    "timeout_s": 60.0,
    "prompt": "Say hello in one short sentence.",
}
FINISH_REASONS = ("stop", "length", "tool_calls", "content_filter", "function_call", None)


class CheckFailed(Exception):
    """One check's verdict: the message says what was wrong."""


# ---------------------------------------------------------------- shape checks


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def check_usage(usage: Any) -> None:
    if usage is None:
        return  # optional in the OpenAI API
    _require(isinstance(usage, dict), "usage is not an object")
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        _require(isinstance(usage.get(key), int) and usage[key] >= 0, f"usage.{key} is not a count")
    _require(
        usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"],
        "usage.total_tokens is not prompt_tokens + completion_tokens",
    )


def check_envelope(payload: Any, obj: str, model: str) -> list[dict[str, Any]]:
    """The fields every completion object has; returns its choices."""
    _require(isinstance(payload, dict), "the answer is not a JSON object")
    _require(payload.get("object") == obj, f"object is {payload.get('object')!r}, expected {obj!r}")
    _require(isinstance(payload.get("id"), str) and bool(payload["id"]), "id is missing")
    _require(isinstance(payload.get("created"), int), "created is not an integer timestamp")
    _require(payload.get("model") == model, f"model is {payload.get('model')!r}, expected {model!r}")
    choices = payload.get("choices")
    _require(isinstance(choices, list), "choices is not a list")
    for choice in choices:
        _require(isinstance(choice, dict) and isinstance(choice.get("index"), int), "a choice has no index")
        _require(
            choice.get("finish_reason") in FINISH_REASONS, f"unknown finish_reason {choice.get('finish_reason')!r}"
        )
    return choices


def check_chat_completion(payload: Any, model: str) -> str:
    choices = check_envelope(payload, "chat.completion", model)
    _require(len(choices) >= 1, "no choices")
    message = choices[0].get("message")
    _require(
        isinstance(message, dict) and message.get("role") == "assistant",
        "choices[0].message is not an assistant message",
    )
    assert isinstance(message, dict)  # checked just above; this narrows the type
    content = message.get("content")
    _require(isinstance(content, str) and content.strip() != "", "choices[0].message.content is empty")
    _require(choices[0].get("finish_reason") is not None, "choices[0].finish_reason is missing")
    check_usage(payload.get("usage"))
    return str(content)


def check_text_completion(payload: Any, model: str) -> str:
    choices = check_envelope(payload, "text_completion", model)
    _require(len(choices) >= 1, "no choices")
    text = choices[0].get("text")
    _require(isinstance(text, str) and text.strip() != "", "choices[0].text is empty")
    _require(choices[0].get("finish_reason") is not None, "choices[0].finish_reason is missing")
    check_usage(payload.get("usage"))
    return str(text)


def check_stream(events: list[Any], obj: str, model: str, chat: bool) -> str:
    """A streamed answer: chunk objects naming the model, text pieces, a finish, then [DONE]."""
    _require(bool(events) and events[-1] == "[DONE]", "the stream did not end with 'data: [DONE]'")
    chunks = events[:-1]
    _require(bool(chunks), "the stream carried no chunks")
    pieces, finished = [], False
    for chunk in chunks:
        choices = check_envelope(chunk, obj, model)
        for choice in choices:
            if chat:
                delta = choice.get("delta")
                _require(isinstance(delta, dict), "a chunk's choice has no delta")
                assert isinstance(delta, dict)  # checked just above; this narrows the type
                piece = delta.get("content")
            else:
                piece = choice.get("text")
            _require(piece is None or isinstance(piece, str), "a chunk's text is not a string")
            pieces.append(piece or "")
            finished = finished or choice.get("finish_reason") is not None
        check_usage(chunk.get("usage"))
    text = "".join(pieces)
    _require(text.strip() != "", "the streamed text is empty")
    _require(finished, "no chunk carried a finish_reason")
    return text


# ---------------------------------------------------------------- the checks


def _post(client: httpx.Client, env: TaskEnv, path: str, body: dict[str, Any]) -> Any:
    response = client.post(path, json=body)
    _require(response.status_code == 200, f"POST {path}: {http_problem(response, env)}")
    try:
        return response.json()
    except ValueError:
        raise CheckFailed(f"POST {path}: the answer is not JSON") from None


def _stream(client: httpx.Client, env: TaskEnv, path: str, body: dict[str, Any]) -> list[Any]:
    with client.stream("POST", path, json={**body, "stream": True}) as response:
        _require(response.status_code == 200, f"POST {path} (stream): {http_problem(response, env)}")
        kind = response.headers.get("content-type", "")
        _require(kind.startswith("text/event-stream"), f"content-type is {kind!r}, not text/event-stream")
        try:
            return list(iter_sse(response.iter_lines()))
        except ValueError as err:
            raise CheckFailed(f"a server-sent event is not JSON: {err}") from None


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= 80 else text[:77] + "...")


def check_models(client: httpx.Client, env: TaskEnv, params: dict[str, Any]) -> str:
    response = client.get("/v1/models")
    _require(response.status_code == 200, f"GET /v1/models: {http_problem(response, env)}")
    payload = response.json()
    _require(isinstance(payload, dict) and isinstance(payload.get("data"), list), "data is not a list")
    ids = [m.get("id") for m in payload["data"] if isinstance(m, dict)]
    _require(env.model_id in ids, f"{env.model_id!r} is not listed (the server lists {ids})")
    return f"lists {env.model_id!r}" + (f" among {len(ids)} models" if len(ids) > 1 else "")


def _chat_body(env: TaskEnv, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": env.model_id,
        "messages": [{"role": "user", "content": params["prompt"]}],
        "max_tokens": params["max_tokens"],
        "temperature": 0,
    }


def _completion_body(env: TaskEnv, params: dict[str, Any]) -> dict[str, Any]:
    return {"model": env.model_id, "prompt": params["prompt"], "max_tokens": params["max_tokens"], "temperature": 0}


def check_chat(client: httpx.Client, env: TaskEnv, params: dict[str, Any]) -> str:
    content = check_chat_completion(_post(client, env, "/v1/chat/completions", _chat_body(env, params)), env.model_id)
    return f"answered {_excerpt(content)}"


def check_completion(client: httpx.Client, env: TaskEnv, params: dict[str, Any]) -> str:
    text = check_text_completion(_post(client, env, "/v1/completions", _completion_body(env, params)), env.model_id)
    return f"answered {_excerpt(text)}"


def check_chat_stream(client: httpx.Client, env: TaskEnv, params: dict[str, Any]) -> str:
    events = _stream(client, env, "/v1/chat/completions", _chat_body(env, params))
    text = check_stream(events, "chat.completion.chunk", env.model_id, chat=True)
    return f"{len(events) - 1} chunks, streamed {_excerpt(text)}"


def check_completion_stream(client: httpx.Client, env: TaskEnv, params: dict[str, Any]) -> str:
    events = _stream(client, env, "/v1/completions", _completion_body(env, params))
    text = check_stream(events, "text_completion", env.model_id, chat=False)
    return f"{len(events) - 1} chunks, streamed {_excerpt(text)}"


CHECK_FUNCTIONS: dict[str, Callable[[Any, TaskEnv, dict[str, Any]], str]] = {
    "models": check_models,
    "chat": check_chat,
    "completion": check_completion,
    "chat_stream": check_chat_stream,
    "completion_stream": check_completion_stream,
}


def run_check(name: str, client: httpx.Client, env: TaskEnv, params: dict[str, Any]) -> dict[str, Any]:
    import httpx

    clock = time.monotonic()
    try:
        detail, passed = CHECK_FUNCTIONS[name](client, env, params), True
    except CheckFailed as err:
        detail, passed = str(err), False
    except httpx.HTTPError as err:
        detail, passed = f"request failed: {type(err).__name__}: {err}", False
    except ValueError as err:  # a body that is not JSON
        detail, passed = f"bad answer: {err}", False
    return {"name": name, "passed": passed, "detail": detail, "duration_s": round(time.monotonic() - clock, 4)}


def resolve_params(given: dict[str, Any]) -> dict[str, Any]:
    params = merge_params(TASK, given, DEFAULTS)
    checks = params["checks"]
    if not isinstance(checks, list) or not checks or not all(c in CHECKS for c in checks):
        raise TaskConfigError(f"param checks must be a non-empty list of: {', '.join(CHECKS)}; got {checks!r}")
    params["max_tokens"] = number_param(params, "max_tokens", minimum=1, integer=True)
    params["timeout_s"] = number_param(params, "timeout_s", minimum=0.1)
    if not isinstance(params["prompt"], str) or not params["prompt"].strip():
        raise TaskConfigError("param prompt must be a non-empty string")
    return params


def smoke(env: TaskEnv) -> dict[str, Any]:
    params = resolve_params(env.params)
    with make_client(env, params["timeout_s"]) as client:
        checks = [run_check(name, client, env, params) for name in params["checks"]]
    passed = sum(c["passed"] for c in checks)
    failed = [c["name"] for c in checks if not c["passed"]]
    summary = f"{passed}/{len(checks)} checks passed" + (f" (failed: {', '.join(failed)})" if failed else "")
    return {"passed": not failed, "summary": summary, "params": params, "checks": checks}


def main() -> int:
    return run_task(TASK, smoke)


if __name__ == "__main__":
    sys.exit(main())
