"""Running an emulated job's command for real: a local process with the job's environment.

The world (``world.py``) asks for this only for jobs whose image matches the
``run_job_images`` option. The command runs as given (an argv list, never through a shell);
``python`` / ``python3`` as its first word means this interpreter, since the image itself is not
pulled. The environment is what a Lepton container would see: the job's env entries (secret
references resolved from the workspace's secrets) plus the variables the platform sets
(``LEPTON_WORKSPACE_ID``, ``LEPTON_JOB_NAME``), over a minimal base (no proxy settings, no
credentials of the emulator's own process).

The container's file system is emulated by mapping paths (``container_paths``): ``/results``
and ``/workspace`` (and any path under them) go to a directory of the job's own that is removed
when the job ends, as a pod's disk goes with it; each mount's ``mount_path`` goes to a directory
standing for the mount's storage (``<root>/storage/<from>/<path>``), which outlives the job as
shared storage does. Paths are rewritten in the env values and argv items the job is given, at
path boundaries only. The image's tools are this interpreter's environment: its ``bin``
directory comes first on ``PATH``.

``start`` returns at once; ``on_exit(code, lines)`` is called from a watcher thread when the
process ends. ``JobProcess.kill`` ends it early (job stopped or deleted, emulator stopped).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

BASE_ENV_KEYS = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR")
PYTHONS = frozenset({"python", "python3"})
MAX_OUTPUT_LINES = 2000


class JobProcess:
    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


CONTAINER_ROOTS = ("/results", "/workspace")  # written to by jobs, not shipped in any image


def container_paths(root: str, job_id: str, mounts: list[dict[str, Any]]) -> tuple[dict[str, str], str]:
    """(container path → host directory, the job's own directory) for one job run for real."""
    own = os.path.join(root, "jobs", re.sub(r"[^A-Za-z0-9._-]", "_", job_id))
    mapping = {path: os.path.join(own, path.strip("/")) for path in CONTAINER_ROOTS}
    for mount in mounts:
        target = str(mount.get("mount_path") or "")
        if not target.startswith("/"):
            continue
        source = re.sub(r"[^A-Za-z0-9._-]", "_", str(mount.get("from") or "default"))
        storage = os.path.normpath("/" + str(mount.get("path") or "")).lstrip("/")
        mapping[target.rstrip("/") or "/"] = os.path.join(root, "storage", source, storage)
    for directory in mapping.values():
        os.makedirs(directory, exist_ok=True)
    return mapping, own


def map_paths(text: str, mapping: dict[str, str]) -> str:
    """``text`` with each container path of ``mapping`` (at a path boundary) replaced."""
    for source in sorted(mapping, key=len, reverse=True):
        pattern = r"(?<![\w./-])" + re.escape(source) + r"(?=/|$|[\s\"',;:])"
        text = re.sub(pattern, mapping[source].replace("\\", "\\\\"), text)  # a literal replacement
    return text


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def argv_for(command: list[str]) -> list[str]:
    if command and command[0] in PYTHONS:
        return [sys.executable, *command[1:]]
    return list(command)


def start(
    command: list[str],
    env: dict[str, str],
    on_exit: Callable[[int, list[str]], None],
    paths: dict[str, str] | None = None,
    cwd: str | None = None,
) -> JobProcess:
    base = {k: os.environ[k] for k in BASE_ENV_KEYS if k in os.environ}
    tools = os.path.dirname(sys.executable)
    base["PATH"] = os.pathsep.join([tools, base.get("PATH", os.defpath)])
    if "ADAPTER_PORT" not in env:
        # A pod has a network of its own; these processes share this machine's. nemo-evaluator's
        # adapter proxy takes the first free port from 3825, so two jobs started together could
        # pick the same one and mix their requests: each job gets its own port instead.
        env = {**env, "ADAPTER_PORT": str(_free_port())}
    if paths:
        command = [map_paths(part, paths) for part in command]
        env = {name: map_paths(value, paths) for name, value in env.items()}
    command = argv_for(command)
    proc = subprocess.Popen(  # noqa: S603 - an argv list from the job spec, no shell
        command,
        env={**base, **env},
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, so a kill takes its children too
    )

    def watch() -> None:
        lines: list[str] = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            del lines[:-MAX_OUTPUT_LINES]
        code = proc.wait()
        on_exit(code, lines)

    threading.Thread(target=watch, name=f"emulated-job-{proc.pid}", daemon=True).start()
    return JobProcess(proc)
