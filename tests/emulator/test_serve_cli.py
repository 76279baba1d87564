"""`nimctl.offline.emulator.cli.serve`: exports for the shell, foreground serving, loopback only."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from nimctl.common.errors import NimctlError
from nimctl.offline.emulator.cli import export_lines, serve


def test_refuses_non_loopback_without_allow_remote():
    with pytest.raises(NimctlError) as refused:
        serve(host="0.0.0.0")
    assert "--allow-remote" in str(refused.value)
    with pytest.raises(NimctlError):
        serve(fault_rate=1.5)


def test_export_lines_quote_values():
    assert export_lines({"A": "x y"}) == ["export A='x y'"]


def test_serves_in_the_foreground_until_sigterm():
    code = (
        "from nimctl.offline.emulator.cli import serve; "
        "serve(port=0, workspace_id='rehearsal', token='tok-123', ready_after=0.01)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        env = {}
        deadline = time.monotonic() + 20
        while len(env) < 3 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith("export "):
                key, _, value = line[len("export ") :].strip().partition("=")
                env[key] = value
        assert env["LEPTON_WORKSPACE_ID"] == "rehearsal" and env["LEPTON_WORKSPACE_TOKEN"] == "tok-123"
        url = env["LEPTON_WORKSPACE_URL"]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/api/v2/workspaces/rehearsal")
        reply = requests.get(url + "/workspace", headers={"Authorization": "Bearer tok-123"}, timeout=5)
        assert reply.status_code == 200
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            returncode = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert returncode == 0, proc.stderr.read()


def test_port_in_use_is_a_clear_error():
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        with pytest.raises(NimctlError) as busy:
            serve(port=taken.getsockname()[1])
    assert "cannot listen" in str(busy.value) and "--port" in str(busy.value)
