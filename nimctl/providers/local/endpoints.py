"""Local endpoints: a server process per endpoint, on a checked or free port, ready when its
health path answers 200; adopted when running with the same spec, never changed in place.

``LocalEndpoints`` is the endpoint part of ``LocalProvider``, on ``LocalProcesses``.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from nimctl.common.checkpoints import checkpoint
from nimctl.providers.base import Conflict, EndpointInfo, Rejected, ResourceState, Transient
from nimctl.providers.local.network import free_port, http_status, port_in_use
from nimctl.providers.local.proc import boot_id, starter
from nimctl.providers.local.processes import LocalProcesses, exited_word
from nimctl.providers.local.registry import read_json, tail_lines, unlink, write_json
from nimctl.providers.local.specs import (
    check_command,
    check_env,
    check_host,
    check_name,
    check_port,
    env_from,
    mask_secrets,
    url_host,
)

DEFAULT_HEALTH_PATH = "/v1/health/ready"


class LocalEndpoints(LocalProcesses):
    """The endpoint methods of ``base.Provider`` on this machine."""

    health_timeout: float  # seconds a health check may take (set by LocalProvider.__init__)

    def list_endpoints(self) -> list[EndpointInfo]:
        self._reap()
        infos = []
        for path in sorted((self.root / "endpoints").glob("*.json")):
            record = read_json(path)
            if record is not None:
                infos.append(self._endpoint_info(record))
        return infos

    def get_endpoint(self, name: str) -> EndpointInfo:
        check_name("endpoint", name)
        self._reap()
        return self._endpoint_info(self._endpoint_record(name))

    def create_endpoint(self, name: str, spec: dict[str, Any]) -> EndpointInfo:
        check_name("endpoint", name)
        if not isinstance(spec, dict):
            raise Rejected(f"local endpoint {name}: the spec must be a mapping", resource=name)
        env = {**check_env("endpoint", name, spec.get("env")), **env_from("endpoint", name, spec)}
        command = check_command("endpoint", name, spec.get("command"), env=env)
        host = check_host(name, spec.get("host"))
        wanted_port = check_port(name, spec.get("port"))
        health_path = spec.get("health_path") or DEFAULT_HEALTH_PATH
        digest = self._digest(spec)
        with self._registry_lock():
            self._reap()
            old = read_json(self._endpoint_path(name))
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
                "url": f"http://{url_host(host)}:{port}",
                "health_path": health_path,
                "argv": argv,
                "spec": mask_secrets(spec),
                "spec_digest": digest,
                "created_at": time.time(),
                "log": str(self.endpoint_log_path(name)),
                "starter": starter(),
            }
            # Recorded before the start, so a crash in between leaves a trace rather than nothing.
            write_json(self._endpoint_path(name), record)
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
                unlink(self._endpoint_path(name))
                raise Rejected(f"local endpoint {name}: {err.message}", resource=name) from err
            checkpoint("local:started-before-recorded:endpoint")
            record.update(pid=pid, pgid=pid, start_time=start)
            write_json(self._endpoint_path(name), record)
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
            if port_in_use(host, wanted):
                raise Rejected(
                    f"port {wanted} on {host} is already in use by another program; endpoint {name} "
                    "cannot listen on it",
                    resource=name,
                    hint=f"stop what listens there (see `ss -ltnp 'sport = :{wanted}'`), set another "
                    "deployment.port, or `port: auto`",
                )
            return wanted
        for _ in range(50):
            port = free_port(host)
            # A recorded endpoint may still be starting and not have bound its port yet.
            if port not in taken:
                return port
        raise Transient(f"no free port found for local endpoint {name}", resource=name)

    def _running_endpoint_records(self) -> list[dict[str, Any]]:
        records = []
        for path in (self.root / "endpoints").glob("*.json"):
            record = read_json(path)
            if record is not None and self._process_running(record):
                records.append(record)
        return records

    def _endpoint_info(self, record: dict[str, Any]) -> EndpointInfo:
        name = str(record["name"])
        running = self._process_running(record)  # first: it may recover the pid of a cut-short start
        extra = {key: record.get(key) for key in ("pid", "start_time", "port", "host", "log", "run_id")}
        if record.get("pid") is None:
            state, word = (ResourceState.PENDING, "Starting") if running else (ResourceState.FAILED, "Never started")
        elif running:
            status, detail = http_status(str(record["url"]) + str(record.get("health_path") or ""), self.health_timeout)
            if status == 200:
                state, word = ResourceState.READY, "Ready"
            else:
                state, word = ResourceState.PENDING, f"Starting (health check: {detail})"
        else:
            exit_info = self._exit_info(self._endpoint_exit_path(name), record.get("run_id"))
            state, word = ResourceState.FAILED, exited_word(exit_info)
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
        check_name("endpoint", name)
        self._endpoint_record(name)  # NotFound first, like any platform
        raise Rejected(
            f"local endpoint {name} cannot be changed in place",
            resource=name,
            hint="replace instead: destroy it and create it with the new spec",
        )

    def delete_endpoint(self, name: str) -> None:
        check_name("endpoint", name)
        with self._registry_lock():
            record = self._endpoint_record(name)
            self._terminate(record, f"local endpoint {name}")
            unlink(self._endpoint_path(name))
            unlink(self._endpoint_exit_path(name))

    def endpoint_events(self, name: str, limit: int = 10) -> list[str]:
        check_name("endpoint", name)
        info = self.get_endpoint(name)
        status = f"process {info.extra.get('pid')}: {info.platform_state}"
        if info.state is ResourceState.FAILED and info.extra.get("ended_at"):
            ended = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.extra["ended_at"]))
            status += f" at {ended}"
        lines = tail_lines(self.endpoint_log_path(name), max(0, limit - 1))
        return [*lines, status][-limit:] if limit > 0 else []
