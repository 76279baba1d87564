"""The OpenAI-compatible mock behind each endpoint's external_endpoint."""

from __future__ import annotations

import requests
from leptonai.api.v2.types.secret import SecretItem

from tests.support.emulator import client_for, endpoint_model
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

TOKEN = {"Authorization": "Bearer endpoint-token"}


def _deploy(emulator, name, **kwargs):
    client = client_for(emulator)
    client.deployment.create(endpoint_model(name, **kwargs))
    return client.deployment.get(name).status.endpoint.external_endpoint


def _ready(url, headers=TOKEN):
    return requests.get(f"{url}/v1/health/ready", headers=headers, timeout=5).status_code == 200


def test_503_until_ready_then_serves_the_model(emulator):
    emulator.configure(ready_after=0.3)
    url = _deploy(emulator, "llm", envs=[{"name": "SERVED_MODEL_NAME", "value": "meta/llama-3.1-8b-instruct"}])
    health = requests.get(f"{url}/v1/health/ready", headers=TOKEN, timeout=5)
    assert health.status_code == 503
    not_ready = requests.get(f"{url}/v1/models", headers=TOKEN, timeout=5)
    assert not_ready.status_code == 503 and check_error(not_ready.json())["code"] == "model_not_ready"

    wait_until(lambda: _ready(url))
    assert check_models(requests.get(f"{url}/v1/models", headers=TOKEN, timeout=5).json()) == [
        "meta/llama-3.1-8b-instruct"
    ]
    reply = requests.post(
        f"{url}/v1/chat/completions",
        headers=TOKEN,
        timeout=5,
        json={"model": "meta/llama-3.1-8b-instruct", "messages": [{"role": "user", "content": "ping"}]},
    )
    assert reply.status_code == 200
    assert "ping" in check_chat_completion(reply.json())
    completion = requests.post(
        f"{url}/v1/completions",
        headers=TOKEN,
        timeout=5,
        json={"model": "meta/llama-3.1-8b-instruct", "prompt": "Hello"},
    )
    assert "mock" in check_completion(completion.json())


def test_model_name_falls_back_to_the_endpoint_name(emulator):
    url = _deploy(emulator, "plain")
    wait_until(lambda: _ready(url))
    assert check_models(requests.get(f"{url}/v1/models", headers=TOKEN, timeout=5).json()) == ["plain"]
    wrong = requests.post(
        f"{url}/v1/chat/completions",
        headers=TOKEN,
        timeout=5,
        json={"model": "other", "messages": [{"role": "user", "content": "x"}]},
    )
    assert wrong.status_code == 404 and check_error(wrong.json())["code"] == "model_not_found"


def test_streaming_is_sse_ending_with_done(emulator):
    url = _deploy(emulator, "streamer", envs=[{"name": "NIM_MODEL_NAME", "value": "m"}])
    wait_until(lambda: _ready(url))
    chat = requests.post(
        f"{url}/v1/chat/completions",
        headers=TOKEN,
        timeout=5,
        stream=True,
        json={"model": "m", "messages": [{"role": "user", "content": "stream please"}], "stream": True},
    )
    assert chat.status_code == 200 and chat.headers["content-type"].startswith("text/event-stream")
    assert "stream please" in check_chat_chunks(parse_sse(chat.text))
    text = requests.post(
        f"{url}/v1/completions",
        headers=TOKEN,
        timeout=5,
        json={"model": "m", "prompt": "p", "stream": True, "max_tokens": 5},
    )
    assert len(check_completion_chunks(parse_sse(text.text)).split()) == 5


def test_literal_tokens_are_enforced(emulator):
    url = _deploy(emulator, "guarded", tokens=[{"value": "alpha"}, {"value": "beta"}])
    wait_until(lambda: _ready(url, {"Authorization": "Bearer beta"}))
    for headers in ({}, {"Authorization": "Bearer gamma"}, {"Authorization": f"Bearer {emulator.token}"}):
        reply = requests.get(f"{url}/v1/models", headers=headers, timeout=5)
        assert reply.status_code == 401 and check_error(reply.json())["type"] == "authentication_error"
    assert requests.get(f"{url}/v1/models", headers={"Authorization": "Bearer alpha"}, timeout=5).ok


def test_token_name_ref_resolves_through_secrets(emulator):
    client = client_for(emulator)
    client.secret.create([SecretItem(name="ep-token", value="from-secret")])
    url = _deploy(emulator, "refd", tokens=[{"value_from": {"token_name_ref": "ep-token"}}])
    headers = {"Authorization": "Bearer from-secret"}
    wait_until(lambda: _ready(url, headers))
    assert requests.get(f"{url}/v1/models", headers={"Authorization": "Bearer ep-token"}, timeout=5).status_code == 401


def test_no_tokens_means_open(emulator):
    url = _deploy(emulator, "public", tokens=[])
    wait_until(lambda: _ready(url, {}))
    assert requests.get(f"{url}/v1/models", timeout=5).ok


def test_errored_deleted_and_unknown_endpoints(emulator):
    emulator.configure(error_image_pattern="broken", delete_after=0.3)
    broken = _deploy(emulator, "broken-ep", image="registry/broken:1")
    wait_until(lambda: emulator.world.deployment("broken-ep")["status"]["state"] == "Error")
    assert requests.get(f"{broken}/v1/health/ready", headers=TOKEN, timeout=5).status_code == 503

    url = _deploy(emulator, "short")
    wait_until(lambda: _ready(url))
    client_for(emulator).deployment.delete("short")
    assert requests.get(f"{url}/v1/models", headers=TOKEN, timeout=5).status_code == 503
    wait_until(lambda: emulator.world.deployment("short") is None)
    assert requests.get(f"{url}/v1/models", headers=TOKEN, timeout=5).status_code == 404
    assert requests.get(emulator.endpoint_url("never") + "/v1/models", timeout=5).status_code == 404


def test_bad_requests_get_openai_errors(emulator):
    url = _deploy(emulator, "strict")
    wait_until(lambda: _ready(url))
    not_json = requests.post(
        f"{url}/v1/chat/completions", headers={**TOKEN, "Content-Type": "application/json"}, data="{nope", timeout=5
    )
    assert not_json.status_code == 400 and check_error(not_json.json())
    bad = requests.post(f"{url}/v1/chat/completions", headers=TOKEN, json={"model": "strict"}, timeout=5)
    assert bad.status_code == 400 and check_error(bad.json())["param"] == "messages"
    unknown = requests.get(f"{url}/v1/embeddings", headers=TOKEN, timeout=5)
    assert unknown.status_code == 404
