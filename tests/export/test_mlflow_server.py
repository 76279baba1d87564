"""--dest mlflow against a real ``mlflow server`` on loopback (artefacts proxied through it):
the one export test that goes over HTTP, as a team's tracking server is used."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("mlflow", reason="the mlflow extra is part of the test extra")

from mlflow.tracking import MlflowClient  # noqa: E402

from nimctl.export.report import Outcome  # noqa: E402
from nimctl.export.run import export  # noqa: E402
from nimctl.export.settings import Destination, resolve  # noqa: E402

pytestmark = pytest.mark.timeout(300)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    argv = [
        str(Path(sys.executable).parent / "mlflow"),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{root / 'server.db'}",
        "--artifacts-destination",
        str(root / "artifacts"),
    ]
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    log = (root / "server.log").open("wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240  # start-up imports take seconds, minutes on a loaded machine
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start: {(root / 'server.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server's own process group: uvicorn and its worker
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def test_export_to_a_tracking_server(server, invocation, monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    settings, _ = resolve(Destination.MLFLOW, {"tracking_uri": server, "experiment_name": "served"})
    first = export([invocation], Destination.MLFLOW, settings)
    assert [o.outcome for o in first.outcomes] == [Outcome.CREATED, Outcome.CREATED], first.outcomes
    second = export([invocation], Destination.MLFLOW, settings)
    assert [o.outcome for o in second.outcomes] == [Outcome.UPDATED, Outcome.UPDATED]
    client = MlflowClient(tracking_uri=server)
    experiment = client.get_experiment_by_name("served")
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.data.tags["stack"] for r in runs) == ["long", "short"]
    long_run = next(r for r in runs if r.data.tags["stack"] == "long")
    assert long_run.data.metrics["recall_accuracy"] == 1.0
    assert long_run.info.artifact_uri.startswith("mlflow-artifacts:")  # proxied by the server
    local = Path(client.download_artifacts(long_run.info.run_id, "tinyfw.recall/artifacts/results.yml", str(tmp_path)))
    assert local.read_bytes() == invocation.tasks[1].files["results.yml"].read_bytes()
