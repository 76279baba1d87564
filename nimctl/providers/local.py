"""The local platform: endpoints and jobs are processes on this machine.

Its "platform" is a registry directory, ``<state_dir>/local/``::

    endpoints/<name>.json   one record per endpoint (pid, process start time, port, spec, ...)
    endpoints/<name>.exit   how the endpoint's last process ended (written by local_runner)
    jobs/<id>.json          one record per job
    jobs/<id>.exit          how the job ended
    logs/<name>.log         endpoint output (job output goes to <output_dir>/job.log)
    salt                    salt of the spec digests kept in records

Every process is started detached (its own session, stdin from /dev/null, no shell ever) through
``local_runner.py``, which waits for the command and writes the exit file, so an endpoint outlives
``apply`` and a job's exit code is known after it ends even though no nimctl process waited.

A pid alone does not identify a process: pids are reused. Each record keeps the process start
time (``/proc/<pid>/stat`` field 22) and the boot id; a process is ours only when all match, and a
pid that now belongs to someone else is never signalled. Stopping sends SIGTERM to the process
group, SIGKILL after a grace period, and waits until no member is left.

Records never hold secret values: env vars whose names look secret (and ``api_key``) are masked
in the stored spec, which is compared for adoption through a salted digest instead.
Linux (``/proc``) is the supported platform.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import ipaddress
import json
import os
import re
import secrets as pysecrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nimctl.common.files import write_atomic
from nimctl.common.secrets import SECRET_ENV_NAME
from nimctl.providers.base import (
    Conflict,
    EndpointInfo,
    JobInfo,
    JobState,
    NotFound,
    ProviderError,
    Rejected,
    ResourceState,
    Transient,
)
from nimctl.providers.capabilities import LOCAL_UPDATABLE_ENDPOINT_FIELDS

# Local endpoints cannot change in place: the planner replaces them on any spec change.
UPDATABLE_ENDPOINT_FIELDS: frozenset[str] = LOCAL_UPDATABLE_ENDPOINT_FIELDS

DEFAULT_GRACE_S = 10.0
ADAPTER_PORT_ENV = "ADAPTER_PORT"  # where nemo-evaluator's adapter proxy listens (see submit_job)
ENV_GRACE = "NIMCTL_LOCAL_GRACE_S"
DEFAULT_HEALTH_PATH = "/v1/health/ready"
MASK = "******"  # how a secret shows in a stored spec (the planner treats it as unobservable)
KILL_CONFIRM_S = 5.0  # after SIGKILL, how long to wait for the group to disappear
NEVER_STARTED_S = 30.0  # a record without a pid this old belongs to a start that crashed

_RUNNER = str(Path(__file__).with_name("local_runner.py"))
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_WILDCARD_HOSTS = ("0.0.0.0", "::")
_PROC = Path("/proc")


def checkpoint(mark: str) -> None:
    """nimctl.apply.journal.checkpoint (NIMCTL_TRACE_FILE / NIMCTL_CRASH_AT) at the two moments of a start
    a crash can split: recorded but not started, started but its pid not recorded."""
    from nimctl.apply.journal import checkpoint as journal_checkpoint

    journal_checkpoint(mark)


# ---------------------------------------------------------------- processes


@dataclass(frozen=True)
class ProcStat:
    """The fields of ``/proc/<pid>/stat`` the provider needs."""

    state: str  # "R", "S", "Z" (zombie), ...
    pgrp: int
    session: int
    start_time: int  # clock ticks after boot


def proc_stat(pid: int) -> ProcStat | None:
    """The process's stat fields, or None when there is no such process."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    fields = text[text.rindex(")") + 2 :].split()
    return ProcStat(state=fields[0], pgrp=int(fields[2]), session=int(fields[3]), start_time=int(fields[19]))


def boot_id() -> str | None:
    try:
        return (_PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def is_ours(pid: int | None, start_time: int | None, boot: str | None) -> bool:
    """The process ``pid`` exists (maybe as a zombie) and is the one recorded: same start, same boot."""
    if pid is None or start_time is None or boot != boot_id():
        return False
    stat = proc_stat(pid)
    return stat is not None and stat.start_time == start_time


def is_running(pid: int | None, start_time: int | None, boot: str | None) -> bool:
    """The recorded process exists, is the same one, and is not a zombie."""
    if not is_ours(pid, start_time, boot):
        return False
    stat = proc_stat(pid)  # type: ignore[arg-type]
    return stat is not None and stat.state not in ("Z", "X")


def find_runner(run_id: str) -> tuple[int, int] | None:
    """(pid, start time) of the live runner started with ``--run-id run_id``: finds the process of a
    start that was interrupted after the process began but before its pid was recorded."""
    needle = f"--run-id\0{run_id}\0".encode()
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline and _RUNNER.encode() in cmdline:
            stat = proc_stat(int(entry.name))
            if stat is not None and stat.state not in ("Z", "X"):
                return int(entry.name), stat.start_time
    return None


def _starter() -> dict[str, Any]:
    """This process, recorded as the one starting a process: if it is gone and no process was
    started, the start never happened (no need to wait NEVER_STARTED_S to know it)."""
    stat = proc_stat(os.getpid())
    return {"pid": os.getpid(), "start_time": stat.start_time if stat else None}


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is ``pgid``."""
    members = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        stat = proc_stat(int(entry.name))
        if stat is not None and stat.pgrp == pgid and stat.state not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def _port_in_use(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # Servers set SO_REUSEADDR, so a port held only by TIME_WAIT sockets is free for them.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as err:
            if err.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise
    return False


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _http_status(url: str, timeout: float) -> tuple[int | None, str]:
    """(HTTP status, detail) of a GET; status None when nothing answered. Never uses a proxy."""
    import urllib.error
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            return response.status, f"HTTP {response.status}"
    except urllib.error.HTTPError as err:
        return err.code, f"HTTP {err.code}"
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        return None, str(reason) if str(reason) else type(err).__name__


# ---------------------------------------------------------------- registry files


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomic write: a reader sees the old record or the new one, never half of one."""
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True), mode=None)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
    except ValueError as err:
        raise ProviderError(
            f"the local registry file {path} is damaged ({err})",
            hint=f"if no process belongs to it any more, delete {path}",
        ) from err
    if not isinstance(data, dict):
        raise ProviderError(
            f"the local registry file {path} is damaged (not a JSON object)",
            hint=f"if no process belongs to it any more, delete {path}",
        )
    return data


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def tail_lines(path: Path, limit: int, max_bytes: int = 1_000_000) -> list[str]:
    """The last ``limit`` lines of a text file (reading at most ``max_bytes`` from its end)."""
    if limit <= 0:
        return []
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - max_bytes))
            data = handle.read()
    except FileNotFoundError:
        return []
    lines = data.decode("utf-8", errors="replace").splitlines()
    if size > max_bytes and lines:
        lines = lines[1:]  # the first line read is probably cut
    return lines[-limit:]


# ---------------------------------------------------------------- spec checking


def _check_name(kind: str, name: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise Rejected(
            f"invalid local {kind} name {name!r}",
            resource=str(name),
            hint="use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )


def _check_command(kind: str, name: str, command: Any, cwd: str | None = None) -> list[str]:
    if (
        not isinstance(command, list)
        or not command
        or not all(isinstance(item, str) for item in command)
        or not command[0]
    ):
        raise Rejected(
            f"local {kind} {name}: 'command' must be a non-empty list of strings (an argv)",
            resource=name,
            hint='write the command as a list, e.g. ["vllm", "serve", "MODEL"]',
        )
    program = command[0]
    if len(command) > 4 and command[1] == "-c" and os.path.basename(program) == "sh":
        # `sh -c SCRIPT NAME PROGRAM ARGS...` (how nimctl wraps a task's argv): the script runs
        # PROGRAM, so that is what must exist.
        program = command[4]
    if os.sep in program:
        path = Path(program) if os.path.isabs(program) or cwd is None else Path(cwd) / program
        found = path.is_file() and os.access(path, os.X_OK)
    else:
        found = shutil.which(program) is not None
    if not found:
        raise Rejected(
            f"local {kind} {name}: cannot run {program!r}: no such executable",
            resource=name,
            hint="install it, or give its full path as the first item of the command",
        )
    return list(command)


def _check_env(kind: str, name: str, env: Any) -> dict[str, str]:
    if env is None:
        return {}
    if not isinstance(env, dict):
        raise Rejected(f"local {kind} {name}: 'env' must be a mapping of NAME: value", resource=name)
    out = {}
    for key, value in env.items():
        if not isinstance(key, str) or not key or "=" in key:
            raise Rejected(f"local {kind} {name}: invalid environment variable name {key!r}", resource=name)
        if isinstance(value, (dict, list)) or value is None:
            raise Rejected(f"local {kind} {name}: env {key} must be a string, number or boolean", resource=name)
        out[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


def _env_from(kind: str, name: str, spec: dict[str, Any]) -> dict[str, str]:
    """``env_from: {NAME: VARIABLE}``: a secret reference resolved from nimctl's own environment at
    start time, so the value is never written into a spec, a record or the state."""
    mapping = spec.get("env_from") or {}
    if not isinstance(mapping, dict):
        raise Rejected(f"local {kind} {name}: 'env_from' must be a mapping of NAME: VARIABLE", resource=name)
    missing = sorted(str(var) for var in mapping.values() if str(var) not in os.environ)
    if missing:
        raise Rejected(
            f"local {kind} {name}: the secret(s) {', '.join(missing)} it references are not set",
            resource=name,
            hint="on the local platform a secret_name_ref is read from nimctl's "
            f"environment: export {missing[0]}=... and run the command again",
        )
    return {str(key): os.environ[str(var)] for key, var in mapping.items()}


def _check_host(name: str, host: Any) -> str:
    host = host or "127.0.0.1"
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise Rejected(
            f"local endpoint {name}: host {host!r} is not an IP address", resource=name, hint="use 127.0.0.1"
        ) from None
    if not (address.is_loopback or host in _WILDCARD_HOSTS):
        raise Rejected(
            f"local endpoint {name}: host {host} is not a loopback address",
            resource=name,
            hint="local endpoints listen on 127.0.0.1 (or 0.0.0.0 to be reachable from the network)",
        )
    return host


def _check_port(name: str, port: Any) -> int | None:
    if port is None or port == "auto":
        return None
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise Rejected(
            f"local endpoint {name}: port must be an integer 1..65535 or null, got {port!r}",
            resource=name,
            hint="set deployment.port, or `port: auto` to take a free one",
        )
    return port


def mask_secrets(spec: dict[str, Any]) -> dict[str, Any]:
    """A copy of a local spec with the values of secret-looking env vars and ``api_key`` masked."""
    out = json.loads(json.dumps(spec, default=str))
    env = out.get("env")
    if isinstance(env, dict):
        for key in env:
            if SECRET_ENV_NAME.search(str(key)):
                env[key] = MASK
    if "api_key" in out and out["api_key"] is not None:
        out["api_key"] = MASK
    return out


def _url_host(host: str) -> str:
    if host in _WILDCARD_HOSTS:
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


# ---------------------------------------------------------------- the provider


class LocalProvider:
    """Endpoints and jobs as detached local processes, tracked in ``<state_dir>/local/``."""

    name = "local"

    def __init__(
        self, state_dir: str | Path, *, grace_period: float | None = None, health_timeout: float = 1.0
    ) -> None:
        self.root = Path(state_dir) / "local"
        if grace_period is None:
            grace_period = float(os.environ.get(ENV_GRACE) or DEFAULT_GRACE_S)
        self.grace_period = grace_period
        self.health_timeout = health_timeout
        # Processes this object started: polling them reaps them, so a dead child of a
        # long-lived nimctl process does not linger as a zombie.
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    # -- paths and records ---------------------------------------------------------------------

    def _endpoint_path(self, name: str) -> Path:
        return self.root / "endpoints" / f"{name}.json"

    def _endpoint_exit_path(self, name: str) -> Path:
        return self.root / "endpoints" / f"{name}.exit"

    def _job_path(self, job_id: str) -> Path:
        return self.root / "jobs" / f"{job_id}.json"

    def _job_exit_path(self, job_id: str) -> Path:
        return self.root / "jobs" / f"{job_id}.exit"

    def endpoint_log_path(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"

    def _salt(self) -> str:
        path = self.root / "salt"
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError), open(path, "x") as handle:
                handle.write(pysecrets.token_hex(16))
            return path.read_text().strip()

    def _digest(self, spec: dict[str, Any]) -> str:
        canonical = json.dumps(spec, sort_keys=True, default=str, separators=(",", ":"))
        return hashlib.sha256(f"{self._salt()}\0{canonical}".encode()).hexdigest()

    @contextlib.contextmanager
    def _registry_lock(self) -> Iterator[None]:
        """Serialises endpoint creates/deletes across threads and processes (a new open file
        description per acquisition, so threads of one process exclude each other too)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _reap(self) -> None:
        for pid, child in list(self._children.items()):
            if child.poll() is not None:
                del self._children[pid]

    def _endpoint_record(self, name: str) -> dict[str, Any]:
        record = _read_json(self._endpoint_path(name))
        if record is None:
            raise NotFound(f"local endpoint {name} does not exist", resource=name)
        return record

    def _job_record(self, job_id: str) -> dict[str, Any]:
        record = _read_json(self._job_path(job_id)) if _NAME.match(str(job_id)) else None
        if record is None:
            raise NotFound(f"local job {job_id} does not exist", resource=job_id)
        return record

    # -- starting and stopping processes ---------------------------------------------------------

    def _start(
        self,
        command: list[str],
        *,
        env: dict[str, str],
        log_path: Path,
        exit_path: Path,
        run_id: str,
        cwd: str | None,
        header: str,
        truncate: bool,
    ) -> tuple[int, int | None]:
        """Start ``command`` detached through the runner; (pid, start time) of the runner."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        _unlink(exit_path)
        full_env = {**os.environ, **env}
        argv = [sys.executable, "-I", _RUNNER, "--exit-file", str(exit_path), "--run-id", run_id, "--", *command]
        with open(log_path, "wb" if truncate else "ab") as log:
            log.write(header.encode())
            log.flush()
            try:
                child = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    env=full_env,
                    cwd=cwd,
                    close_fds=True,
                )
            except OSError as err:
                raise Rejected(f"cannot start {command[0]!r}: {err}") from err
        self._children[child.pid] = child
        stat = proc_stat(child.pid)
        return child.pid, stat.start_time if stat else None

    def _terminate(self, record: dict[str, Any], what: str) -> None:
        """Stop the record's process group: SIGTERM, SIGKILL after the grace period, confirm gone.

        A pid that exists but is not the recorded process (other start time or boot) was reused:
        it is never signalled. When the recorded leader is gone but members of its group are
        left, the group id cannot have been reused (the kernel keeps a pid while a group uses it).
        """
        if record.get("pid") is None:
            self._recover_pid(record)
        pid = record.get("pid")
        if pid is None or record.get("boot_id") != boot_id():
            return
        stat = proc_stat(pid)
        if stat is not None and stat.start_time != record.get("start_time"):
            return
        pgid = int(record.get("pgid") or pid)
        if not self._signal_group(pgid, signal.SIGTERM):
            return
        if self._wait_group_gone(pgid, self.grace_period):
            return
        self._signal_group(pgid, signal.SIGKILL)
        if not self._wait_group_gone(pgid, KILL_CONFIRM_S):
            raise Transient(
                f"{what}: processes {group_members(pgid)} are still running after SIGKILL",
                resource=record.get("name"),
                hint="check them with `ps`, then retry",
            )

    def _signal_group(self, pgid: int, sig: signal.Signals) -> bool:
        """Signal the group if it has live members; False when nothing was left to signal."""
        if not group_members(pgid):
            return False
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return False
        except PermissionError as err:
            raise Rejected(f"not allowed to signal process group {pgid}: {err}") from err
        return True

    def _wait_group_gone(self, pgid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            self._reap()
            if not group_members(pgid):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    # -- endpoints -------------------------------------------------------------------------------

    def list_endpoints(self) -> list[EndpointInfo]:
        self._reap()
        infos = []
        for path in sorted((self.root / "endpoints").glob("*.json")):
            record = _read_json(path)
            if record is not None:
                infos.append(self._endpoint_info(record))
        return infos

    def get_endpoint(self, name: str) -> EndpointInfo:
        _check_name("endpoint", name)
        self._reap()
        return self._endpoint_info(self._endpoint_record(name))

    def create_endpoint(self, name: str, spec: dict[str, Any]) -> EndpointInfo:
        _check_name("endpoint", name)
        if not isinstance(spec, dict):
            raise Rejected(f"local endpoint {name}: the spec must be a mapping", resource=name)
        command = _check_command("endpoint", name, spec.get("command"))
        env = {**_check_env("endpoint", name, spec.get("env")), **_env_from("endpoint", name, spec)}
        host = _check_host(name, spec.get("host"))
        wanted_port = _check_port(name, spec.get("port"))
        health_path = spec.get("health_path") or DEFAULT_HEALTH_PATH
        digest = self._digest(spec)
        with self._registry_lock():
            self._reap()
            old = _read_json(self._endpoint_path(name))
            if old is not None:
                if self._process_running(old):
                    if old.get("spec_digest") == digest:
                        return self._endpoint_info(old)  # adopt: it is the one asked for
                    raise Conflict(
                        f"local endpoint {name} is already running (pid {old.get('pid')}) with a different spec",
                        resource=name,
                        hint="destroy it first, or pick another endpoint name",
                    )
                # The old process died: clear whatever its group left behind, then start anew.
                self._terminate(old, f"local endpoint {name}")
            port = self._choose_port(name, host, wanted_port)
            argv = [item.replace("{port}", str(port)) for item in command]
            env = {**env, "MODEL_PORT": str(port), "NIM_SERVER_PORT": str(port)}
            run_id = uuid.uuid4().hex
            record: dict[str, Any] = {
                "kind": "endpoint",
                "name": name,
                "run_id": run_id,
                "pid": None,
                "pgid": None,
                "start_time": None,
                "boot_id": boot_id(),
                "host": host,
                "port": port,
                "url": f"http://{_url_host(host)}:{port}",
                "health_path": health_path,
                "argv": argv,
                "spec": mask_secrets(spec),
                "spec_digest": digest,
                "created_at": time.time(),
                "log": str(self.endpoint_log_path(name)),
                "starter": _starter(),
            }
            # Recorded before the start, so a crash in between leaves a trace rather than nothing.
            _write_json(self._endpoint_path(name), record)
            checkpoint("local:recorded-before-start:endpoint")
            header = (
                f"---- nimctl: starting endpoint {name} on port {port} at "
                f"{time.strftime('%Y-%m-%d %H:%M:%S')}: {' '.join(argv)}\n"
            )
            try:
                pid, start = self._start(
                    argv,
                    env=env,
                    log_path=self.endpoint_log_path(name),
                    exit_path=self._endpoint_exit_path(name),
                    run_id=run_id,
                    cwd=None,
                    header=header,
                    truncate=False,
                )
            except Rejected as err:
                _unlink(self._endpoint_path(name))
                raise Rejected(f"local endpoint {name}: {err.message}", resource=name) from err
            checkpoint("local:started-before-recorded:endpoint")
            record.update(pid=pid, pgid=pid, start_time=start)
            _write_json(self._endpoint_path(name), record)
            return self._endpoint_info(record)

    def _choose_port(self, name: str, host: str, wanted: int | None) -> int:
        taken = {
            int(r["port"]): str(r.get("name"))
            for r in self._running_endpoint_records()
            if r.get("name") != name and r.get("port")
        }
        if wanted is not None:
            if wanted in taken:
                raise Rejected(
                    f"port {wanted} is already used by local endpoint {taken[wanted]}; endpoint {name} cannot use it",
                    resource=name,
                    hint="set another deployment.port, or `port: auto` to take a free one",
                )
            if _port_in_use(host, wanted):
                raise Rejected(
                    f"port {wanted} on {host} is already in use by another program; endpoint {name} "
                    "cannot listen on it",
                    resource=name,
                    hint=f"stop what listens there (see `ss -ltnp 'sport = :{wanted}'`), set another "
                    "deployment.port, or `port: auto`",
                )
            return wanted
        for _ in range(50):
            port = _free_port(host)
            # A recorded endpoint may still be starting and not have bound its port yet.
            if port not in taken:
                return port
        raise Transient(f"no free port found for local endpoint {name}", resource=name)

    def _running_endpoint_records(self) -> list[dict[str, Any]]:
        records = []
        for path in (self.root / "endpoints").glob("*.json"):
            record = _read_json(path)
            if record is not None and self._process_running(record):
                records.append(record)
        return records

    def _process_running(self, record: dict[str, Any]) -> bool:
        if record.get("pid") is None:  # being started right now, or a start that crashed
            if self._recover_pid(record):
                return True
            starter = record.get("starter") or {}
            if starter and not is_running(starter.get("pid"), starter.get("start_time"), record.get("boot_id")):
                return False  # the starter died before starting anything
            return time.time() - float(record.get("created_at") or 0) < NEVER_STARTED_S
        return is_running(record.get("pid"), record.get("start_time"), record.get("boot_id"))

    def _recover_pid(self, record: dict[str, Any]) -> bool:
        """A record without a pid whose runner is alive: the start was cut short (kill -9) after
        the process began but before its pid was recorded. Record it now, so it can be stopped."""
        found = find_runner(str(record.get("run_id")))
        if found is None:
            return False
        record.update(pid=found[0], pgid=found[0], start_time=found[1])
        path = (
            self._endpoint_path(str(record["name"]))
            if record.get("kind") == "endpoint"
            else self._job_path(str(record["id"]))
        )
        if path.exists():
            _write_json(path, record)
        return True

    def _exit_info(self, path: Path, run_id: str | None) -> dict[str, Any] | None:
        try:
            info = _read_json(path)
        except ProviderError:
            return None
        return info if info is not None and info.get("run_id") == run_id else None

    def _endpoint_info(self, record: dict[str, Any]) -> EndpointInfo:
        name = str(record["name"])
        running = self._process_running(record)  # first: it may recover the pid of a cut-short start
        extra = {key: record.get(key) for key in ("pid", "start_time", "port", "host", "log", "run_id")}
        if record.get("pid") is None:
            state, word = (ResourceState.PENDING, "Starting") if running else (ResourceState.FAILED, "Never started")
        elif running:
            status, detail = _http_status(
                str(record["url"]) + str(record.get("health_path") or ""), self.health_timeout
            )
            if status == 200:
                state, word = ResourceState.READY, "Ready"
            else:
                state, word = ResourceState.PENDING, f"Starting (health check: {detail})"
        else:
            exit_info = self._exit_info(self._endpoint_exit_path(name), record.get("run_id"))
            state, word = ResourceState.FAILED, _exited_word(exit_info)
            extra["exit_code"] = exit_info.get("exit_code") if exit_info else None
            extra["ended_at"] = exit_info.get("ended_at") if exit_info else None
        return EndpointInfo(
            name=name,
            state=state,
            platform_state=word,
            url=record.get("url"),
            spec=record.get("spec") or {},
            ready_replicas=1 if state is ResourceState.READY else 0,
            created_at=record.get("created_at"),
            extra=extra,
        )

    def update_endpoint(self, name: str, spec: dict[str, Any]) -> EndpointInfo:
        _check_name("endpoint", name)
        self._endpoint_record(name)  # NotFound first, like any platform
        raise Rejected(
            f"local endpoint {name} cannot be changed in place",
            resource=name,
            hint="replace instead: destroy it and create it with the new spec",
        )

    def delete_endpoint(self, name: str) -> None:
        _check_name("endpoint", name)
        with self._registry_lock():
            record = self._endpoint_record(name)
            self._terminate(record, f"local endpoint {name}")
            _unlink(self._endpoint_path(name))
            _unlink(self._endpoint_exit_path(name))

    def endpoint_events(self, name: str, limit: int = 10) -> list[str]:
        _check_name("endpoint", name)
        info = self.get_endpoint(name)
        status = f"process {info.extra.get('pid')}: {info.platform_state}"
        if info.state is ResourceState.FAILED and info.extra.get("ended_at"):
            ended = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.extra["ended_at"]))
            status += f" at {ended}"
        lines = tail_lines(self.endpoint_log_path(name), max(0, limit - 1))
        return [*lines, status][-limit:] if limit > 0 else []

    # -- jobs ------------------------------------------------------------------------------------

    def submit_job(self, name: str, spec: dict[str, Any]) -> JobInfo:
        _check_name("job", name)
        if not isinstance(spec, dict):
            raise Rejected(f"local job {name}: the spec must be a mapping", resource=name)
        cwd = spec.get("cwd")
        if cwd is not None and not Path(cwd).is_dir():
            raise Rejected(f"local job {name}: working directory {cwd} does not exist", resource=name)
        command = _check_command("job", name, spec.get("command"), cwd)
        env = {**_check_env("job", name, spec.get("env")), **_env_from("job", name, spec)}
        if ADAPTER_PORT_ENV not in env and ADAPTER_PORT_ENV not in os.environ:
            # Jobs on a real platform each have their own network; here they share this machine's.
            # nemo-evaluator's adapter proxy takes the first free port from 3825, and two harness
            # jobs started together can both pick it and mix requests: each job gets a port of its
            # own from the kernel's ephemeral range instead.
            env[ADAPTER_PORT_ENV] = str(_free_port("127.0.0.1"))
        output_dir = spec.get("output_dir")
        if not isinstance(output_dir, str) or not output_dir:
            raise Rejected(f"local job {name}: 'output_dir' is required", resource=name)
        out = Path(output_dir)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise Rejected(f"local job {name}: cannot create output directory {out}: {err}", resource=name) from err
        job_id = uuid.uuid4().hex
        record: dict[str, Any] = {
            "kind": "job",
            "id": job_id,
            "name": name,
            "run_id": job_id,
            "pid": None,
            "pgid": None,
            "start_time": None,
            "boot_id": boot_id(),
            "spec": mask_secrets(spec),
            "created_at": time.time(),
            "log": str(out / "job.log"),
            "output_dir": str(out),
            "starter": _starter(),
        }
        _write_json(self._job_path(job_id), record)
        checkpoint("local:recorded-before-start:job")
        header = f"---- nimctl: job {name} ({job_id}) started at {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
        try:
            pid, start = self._start(
                command,
                env=env,
                log_path=out / "job.log",
                exit_path=self._job_exit_path(job_id),
                run_id=job_id,
                cwd=cwd,
                header=header,
                truncate=True,
            )
        except Rejected as err:
            _unlink(self._job_path(job_id))
            raise Rejected(f"local job {name}: {err.message}", resource=name) from err
        checkpoint("local:started-before-recorded:job")
        record.update(pid=pid, pgid=pid, start_time=start)
        _write_json(self._job_path(job_id), record)
        return self._job_info(record)

    def get_job(self, job_id: str) -> JobInfo:
        self._reap()
        return self._job_info(self._job_record(job_id))

    def _job_records(self) -> list[dict[str, Any]]:
        records = []
        for path in sorted((self.root / "jobs").glob("*.json")):
            record = _read_json(path)
            if record is not None:
                records.append(record)
        return records

    def find_jobs(self, name: str) -> list[JobInfo]:
        self._reap()
        return [self._job_info(r) for r in self._job_records() if r.get("name") == name]

    def list_jobs(self) -> list[JobInfo]:
        self._reap()
        return [self._job_info(r) for r in self._job_records()]

    def _job_info(self, record: dict[str, Any]) -> JobInfo:
        job_id = str(record["id"])
        running = self._process_running(record)
        # Read the exit file after the liveness check: the runner writes it before it exits,
        # so a process seen gone has its exit file in place by now.
        exit_info = self._exit_info(self._job_exit_path(job_id), record.get("run_id"))
        stopped = record.get("stop_requested_at") is not None
        extra: dict[str, Any] = {key: record.get(key) for key in ("pid", "start_time", "log", "output_dir")}
        finished_at = None
        if exit_info is not None:
            code = exit_info.get("exit_code")
            extra["exit_code"] = code
            finished_at = exit_info.get("ended_at")
            if code == 0:
                state, word = JobState.SUCCEEDED, "Completed (exit code 0)"
            elif stopped:
                state, word = JobState.STOPPED, f"Stopped ({_ending(exit_info)})"
            else:
                state, word = JobState.FAILED, f"Failed ({_ending(exit_info)})"
        elif record.get("pid") is None:
            state, word = (JobState.PENDING, "Starting") if running else (JobState.FAILED, "Never started")
        elif running:
            state, word = (JobState.STOPPED, "Stopping") if stopped else (JobState.RUNNING, "Running")
        elif stopped:
            state, word = JobState.STOPPED, "Stopped"
            finished_at = record.get("stopped_at")
        else:
            state, word = JobState.FAILED, f"Failed ({_ending(None)})"
        return JobInfo(
            id=job_id,
            name=str(record.get("name")),
            state=state,
            platform_state=word,
            spec=record.get("spec") or {},
            created_at=record.get("created_at"),
            finished_at=finished_at,
            extra=extra,
        )

    def stop_job(self, job_id: str) -> None:
        record = self._job_record(job_id)
        if self._job_info(record).state.terminal:
            return
        record["stop_requested_at"] = time.time()
        _write_json(self._job_path(job_id), record)
        self._terminate(record, f"local job {record.get('name')} ({job_id})")
        record["stopped_at"] = time.time()
        _write_json(self._job_path(job_id), record)

    def delete_job(self, job_id: str) -> None:
        record = self._job_record(job_id)
        self._terminate(record, f"local job {record.get('name')} ({job_id})")
        _unlink(self._job_path(job_id))
        _unlink(self._job_exit_path(job_id))

    # -- logs ------------------------------------------------------------------------------------

    def logs(self, *, endpoint: str | None = None, job_id: str | None = None, limit: int = 200) -> list[str]:
        if (endpoint is None) == (job_id is None):
            raise Rejected("logs: give exactly one of endpoint= or job_id=")
        if endpoint is not None:
            _check_name("endpoint", endpoint)
            path = self.endpoint_log_path(endpoint)
            if _read_json(self._endpoint_path(endpoint)) is None and not path.exists():
                raise NotFound(f"local endpoint {endpoint} does not exist", resource=endpoint)
            return tail_lines(path, limit)
        record = self._job_record(str(job_id))
        return tail_lines(Path(record["log"]), limit)


def _ending(exit_info: dict[str, Any] | None) -> str:
    """How a process ended: "exit code 1", "signal 9" or "exit code unknown"."""
    if exit_info is None:
        return "exit code unknown"
    if exit_info.get("signal"):
        return f"signal {exit_info['signal']}"
    return f"exit code {exit_info.get('exit_code')}"


def _exited_word(exit_info: dict[str, Any] | None) -> str:
    return f"Exited ({_ending(exit_info)})"
