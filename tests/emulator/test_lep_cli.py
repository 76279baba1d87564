"""The unmodified `lep` CLI, as a subprocess, against the emulator."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.emulator import client_for, endpoint_model, isolate_lepton_cache, job_model
from tests.support.polling import wait_until

LEP = Path(sys.executable).with_name("lep")
pytestmark = pytest.mark.skipif(not LEP.exists(), reason="the lep CLI is not installed next to python")


@pytest.fixture
def lep(emulator, tmp_path):
    cache = tmp_path / "lep-cache"
    isolate_lepton_cache(cache)
    env = {
        **os.environ,
        **emulator.env(),
        "LEPTON_CACHE_DIR": str(cache),
        "COLUMNS": "200",
        # Belt and braces: anything not bound for loopback fails fast instead of leaving the host.
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    env.pop("LEPTON_WORKSPACE_ORIGIN_URL", None)

    def run(*args: str) -> str:
        done = subprocess.run([str(LEP), *args], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    return run


def test_lep_endpoint_list_and_status(emulator, lep):
    emulator.configure(error_image_pattern="broken")
    client = client_for(emulator)
    client.deployment.create(endpoint_model("good-ep"))
    client.deployment.create(endpoint_model("bad-ep", image="nvcr.io/broken:1"))
    wait_until(lambda: {d.status.state.value for d in client.deployment.list_all()} == {"Ready", "Error"})

    listing = lep("endpoint", "list")
    assert "good-ep" in listing and "bad-ep" in listing
    assert "Ready" in listing and "Error" in listing and "gpu.a10" in listing

    status = lep("endpoint", "status", "-n", "good-ep")
    assert "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.8.0" in status
    assert "Ready" in status and "1 out of 1 replicas ready" in status
    assert "API Token Authentication: Enabled" in status
    routes = [r.route for r in emulator.requests if r.method == "GET"]
    assert {"/deployments/good-ep", "/deployments/good-ep/readiness", "/deployments/good-ep/termination"} <= set(routes)


def test_lep_job_list_pages_to_the_end(emulator, lep):
    emulator.configure(fail_job_pattern="^fails")
    client = client_for(emulator)
    done = client.job.create(job_model("works"))
    failed = client.job.create(job_model("fails"))
    wait_until(
        lambda: {client.job.get(j.metadata.id_).status.state.value for j in (done, failed)} == {"Completed", "Failed"}
    )
    listing = lep("job", "list")
    assert done.metadata.id_ in listing and failed.metadata.id_ in listing
    assert "Completed" in listing and "Failed" in listing
    pages = [r.query for r in emulator.requests if r.route == "/jobs" and r.method == "GET"]
    assert pages[-2:] == [
        "job_query_mode=alive_only&page=1&page_size=500",
        "job_query_mode=alive_only&page=2&page_size=500",
    ]


def test_lep_endpoint_create_is_accepted_as_the_cli_sends_it(emulator, lep):
    lep(
        "endpoint",
        "create",
        "-n",
        "cli-ep",
        "--container-image",
        "nginx:latest",
        "--container-command",
        "python -m http.server 8080",
        "--container-port",
        "8080",
        "-rs",
        "gpu.a10",
        "-e",
        "FOO=bar",
        "--tokens",
        "mytoken",
    )
    live = emulator.world.deployment("cli-ep")
    assert live is not None
    assert live["spec"]["container"]["command"] == ["/bin/bash", "-c", "python -m http.server 8080"]
    assert live["spec"]["api_tokens"] == [{"value": "mytoken"}]
    assert {"name": "FOO", "value": "bar"} in live["spec"]["envs"]
