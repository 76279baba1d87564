"""The real CLI run as a subprocess, and the emulated Lepton workspace seen through its public
HTTP API (the same one the SDK uses): for the apply, destroy, evaluation, export, ownership and
performance tests.

``clean_env`` is the caller's environment without any Lepton or nimctl setting and without colour,
the base of the others: ``cli_env`` points it at the emulator (planted endpoint token, fast
polling, a state file under the test's directory), ``local_env`` at the local platform;
``run_cli`` / ``start_cli`` run ``python -m nimctl`` in it (``Result`` holds the exit code, output,
seconds and arguments of a run, here and in the reliability harness); ``WORKSPACE_SECRETS`` are
the workspace secrets the seed example references (planted values); ``read_state`` and ``invocation_id`` read what a run
left; ``Platform`` lists, creates and deletes the workspace's objects and secrets; ``wait_for_mark``
waits for a trace mark of a running apply. ``nimctl_argv`` and ``user_env`` are the command and
environment a user's shell would run (the installed console script, bytecode caching on), for the
performance tests and bench/.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "examples" / "lepton_nim_seed_example.yaml"
ENDPOINT_TOKEN = "tok-endpoint-7f3a9c1e"  # planted secret: must never reach state or output
HF_TOKEN = "hf-planted-2b8d4e6a"  # the seed example's HUGGING_FACE_HUB_TOKEN secret: planted too
# The secrets the seed example references: Lepton starts nothing whose secret is missing.
WORKSPACE_SECRETS = {"ENDPOINT_API_KEY": ENDPOINT_TOKEN, "HUGGING_FACE_HUB_TOKEN": HF_TOKEN}


@dataclass
class Result:
    code: int
    out: str
    err: str
    seconds: float = 0.0
    args: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.out + self.err

    def describe(self) -> str:
        tail = self.text[-1500:]
        return f"`nimctl {' '.join(self.args)}` exited {self.code} after {self.seconds:.1f}s:\n{tail}"


def copy_config(tmp_path: Path, source: Path = SEED, name: str | None = None) -> Path:
    target = tmp_path / (name or source.name)
    shutil.copy(source, target)
    return target


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without any Lepton or nimctl setting, no colour, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEPTON_", "NIMCTL_"))}
    env["NO_COLOR"] = "1"
    env.update(extra)
    return env


def cli_env(emulator, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = clean_env(**emulator.env())
    env.update(
        {
            "LEPTON_CACHE_DIR": str(tmp_path / "lepton-cache"),
            "NIMCTL_STATE": str(tmp_path / "state" / "nimctl.state.json"),
            "NIMCTL_POLL_INTERVAL": "0.05",
            "NIMCTL_RETRY_MAX_SECONDS": "20",
            "ENDPOINT_API_KEY": ENDPOINT_TOKEN,
        }
    )
    env.update(extra)
    return env


def nimctl_argv() -> list[str]:
    """The installed console script when it sits next to this interpreter (what users run)."""
    script = Path(sys.executable).with_name("nimctl")
    return [str(script)] if script.exists() else [sys.executable, "-m", "nimctl"]


def user_env(**extra: str) -> dict[str, str]:
    """The environment a user's shell would have: bytecode caching on (a developer shell often sets
    PYTHONDONTWRITEBYTECODE, which makes every start-up recompile nimctl), no stray nimctl/Lepton
    settings, no colour."""
    env = clean_env(**extra)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def local_env(tmp_path: Path) -> dict[str, str]:
    return clean_env(
        NIMCTL_STATE=str(tmp_path / "state" / "nimctl.state.json"),
        NIMCTL_POLL_INTERVAL="0.05",
        NIMCTL_LOCAL_GRACE_S="3",
    )


def run_cli(args: list[str], env: dict[str, str], *, timeout: float = 120, cwd: Path | None = None) -> Result:
    """Run ``python -m nimctl``; a command that overruns ``timeout`` raises (the reliability
    harness's ``nimctl`` returns it as a timed-out Result instead)."""
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "nimctl", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started, list(args))


def start_cli(args: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "nimctl", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


def invocation_id(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("Invocation: "):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no 'Invocation:' line in:\n{text}")


class Platform:
    """The emulated workspace, seen through its public API."""

    def __init__(self, emulator) -> None:
        self.url = emulator.url
        self.headers = {"Authorization": f"Bearer {emulator.token}"}

    def deployments(self) -> list[dict]:
        return requests.get(f"{self.url}/deployments", headers=self.headers, timeout=10).json()

    def deployment_names(self) -> list[str]:
        return sorted(d["metadata"]["name"] for d in self.deployments())

    def jobs(self) -> list[dict]:
        found, page = [], 1
        while True:
            resp = requests.get(
                f"{self.url}/jobs",
                headers=self.headers,
                timeout=10,
                params={"job_query_mode": "alive_and_archive", "page": page, "page_size": 500},
            )
            body = resp.json()
            items = body.get("jobs", []) if isinstance(body, dict) else body
            if not items:
                return found
            found.extend(items)
            page += 1

    def job_names(self) -> list[str]:
        return sorted(j["metadata"]["name"] for j in self.jobs())

    def post(self, path: str, body: object) -> dict:
        resp = requests.post(f"{self.url}{path}", headers=self.headers, timeout=10, json=body)
        resp.raise_for_status()
        return resp.json()

    def delete(self, path: str) -> None:
        requests.delete(f"{self.url}{path}", headers=self.headers, timeout=10).raise_for_status()

    def add_workspace_secrets(self) -> None:
        """The secrets the seed example references, as a user creates them once per workspace."""
        for name, value in WORKSPACE_SECRETS.items():
            self.add_secret(name, value)

    def add_secret(self, name: str, value: str) -> None:
        resp = requests.post(
            f"{self.url}/usersecrets", headers=self.headers, timeout=10, json=[{"name": name, "value": value}]
        )
        resp.raise_for_status()

    def wait_no_deployments(self, timeout: float = 10.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            names = self.deployment_names()
            if not names:
                return []
            time.sleep(0.05)
        return self.deployment_names()


def read_state(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "state" / "nimctl.state.json").read_text())


def wait_for_mark(trace: Path, mark: str, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if trace.exists() and any(line.startswith(mark) for line in trace.read_text().splitlines()):
            return
        if proc.poll() is not None:
            raise AssertionError(f"apply exited ({proc.returncode}) before {mark}: {proc.communicate()}")
        time.sleep(0.02)
    raise AssertionError(f"{mark} never appeared in {trace}")
