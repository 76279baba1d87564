"""The emulator starts, speaks HTTP on loopback, and stops cleanly."""

from __future__ import annotations

import requests

from nimctl.offline.emulator.server import EmulatorOptions, EmulatorServer


def test_starts_on_loopback_and_stops():
    server = EmulatorServer(EmulatorOptions(workspace_id="wsx", token="t0k")).start()
    try:
        assert server.url.startswith("http://127.0.0.1:")
        assert server.url.endswith("/api/v2/workspaces/wsx")
        assert server.env() == {
            "LEPTON_WORKSPACE_ID": "wsx",
            "LEPTON_WORKSPACE_TOKEN": "t0k",
            "LEPTON_WORKSPACE_URL": server.url,
        }
        reply = requests.get(server.url + "/workspace", headers={"Authorization": "Bearer t0k"}, timeout=5)
        assert reply.status_code == 200
        assert reply.json()["features"]["enable_new_deployment_api"] is False
    finally:
        server.stop()
    try:
        requests.get(server.url + "/workspace", timeout=1)
    except requests.ConnectionError:
        pass
    else:
        raise AssertionError("the emulator still answers after stop()")


def test_random_token_per_instance_and_context_manager():
    with EmulatorServer() as first, EmulatorServer() as second:
        assert first.token != second.token
        assert first.port != second.port


def test_fixture_env_points_the_sdk_at_the_emulator(emulator_env):
    from leptonai.api.v2.client import APIClient

    client = APIClient()
    assert client.url == emulator_env.url
    assert client.info().workspace_state.value == "normal"
    assert emulator_env.requests[-1].route == "/workspace"
