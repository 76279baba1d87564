"""The local provider's endpoints: real processes (nimctl's mock server), real ports, real signals."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from nimctl.providers.base import Conflict, NotFound, Provider, Rejected, ResourceState
from nimctl.providers.local.proc import group_members, proc_stat
from nimctl.providers.local.provider import UPDATABLE_ENDPOINT_FIELDS, LocalProvider
from nimctl.providers.local.specs import MASK
from tests.support.local import MODEL, endpoint_spec, pid_alive
from tests.support.polling import wait_until


def ready(provider: LocalProvider, name: str):
    return wait_until(lambda: (info := provider.get_endpoint(name)).state is ResourceState.READY and info)


def server_pid(runner_pid: int) -> int:
    """The model server process: the member of the runner's group that is not the runner."""
    return wait_until(lambda: next((p for p in group_members(runner_pid) if p != runner_pid), None))


def test_provider_protocol(provider: LocalProvider) -> None:
    assert isinstance(provider, Provider)
    assert provider.name == "local"
    assert not UPDATABLE_ENDPOINT_FIELDS


def test_lifecycle_create_ready_delete_leaves_no_process(provider: LocalProvider, state_dir: Path) -> None:
    info = provider.create_endpoint("ep1", endpoint_spec())
    assert info.state in (ResourceState.PENDING, ResourceState.READY)
    port = info.extra["port"]
    assert info.url == f"http://127.0.0.1:{port}"
    runner = info.extra["pid"]
    assert proc_stat(runner).pgrp == runner and proc_stat(runner).session == runner  # own session

    info = ready(provider, "ep1")
    assert info.platform_state == "Ready" and info.ready_replicas == 1
    with urllib.request.urlopen(f"{info.url}/v1/models", timeout=5) as response:
        assert json.load(response)["data"][0]["id"] == MODEL
    assert [e.name for e in provider.list_endpoints()] == ["ep1"]
    server = server_pid(runner)
    log = provider.logs(endpoint="ep1")
    assert any("nimctl mock server: serving" in line for line in log)

    provider.delete_endpoint("ep1")
    assert not pid_alive(runner) and not pid_alive(server)
    assert group_members(runner) == []
    assert provider.list_endpoints() == []
    with pytest.raises(NotFound):
        provider.get_endpoint("ep1")
    with pytest.raises(NotFound):
        provider.delete_endpoint("ep1")
    assert not (state_dir / "local" / "endpoints" / "ep1.json").exists()


def test_port_placeholder_and_env(provider: LocalProvider, tmp_path: Path) -> None:
    out = tmp_path / "env.json"
    script = (
        "import json, os, sys, time; json.dump({k: os.environ.get(k) for k in "
        "('MODEL_PORT', 'NIM_SERVER_PORT', 'EXTRA')} | {'argv': sys.argv[1:]}, open(sys.argv[1], 'w')); "
        "time.sleep(30)"
    )
    spec = {
        "command": [sys.executable, "-c", script, str(out), "--port={port}"],
        "port": None,
        "env": {"EXTRA": "yes"},
        "health_path": "/",
    }
    info = provider.create_endpoint("envcheck", spec)
    seen = wait_until(lambda: out.exists() and out.stat().st_size and json.loads(out.read_text()))
    port = str(info.extra["port"])
    assert seen == {"MODEL_PORT": port, "NIM_SERVER_PORT": port, "EXTRA": "yes", "argv": [str(out), f"--port={port}"]}
    # Nothing listens there: alive but not healthy is "pending", not "ready".
    assert provider.get_endpoint("envcheck").state is ResourceState.PENDING


def test_same_spec_is_adopted_other_spec_conflicts(provider: LocalProvider) -> None:
    first = provider.create_endpoint("ep", endpoint_spec())
    again = provider.create_endpoint("ep", endpoint_spec())
    assert again.extra["pid"] == first.extra["pid"]
    with pytest.raises(Conflict, match="ep.*different spec"):
        provider.create_endpoint("ep", endpoint_spec("other/model"))
    with pytest.raises(Rejected, match="replace"):
        provider.update_endpoint("ep", endpoint_spec("other/model"))


def test_explicit_port_in_use_is_rejected(provider: LocalProvider) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        with pytest.raises(Rejected) as caught:
            provider.create_endpoint("busy", endpoint_spec(port=busy))
    message = str(caught.value)
    assert f"port {busy}" in message and "busy" in message and "port: auto" in message
    assert provider.list_endpoints() == []


def test_port_of_another_endpoint_is_rejected(provider: LocalProvider) -> None:
    first = provider.create_endpoint("first", endpoint_spec())
    with pytest.raises(Rejected, match=f"port {first.extra['port']} is already used by local endpoint first"):
        provider.create_endpoint("second", endpoint_spec(port=first.extra["port"]))


def test_endpoint_dying_between_calls_is_failed_then_restarted(provider: LocalProvider) -> None:
    runner = ready(provider, provider.create_endpoint("dies", endpoint_spec()).name).extra["pid"]
    os.kill(server_pid(runner), signal.SIGKILL)
    info = wait_until(lambda: (i := provider.get_endpoint("dies")).state is ResourceState.FAILED and i)
    assert info.platform_state == "Exited (signal 9)"
    assert info.extra["exit_code"] == 128 + 9
    assert "Exited (signal 9)" in provider.endpoint_events("dies")[-1]
    assert [e.state for e in provider.list_endpoints()] == [ResourceState.FAILED]

    # A new process on the next create (what the next apply does), even with the same spec.
    restarted = ready(provider, provider.create_endpoint("dies", endpoint_spec()).name)
    assert restarted.extra["pid"] != runner
    assert any("starting endpoint dies" in line for line in provider.logs(endpoint="dies"))


def test_failing_command_reports_exit_code(provider: LocalProvider) -> None:
    spec = {"command": [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"], "port": None}
    provider.create_endpoint("crash", spec)
    info = wait_until(lambda: (i := provider.get_endpoint("crash")).state is ResourceState.FAILED and i)
    assert info.platform_state == "Exited (exit code 3)"
    events = provider.endpoint_events("crash", limit=5)
    assert "boom" in events and "Exited (exit code 3) at " in events[-1]


def _spawn_sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)


def _rewrite_record(state_dir: Path, name: str, **changes) -> None:
    path = state_dir / "local" / "endpoints" / f"{name}.json"
    record = json.loads(path.read_text())
    record.update(changes)
    path.write_text(json.dumps(record))


@pytest.mark.parametrize("mismatch", ["start_time", "boot_id"])
def test_reused_pid_is_never_signalled(provider: LocalProvider, state_dir: Path, mismatch: str) -> None:
    """A record whose pid now belongs to another process (different start time, or a record from
    before a reboot) must not get that process killed: the record is just dropped."""
    provider.create_endpoint("reused", {"command": [sys.executable, "-c", "pass"], "port": None})
    wait_until(lambda: provider.get_endpoint("reused").state is ResourceState.FAILED)
    stranger = _spawn_sleeper()
    try:
        stat = proc_stat(stranger.pid)
        record = {"pid": stranger.pid, "pgid": stranger.pid, "start_time": stat.start_time}
        record[mismatch] = stat.start_time + 1 if mismatch == "start_time" else "another-boot"
        _rewrite_record(state_dir, "reused", **record)

        assert provider.get_endpoint("reused").state is ResourceState.FAILED  # not ours, so not running
        provider.delete_endpoint("reused")
        time.sleep(0.1)
        assert stranger.poll() is None and pid_alive(stranger.pid)
        assert provider.list_endpoints() == []
    finally:
        stranger.kill()
        stranger.wait()


def test_stubborn_process_is_killed_after_grace_period(state_dir: Path) -> None:
    provider = LocalProvider(state_dir, grace_period=0.3)
    script = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"
    )
    info = provider.create_endpoint("stubborn", {"command": [sys.executable, "-c", script], "port": None})
    wait_until(lambda: "up" in provider.logs(endpoint="stubborn"))
    members = group_members(info.extra["pid"])
    started = time.monotonic()
    provider.delete_endpoint("stubborn")
    # Waited out the grace period, then killed: well before the script's own 60 s sleep ends (the
    # upper bound tells a kill from a natural exit; it is not a speed goal).
    assert 0.3 <= time.monotonic() - started < 45
    assert not any(pid_alive(pid) for pid in members)


def test_secrets_are_not_stored(provider: LocalProvider, state_dir: Path) -> None:
    spec = endpoint_spec(env={"NGC_API_KEY": "nvapi-very-secret", "PLAIN": "visible"})
    info = provider.create_endpoint("secretive", spec)
    assert info.spec["env"] == {"NGC_API_KEY": MASK, "PLAIN": "visible"}
    stored = "".join(p.read_text() for p in (state_dir / "local").rglob("*.json"))
    assert "nvapi-very-secret" not in stored and "visible" in stored
    # Still adopted with the same secret, refused with another one.
    assert provider.create_endpoint("secretive", spec).extra["pid"] == info.extra["pid"]
    with pytest.raises(Conflict):
        provider.create_endpoint("secretive", endpoint_spec(env={"NGC_API_KEY": "other", "PLAIN": "visible"}))


@pytest.mark.parametrize(
    ("name", "spec", "message"),
    [
        ("bad/name", endpoint_spec(), "invalid local endpoint name"),
        ("ep", {"command": "python -m x", "port": None}, "non-empty list of strings"),
        ("ep", {"command": ["/no/such/program"], "port": None}, "no such executable"),
        ("ep", {"command": ["no-such-program-xyz"], "port": None}, "no such executable"),
        ("ep", {**endpoint_spec(), "port": 70000}, "port must be an integer"),
        ("ep", {**endpoint_spec(), "host": "10.1.2.3"}, "not a loopback address"),
        ("ep", {**endpoint_spec(), "env": {"A": {"nested": 1}}}, "env A must be"),
    ],
)
def test_bad_specs_are_rejected(provider: LocalProvider, name: str, spec: dict, message: str) -> None:
    with pytest.raises(Rejected, match=message):
        provider.create_endpoint(name, spec)
    assert provider.list_endpoints() == []


def test_endpoint_outlives_the_process_that_created_it(state_dir: Path) -> None:
    """A killed ``apply`` leaves the endpoint running; a later nimctl process finds and removes it."""
    script = (
        "import json, os, sys; from nimctl.providers.local.provider import LocalProvider; "
        "info = LocalProvider(sys.argv[1]).create_endpoint('orphan', json.loads(sys.argv[2])); "
        "print(info.extra['pid'], flush=True); os._exit(9)"
    )
    creator = subprocess.run(
        [sys.executable, "-c", script, str(state_dir), json.dumps(endpoint_spec())],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert creator.returncode == 9, creator.stderr
    runner = int(creator.stdout.split()[0])
    later = LocalProvider(state_dir, grace_period=2.0)
    info = ready(later, "orphan")
    assert info.extra["pid"] == runner
    later.delete_endpoint("orphan")
    assert not pid_alive(runner) and group_members(runner) == []


def test_group_left_without_its_leader_is_still_removed(provider: LocalProvider) -> None:
    """The runner killed on its own leaves the server running in the group: the endpoint shows as
    failed, and delete still stops the server (the group id cannot have been reused)."""
    runner = ready(provider, provider.create_endpoint("headless", endpoint_spec()).name).extra["pid"]
    server = server_pid(runner)
    os.kill(runner, signal.SIGKILL)
    info = wait_until(lambda: (i := provider.get_endpoint("headless")).state is ResourceState.FAILED and i)
    assert info.platform_state == "Exited (exit code unknown)"
    assert pid_alive(server)
    provider.delete_endpoint("headless")
    assert not pid_alive(server) and group_members(runner) == []
