"""A platform held in memory, and the real apply/destroy engines driven in-process against it.

``MemoryPlatform`` implements the whole ``Provider`` protocol: endpoints are Ready as soon as
they are created (their URL is a loopback server that lists the served models, so the engine's
readiness probe runs for real), jobs end as ``job_outcome`` says the moment they are submitted,
and every call is counted. ``memory_workspace()`` gives a ``Workspace`` (a file state in a
temporary directory plus these platforms) for ``nimctl.apply.applier.run_apply`` and
``nimctl.apply.destroy.run_destroy``; ``apply`` / ``destroy`` call them with auto-approval and
collect the events. Nothing here re-implements the engine: tests and benchmarks that need an
applied state get it from the real applier.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from nimctl.apply.events import CollectEvents
from nimctl.providers.base import EndpointInfo, JobInfo, JobState, NotFound, ResourceState, Transient
from nimctl.stack.resources import Stack
from nimctl.state.model import State
from nimctl.state.store import StateStore

# -- the model server the readiness probe reaches ---------------------------------------------------


class ModelsServer:
    """Answers ``GET <anything>/models`` with every model name registered, on 127.0.0.1."""

    def __init__(self) -> None:
        self.models: set[str] = set()
        models = self.models

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                found = self.path.rstrip("/").endswith("/models")
                body = json.dumps({"object": "list", "data": [{"id": m} for m in sorted(models)]} if found else {})
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True, name="models-server").start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


_MODELS: ModelsServer | None = None
_MODELS_LOCK = threading.Lock()


def models_server() -> ModelsServer:
    """One per test process, started on first use (it ends with the process)."""
    global _MODELS
    with _MODELS_LOCK:
        if _MODELS is None:
            _MODELS = ModelsServer()
        return _MODELS


# -- the platform -----------------------------------------------------------------------------------


class MemoryPlatform:
    """Every Provider method, in memory. ``fail_with`` makes the next calls raise it;
    ``submit_error`` makes job submissions fail (with ``submit_lands``: after the job exists)."""

    def __init__(
        self, name: str = "lepton", *, job_outcome: Callable[[str, dict[str, Any]], JobState] | None = None
    ) -> None:
        self.name = name
        self.endpoints: dict[str, EndpointInfo] = {}
        self.jobs: dict[str, JobInfo] = {}
        self.calls: list[str] = []
        self.fail_with: Exception | None = None
        self.submit_error: Exception | None = None  # raised by submit_job ...
        self.submit_lands = False  # ... after the job was created (a lost answer) when True
        self.job_outcome = job_outcome or (lambda name, spec: JobState.SUCCEEDED)
        self.workspace_url = "http://127.0.0.1:9/memory-workspace"  # never called: only named in job specs
        self._submitted = 0
        self._lock = threading.Lock()

    def _call(self, what: str) -> None:
        with self._lock:
            self.calls.append(what)
        if self.fail_with is not None:
            raise self.fail_with

    # -- endpoints
    def list_endpoints(self) -> list[EndpointInfo]:
        self._call("list_endpoints")
        return sorted(self.endpoints.values(), key=lambda e: e.name)

    def get_endpoint(self, name: str) -> EndpointInfo:
        self._call("get_endpoint")
        if name not in self.endpoints:
            raise NotFound(f"endpoint {name} not found", resource=name)
        return self.endpoints[name]

    def create_endpoint(self, name: str, spec: dict[str, Any]) -> EndpointInfo:
        self._call("create_endpoint")
        url = f"{models_server().url}/{name}"
        info = EndpointInfo(name, ResourceState.READY, "Ready", url, json.loads(json.dumps(spec)), 1, time.time())
        self.endpoints[name] = info
        return info

    def update_endpoint(self, name: str, spec: dict[str, Any]) -> EndpointInfo:
        self._call("update_endpoint")
        if name not in self.endpoints:
            raise NotFound(f"endpoint {name} not found", resource=name)
        info = replace(self.endpoints[name], spec=json.loads(json.dumps(spec)))
        self.endpoints[name] = info
        return info

    def delete_endpoint(self, name: str) -> None:
        self._call("delete_endpoint")
        if self.endpoints.pop(name, None) is None:
            raise NotFound(f"endpoint {name} not found", resource=name)

    def endpoint_events(self, name: str, limit: int = 10) -> list[str]:
        return []

    # -- jobs
    def submit_job(self, name: str, spec: dict[str, Any]) -> JobInfo:
        self._call("submit_job")
        with self._lock:
            self._submitted += 1
            job_id = "job-" + hashlib.sha256(f"{name}|{self._submitted}".encode()).hexdigest()[:10]
        state = self.job_outcome(name, spec)
        now = time.time()
        word = {JobState.SUCCEEDED: "Completed", JobState.FAILED: "Failed"}.get(state, state.value.title())
        info = JobInfo(job_id, name, state, word, json.loads(json.dumps(spec)), now, now if state.terminal else None)
        if self.submit_error is not None and not self.submit_lands:
            raise self.submit_error
        self.jobs[job_id] = info
        if self.submit_error is not None:
            raise self.submit_error
        return info

    def get_job(self, job_id: str) -> JobInfo:
        self._call("get_job")
        if job_id not in self.jobs:
            raise NotFound(f"job {job_id} not found", resource=job_id)
        return self.jobs[job_id]

    def find_jobs(self, name: str) -> list[JobInfo]:
        self._call("find_jobs")
        return [j for j in self.jobs.values() if j.name == name]

    def list_jobs(self) -> list[JobInfo]:
        self._call("list_jobs")
        return sorted(self.jobs.values(), key=lambda j: j.id)

    def stop_job(self, job_id: str) -> None:
        self._call("stop_job")
        if job_id not in self.jobs:
            raise NotFound(f"job {job_id} not found", resource=job_id)
        job = self.jobs[job_id]
        if not job.state.terminal:
            self.jobs[job_id] = replace(job, state=JobState.STOPPED, platform_state="Stopped", finished_at=time.time())

    def delete_job(self, job_id: str) -> None:
        self._call("delete_job")
        if self.jobs.pop(job_id, None) is None:
            raise NotFound(f"job {job_id} not found", resource=job_id)

    def logs(self, *, endpoint: str | None = None, job_id: str | None = None, limit: int = 200) -> list[str]:
        return []

    # -- for tests that shape the platform by hand
    def add_endpoint(self, info: EndpointInfo) -> None:
        self.endpoints[info.name] = info

    def add_job(self, info: JobInfo) -> None:
        self.jobs[info.id] = info


def transient(platform: str = "lepton") -> Transient:
    return Transient(f"{platform}: 503 Service Unavailable after 5 attempts", resource="the endpoints")


# -- the engine, in-process -------------------------------------------------------------------------


@dataclass
class MemoryWorkspace:
    """A ``nimctl.apply.workspace.Workspace``: a file state plus in-memory platforms."""

    store: StateStore
    platforms: dict[str, MemoryPlatform] = field(default_factory=dict)
    lock_timeout: float = 0.0

    @property
    def state_dir(self) -> Path:
        """Beside the state file (where apply keeps the results cache)."""
        return Path(self.store.path).parent

    def providers_for(self, platforms: set[str]) -> dict[str, Any]:
        for name in platforms:
            self.platforms.setdefault(name, MemoryPlatform(name))
        return {p: self.platforms[p] for p in sorted(platforms)}

    @property
    def platform(self) -> MemoryPlatform:
        """The Lepton platform (most tests use only that one)."""
        return self.platforms.setdefault("lepton", MemoryPlatform("lepton"))

    def state(self) -> State:
        return self.store.read()


# The state is the real file store, fsync and all; on tmpfs an fsync costs nothing, so hundreds of
# generated applies stay fast on a loaded machine.
_RAM_DIR = "/dev/shm" if Path("/dev/shm").is_dir() else None


@contextmanager
def memory_workspace(
    *, lineage: str | None = None, job_state: JobState = JobState.SUCCEEDED
) -> Iterator[MemoryWorkspace]:
    """A workspace in a fresh temporary directory (removed afterwards). ``lineage`` fixes the
    state's lineage (golden files depend on it); every job ends in ``job_state``."""
    with tempfile.TemporaryDirectory(prefix="nimctl-memory-", dir=_RAM_DIR) as root:
        store = StateStore(Path(root) / "nimctl.state.json")
        if lineage is not None:
            store.write(State(lineage=lineage))
        ws = MemoryWorkspace(store)
        ws.platform.job_outcome = lambda name, spec: job_state
        yield ws


def apply(
    ws: MemoryWorkspace, stacks: list[Stack], *, invocation_id: str | None = None, **options: Any
) -> tuple[int, CollectEvents]:
    """The real ``run_apply`` on ``stacks``, approved; returns the exit code and the events."""
    from nimctl.apply.applier import ApplyOptions, run_apply

    models_server().models.update(s.endpoint.served_model_name for s in stacks if s.endpoint)
    events = CollectEvents()
    code = run_apply(ws, stacks, ApplyOptions(**options), events, lambda: True, invocation_id=invocation_id)
    return code, events


def destroy(ws: MemoryWorkspace, invocation: str | None = None, **options: Any) -> tuple[int, CollectEvents]:
    """The real ``run_destroy`` (everything unless ``invocation``), approved."""
    from nimctl.apply.destroy import DestroyOptions, run_destroy

    events = CollectEvents()
    code = run_destroy(
        ws, DestroyOptions(invocation=invocation, all=invocation is None, **options), events, lambda: True
    )
    return code, events


def applied_state(
    *stacks: Stack,
    job_state: JobState = JobState.SUCCEEDED,
    lineage: str | None = None,
    invocation_id: str = "0123456789abcdef",
) -> tuple[State, MemoryPlatform]:
    """The state the real applier leaves after applying ``stacks`` (jobs ended in ``job_state``;
    a job still running is what `apply --no-wait` leaves), and the platform it applied them to."""
    with memory_workspace(lineage=lineage, job_state=job_state) as ws:
        apply(ws, list(stacks), invocation_id=invocation_id, wait=job_state.terminal)
        return ws.state(), ws.platform
