"""The emulated workspace's in-memory objects and their lifecycles.

Everything here is plain Python behind one lock; the HTTP layer (``app.py``) only translates
requests into these calls. Lifecycles run on scheduled transitions that are applied lazily,
whenever anybody looks (``_advance``): no background threads, and a transition's events carry
the time it was due, not the time it was noticed.

Methods raise :class:`ApiError` (status + message) for anything the server would refuse.
Returned dicts are fresh JSON-ready copies in the wire format the ``leptonai`` SDK parses.
"""

from __future__ import annotations

import copy
import heapq
import itertools
import random
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ClassVar

from nimctl.offline.emulator.errors import ApiError, Invalid
from nimctl.offline.emulator.options import EmulatorOptions

if TYPE_CHECKING:
    from types import ModuleType

USER = "emulator-user@example.com"
NODE = {"name": "emulated-node-1", "id": "emulated-node-1"}
LOG_LINES_PER_OBJECT = 2000
MAX_PAGE_SIZE = 1000

ALIVE_ONLY, ARCHIVE_ONLY, ALIVE_AND_ARCHIVE = "alive_only", "archive_only", "alive_and_archive"
JOB_QUERY_MODES = (ALIVE_ONLY, ARCHIVE_ONLY, ALIVE_AND_ARCHIVE)
JOB_FINISHED = ("Completed", "Failed", "Stopped")


def _validation() -> ModuleType:
    """The SDK-model validators, imported on first use: the SDK's models take ~0.5 s to import."""
    from nimctl.offline.emulator import validation

    return validation


def _ms(at: float) -> int:
    return int(at * 1000)


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge recursively, null deletes, the rest replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


@dataclass
class _Object:
    """What deployments and jobs share: events, logs, replicas and scheduled transitions."""

    kind: ClassVar[str] = "Object"  # the k8s-style kind events of the object itself name
    name: str
    spec: dict[str, Any]
    metadata: dict[str, Any]
    state: str
    events: list[dict[str, Any]] = field(default_factory=list)
    logs: list[tuple[float, str, str]] = field(default_factory=list)  # (time, replica, line)
    replicas: list[str] = field(default_factory=list)
    pending: list[tuple[float, int, Callable[[float], object]]] = field(default_factory=list)

    def event(self, at: float, type_: str, reason: str, message: str, replica: str | None = None) -> None:
        regarding = {"kind": "Pod" if replica else self.kind, "name": replica or self.name}
        last = self.events[-1] if self.events else None
        if last and last["reason"] == reason and last["message"] == message and last["regarding"] == regarding:
            last["count"] += 1
            last["last_observed_time"] = _iso(at)
            return
        self.events.append(
            {
                "type": type_,
                "reason": reason,
                "message": message,
                "regarding": regarding,
                "count": 1,
                "last_observed_time": _iso(at),
            }
        )

    def log(self, at: float, line: str, replica: str | None = None) -> None:
        self.logs.append((at, replica or (self.replicas[0] if self.replicas else ""), line))
        del self.logs[:-LOG_LINES_PER_OBJECT]


@dataclass
class DeploymentRecord(_Object):
    kind: ClassVar[str] = "LeptonDeployment"
    phase: str | None = None
    readiness: tuple[str, str] = ("InProgress", "")  # (reason, message) for every replica
    terminations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    deleting: bool = False
    last_traffic: float = 0.0  # when the mock behind it last answered a request (or it became Ready)


@dataclass
class JobRecord(_Object):
    kind: ClassVar[str] = "LeptonJob"
    id: str = ""
    creation_time: float = 0.0
    completion_time: float | None = None
    archived: bool = False


class World:
    """The emulated workspace. ``options()`` is read at every step so live changes apply."""

    def __init__(
        self,
        options: Callable[[], EmulatorOptions],
        endpoint_url: Callable[[str], str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._options = options
        self._endpoint_url = endpoint_url
        self._clock = clock
        self._lock = threading.RLock()
        self._seq = itertools.count()
        self._temp_root: str | None = None  # see _files_root
        self.reset()

    # ------------------------------------------------------------------ housekeeping

    def reset(self) -> None:
        """Forget every object (the request log is kept elsewhere)."""
        with self._lock:
            seed = self._options().seed
            self._ids = random.Random(None if seed is None else seed + 1)
            self._deployments: dict[str, DeploymentRecord] = {}
            self._jobs: dict[str, JobRecord] = {}
            self._secrets: dict[str, dict[str, Any]] = {}
            self.history: list[dict[str, Any]] = []  # every create, ever: kind, name, id, time
            self._kill_processes()

    def shutdown(self) -> None:
        """End every job process still running (the emulator is stopping)."""
        with self._lock:
            self._kill_processes()
            if self._temp_root is not None:
                shutil.rmtree(self._temp_root, ignore_errors=True)
                self._temp_root = None

    def _kill_processes(self) -> None:
        for process in getattr(self, "_processes", {}).values():
            process.kill()
        self._processes: dict[str, Any] = {}  # job id -> runner.JobProcess of a job run for real

    def _now(self) -> float:
        return self._clock() + self._options().clock_offset

    def _schedule(self, obj: _Object, start: float, delay: float, action: Callable[[float], object]) -> None:
        """Run ``action(due_time)`` at ``start + delay``; chained steps pass their own due time as start."""
        heapq.heappush(obj.pending, (start + max(0.0, delay), next(self._seq), action))

    def _cancel(self, obj: _Object) -> None:
        obj.pending.clear()
        if isinstance(obj, JobRecord):
            process = self._processes.pop(obj.id, None)
            if process is not None:
                process.kill()

    def _advance(self) -> None:
        """Apply every transition that is due, in time order."""
        now = self._now()
        while True:
            due = [
                (obj.pending[0][0], obj.pending[0][1], obj)
                for obj in self._all_objects()
                if obj.pending and obj.pending[0][0] <= now
            ]
            if not due:
                return
            _, _, obj = min(due, key=lambda item: (item[0], item[1]))
            at, _, action = heapq.heappop(obj.pending)
            action(at)

    def _all_objects(self) -> list[_Object]:
        return [*self._deployments.values(), *self._jobs.values()]

    def _new_suffix(self, length: int) -> str:
        return "".join(self._ids.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(length))

    @staticmethod
    def _matches(pattern: str | None, *texts: str) -> bool:
        if not pattern:
            return False
        return any(re.search(pattern, text) for text in texts if text)

    def _missing_secret_refs(self, spec: dict[str, Any]) -> list[str]:
        if not self._options().require_secrets:
            return []
        names = [(env.get("value_from") or {}).get("secret_name_ref") for env in spec.get("envs") or []]
        names += [(tok.get("value_from") or {}).get("token_name_ref") for tok in spec.get("api_tokens") or []]
        return [name for name in names if name and name not in self._secrets]

    # ------------------------------------------------------------------ workspace

    def workspace_info(self) -> dict[str, Any]:
        with self._lock:
            self._advance()
            deployments = list(self._deployments.values())
            pods = sum(1 for d in deployments if d.spec.get("is_pod"))
            return {
                "build_time": "2025-01-01T00:00:00Z",
                "git_commit": "nimctl-emulator",
                "workspace_name": f"{self._options().workspace_id} (nimctl emulator)",
                "workspace_tier": "enterprise",
                "workspace_state": "normal",
                "supported_shapes": {},
                "workspace_disk_usage_bytes": 0,
                "workloads": {
                    "num_deployments": len(deployments) - pods,
                    "num_jobs": sum(1 for j in self._jobs.values() if not j.archived),
                    "num_pods": pods,
                    "num_secrets": len(self._secrets),
                    "num_image_pull_secrets": 0,
                },
                "resource_quota": {
                    "limit": {"cpu": 1024.0, "memory": 4194304, "accelerator_num": 64.0},
                    "used": {"cpu": 0.0, "memory": 0, "accelerator_num": 0.0},
                },
                "features": {
                    "enable_new_deployment_api": bool(self._options().new_deployment_api),
                    "enable_secure_endpoint_defaults": False,
                },
            }

    # ------------------------------------------------------------------ node groups and shapes

    def _node_group_json(self, name: str, group_id: str) -> dict[str, Any]:
        return {
            "metadata": {"id": group_id, "name": name, "created_at": 0, "version": 1},
            "spec": {"workspaces": [self._options().workspace_id], "gpu_product": "emulated", "desired_nodes": 1},
            "status": {"ready_nodes": 1, "quota_enabled": False},
        }

    def list_node_groups(self) -> list[dict[str, Any]]:
        return [self._node_group_json(name, gid) for name, gid in self._options().node_groups.items()]

    def get_node_group(self, group_id: str) -> dict[str, Any]:
        for name, gid in self._options().node_groups.items():
            if gid == group_id:
                return self._node_group_json(name, gid)
        raise ApiError(404, f"dedicated node group {group_id!r} not found")

    def node_group_nodes(self, group_id: str) -> list[dict[str, Any]]:
        self.get_node_group(group_id)
        node = f"{group_id}-node-1"
        return [
            {
                "metadata": {"id": node, "name": node},
                "spec": {"unschedulable": False, "dedicated_node_group": group_id},
                "status": {},
            }
        ]

    def list_shapes(self, node_group: str | None = None, purpose: str | None = None) -> list[dict[str, Any]]:
        shapes = []
        for name in self._options().shapes:
            kind, _, size = name.partition(".")
            count = size.split("x", 1)[0] if "x" in size else ("1" if kind == "gpu" else "0")
            gpus = float(count) if count.isdigit() else 1.0
            spec: dict[str, Any] = {"name": name, "cpu": 4.0 if kind == "cpu" else 16.0 * gpus, "memory_in_mb": 16384}
            if kind == "gpu":
                spec.update({"accelerator_type": size.split("x")[-1].upper(), "accelerator_num": gpus})
            shapes.append({"metadata": {"id": name, "name": name}, "spec": spec})
        return shapes

    def _check_placement(self, spec: dict[str, Any], shape: Any, affinity: Any, what: str) -> None:
        """Refuse a resource shape the workspace does not offer and node groups that are not the
        ids of its node groups (Lepton's affinity takes ids; a name matches nothing)."""
        options = self._options()
        if shape and shape not in options.shapes:
            raise ApiError(
                400,
                f"{what}: resource shape {shape!r} is not available in workspace {options.workspace_id} "
                f"(available: {', '.join(options.shapes)})",
            )
        wanted = (affinity or {}).get("allowed_dedicated_node_groups") or [] if isinstance(affinity, dict) else []
        ids = set(options.node_groups.values())
        for group in wanted:
            if group not in ids:
                known = ", ".join(f"{n} (id {i})" for n, i in options.node_groups.items()) or "none"
                raise ApiError(400, f"{what}: dedicated node group id {group!r} not found (node groups: {known})")

    def _check_deployment_placement(self, spec: dict[str, Any], name: str) -> None:
        requirement = spec.get("resource_requirement") or {}
        self._check_placement(spec, requirement.get("resource_shape"), requirement.get("affinity"), f"endpoint {name}")

    # ------------------------------------------------------------------ deployments

    def _deployment(self, name: str) -> DeploymentRecord:
        record = self._deployments.get(name)
        if record is None:
            raise ApiError(404, f"deployment {name!r} not found")
        return record

    def _deployment_json(self, d: DeploymentRecord) -> dict[str, Any]:
        status: dict[str, Any] = {
            "state": d.state,
            "endpoint": {
                "internal_endpoint": f"http://{d.name}.{self._options().workspace_id}.svc:8080",
                "external_endpoint": self._endpoint_url(d.name),
            },
            "autoscaler_status": {"desired_replicas": len(d.replicas)},
            "ready_replicas": len(d.replicas) if d.state == "Ready" else 0,
        }
        if d.phase:
            status["phase"] = d.phase
        return {"metadata": copy.deepcopy(d.metadata), "spec": copy.deepcopy(d.spec), "status": status}

    def _set_state(self, d: DeploymentRecord, state: str, phase: str | None = None) -> None:
        d.state, d.phase = state, phase or state

    def _start_replicas(self, d: DeploymentRecord, at: float, state: str, reason: str) -> None:
        """Begin a rollout: fresh replicas, an InProgress readiness, Ready/Error after ready_after."""
        self._cancel(d)
        self._set_state(d, state)
        count = (d.spec.get("resource_requirement") or {}).get("min_replicas", 1)
        if count == 0 and not self._autoscales(d.spec):
            self._set_state(d, "Not Ready", "Stopped")
            d.replicas, d.readiness = [], ("Deleted", "scaled to zero replicas")
            d.event(at, "Normal", "ScaledToZero", "min_replicas is 0: no replicas are running")
            return
        prefix = f"{d.name}-{self._new_suffix(10)}"
        d.replicas = [f"{prefix}-{self._new_suffix(5)}" for _ in range(max(1, count))]
        image = (d.spec.get("container") or {}).get("image", "")
        d.readiness = ("InProgress", f"{reason}: pulling image {image}")
        for replica in d.replicas:
            d.event(at, "Normal", "Scheduled", f"Successfully assigned {replica} to {NODE['name']}", replica)
            d.event(at, "Normal", "Pulling", f'Pulling image "{image}"', replica)
            d.log(at, f"[emulator] pulling image {image}", replica)
        self._schedule(d, at, self._options().ready_after, lambda when: self._finish_rollout(d, when))
        not_ready = self._scale_down(d.spec, "not_ready_timeout")
        if not_ready:
            self._schedule(d, at, not_ready, lambda when: self._not_ready_check(d, when))

    @staticmethod
    def _scale_down(spec: dict[str, Any], key: str) -> float:
        value = ((spec.get("auto_scaler") or {}).get("scale_down") or {}).get(key)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else 0.0

    def _scale_to_zero(self, d: DeploymentRecord, at: float, message: str) -> None:
        """The autoscaler's scale-down: no replica left (Lepton does not scale up from zero)."""
        self._set_state(d, "Not Ready", "Stopped")
        d.replicas, d.readiness = [], ("Deleted", message)
        d.event(at, "Normal", "ScaledToZero", message)

    def _idle_check(self, d: DeploymentRecord, at: float) -> None:
        timeout = self._scale_down(d.spec, "no_traffic_timeout")
        if d.state != "Ready" or not timeout:
            return
        if at - d.last_traffic >= timeout:
            self._scale_to_zero(d, at, f"scaled to zero after {timeout:g} s without traffic")
        else:
            self._schedule(d, d.last_traffic, timeout, lambda when: self._idle_check(d, when))

    def _not_ready_check(self, d: DeploymentRecord, at: float) -> None:
        if d.state not in ("Ready", "Not Ready") and not d.deleting:
            timeout = self._scale_down(d.spec, "not_ready_timeout")
            self._scale_to_zero(d, at, f"scaled to zero after {timeout:g} s without becoming ready")

    @staticmethod
    def _autoscales(spec: dict[str, Any]) -> bool:
        scale_down = (spec.get("auto_scaler") or {}).get("scale_down") or {}
        return bool(scale_down.get("no_traffic_timeout"))

    def _finish_rollout(self, d: DeploymentRecord, at: float) -> None:
        options = self._options()
        image = (d.spec.get("container") or {}).get("image", "")
        missing = self._missing_secret_refs(d.spec)
        if self._matches(options.error_image_pattern, image):
            message = f'Failed to pull image "{image}": manifest unknown (image not found)'
            self._fail_deployment(d, at, "ErrImagePull", message, exit_code=None)
        elif missing:
            message = f'secret "{missing[0]}" not found'
            self._fail_deployment(d, at, "CreateContainerConfigError", message, exit_code=None)
        elif self._matches(options.error_name_pattern, d.name):
            message = "Back-off restarting failed container: the server exited with code 1 during startup"
            self._fail_deployment(d, at, "CrashLoopBackOff", message, exit_code=1)
        else:
            self._set_state(d, "Ready")
            d.readiness = ("Ready", "")
            d.last_traffic = at
            idle = self._scale_down(d.spec, "no_traffic_timeout")
            if idle:
                self._schedule(d, at, idle, lambda when: self._idle_check(d, when))
            for replica in d.replicas:
                d.event(at, "Normal", "Pulled", f'Successfully pulled image "{image}"', replica)
                d.event(at, "Normal", "Started", "Started container main", replica)
                d.log(at, f"[emulator] serving {self.served_model_name(d)} on port 8000", replica)
                d.log(at, "INFO:     Application startup complete.", replica)

    def _fail_deployment(
        self, d: DeploymentRecord, at: float, reason: str, message: str, exit_code: int | None
    ) -> None:
        self._set_state(d, "Error")
        d.readiness = ("ConfigError", f"{reason}: {message}")
        for replica in d.replicas:
            d.event(at, "Warning", reason, message, replica)
            d.log(at, f"[emulator] {reason}: {message}", replica)
            if exit_code is not None:
                d.terminations.setdefault(replica, []).append(
                    {
                        "started_at": int(at) - 1,
                        "finished_at": int(at),
                        "exit_code": exit_code,
                        "reason": "Error",
                        "message": message,
                    }
                )

    def served_model_name(self, d: DeploymentRecord) -> str:
        """The model id the mock behind an endpoint serves: from its envs, else the endpoint name."""
        envs = {env.get("name"): env for env in d.spec.get("envs") or []}
        for key in ("NIM_SERVED_MODEL_NAME", "SERVED_MODEL_NAME", "NIM_MODEL_NAME"):
            env = envs.get(key)
            if env is None:
                continue
            if env.get("value"):
                return str(env["value"])
            ref = (env.get("value_from") or {}).get("secret_name_ref")
            if ref and ref in self._secrets:
                return str(self._secrets[ref]["value"])
        return d.name

    def list_deployments(self) -> list[dict[str, Any]]:
        with self._lock:
            self._advance()
            return [self._deployment_json(d) for d in self._deployments.values()]

    def get_deployment(self, name: str) -> dict[str, Any]:
        with self._lock:
            self._advance()
            return self._deployment_json(self._deployment(name))

    def create_deployment(self, body: Any) -> dict[str, Any]:
        with self._lock:
            self._advance()
            if not isinstance(body, dict):
                raise ApiError(400, "the deployment must be a JSON object")
            metadata = body.get("metadata") or {}
            name = metadata.get("name") or metadata.get("id")
            problem = _validation().endpoint_name_problem(name)
            if problem:
                raise ApiError(400, problem)
            assert isinstance(name, str)  # endpoint_name_problem refuses anything else
            existing = self._deployments.get(name)
            if existing is not None:
                if existing.deleting:
                    raise ApiError(409, f"deployment {name!r} is being deleted; retry once the deletion has finished")
                raise ApiError(409, f"deployment {name!r} already exists")
            try:
                check = _validation()
                spec = check.with_server_defaults(check.validate_deployment_spec(body.get("spec") or {}))
            except Invalid as error:
                raise ApiError(400, str(error)) from None
            self._check_deployment_placement(spec, name)
            now = self._now()
            meta = {
                "id": name,
                "name": name,
                "created_at": _ms(now),
                "version": 1,
                "created_by": USER,
                "owner": USER,
                "last_modified_at": _ms(now),
                "visibility": "private",
            }
            labels = metadata.get("labels")
            if isinstance(labels, dict):
                meta["labels"] = {str(k): str(v) for k, v in labels.items()}
            record = DeploymentRecord(name=name, spec=spec, metadata=meta, state="Starting")
            self._deployments[name] = record
            self.history.append({"kind": "deployment", "name": name, "id": name, "time": now})
            record.event(now, "Normal", "Created", f"Endpoint {name} created")
            self._start_replicas(record, now, "Starting", "Starting")
            return self._deployment_json(record)

    def patch_deployment(self, name: str, body: Any, dryrun: bool = False) -> dict[str, Any]:
        with self._lock:
            self._advance()
            d = self._deployment(name)
            if d.deleting:
                raise ApiError(409, f"deployment {name!r} is being deleted and cannot be updated")
            if not isinstance(body, dict):
                raise ApiError(400, "the patch must be a JSON object")
            merged = merge_patch(d.spec, body.get("spec") or {})
            labels = (body.get("metadata") or {}).get("labels")
            return self._update_spec(d, merged, labels if isinstance(labels, dict) else None, dryrun)

    def _update_spec(
        self, d: DeploymentRecord, merged: dict[str, Any], labels: dict[str, Any] | None, dryrun: bool
    ) -> dict[str, Any]:
        """Validate and apply a deployment's new spec (or preview it); a changed spec rolls out."""
        name = d.name
        with self._lock:
            try:
                merged = _validation().validate_deployment_spec(merged)
            except Invalid as error:
                raise ApiError(400, str(error)) from None
            self._check_deployment_placement(merged, name)
            metadata = d.metadata
            if labels is not None:
                metadata = merge_patch(metadata, {"labels": labels})
            if dryrun:
                preview = DeploymentRecord(
                    name=d.name, spec=merged, metadata=metadata, state=d.state, phase=d.phase, replicas=list(d.replicas)
                )
                return self._deployment_json(preview)
            changed = merged != d.spec
            d.spec, d.metadata = merged, dict(metadata)
            if changed:
                now = self._now()
                d.metadata["version"] = d.metadata.get("version", 1) + 1
                d.metadata["last_modified_at"] = _ms(now)
                d.event(now, "Normal", "Updated", f"Endpoint {name} updated to version {d.metadata['version']}")
                self._start_replicas(d, now, "Updating", "Updating")
            return self._deployment_json(d)

    # ---- the new endpoint API family (/endpoints): the same records, HTTPEndpoint bodies

    def _endpoint_view(self, d: DeploymentRecord) -> dict[str, Any]:
        from nimctl.offline.emulator.endpoints_api import endpoint_json

        return endpoint_json(self._deployment_json(d), d.deleting)

    def list_endpoints(self) -> list[dict[str, Any]]:
        with self._lock:
            self._advance()
            return [self._endpoint_view(d) for d in self._deployments.values() if not d.spec.get("is_pod")]

    def get_endpoint(self, name: str) -> dict[str, Any]:
        with self._lock:
            self._advance()
            return self._endpoint_view(self._deployment(name))

    def create_endpoint(self, body: Any) -> dict[str, Any]:
        from nimctl.offline.emulator.endpoints_api import create_body

        with self._lock:
            legacy = create_body(body)
            name = legacy["metadata"]["name"]
            self.create_deployment(legacy)
            return self._endpoint_view(self._deployment(name))

    def patch_endpoint(self, name: str, body: Any, dryrun: bool = False) -> dict[str, Any]:
        from nimctl.offline.emulator.endpoints_api import endpoint_json, merged_spec

        with self._lock:
            self._advance()
            d = self._deployment(name)
            if d.deleting:
                raise ApiError(409, f"endpoint {name!r} is being deleted and cannot be updated")
            updated = self._update_spec(d, merged_spec(d.spec, body), None, dryrun)
            return endpoint_json(updated, d.deleting)

    def delete_endpoint(self, name: str) -> dict[str, Any]:
        from nimctl.offline.emulator.endpoints_api import endpoint_json

        return endpoint_json(self.delete_deployment(name), True)

    def restart_endpoint(self, name: str) -> dict[str, Any]:
        from nimctl.offline.emulator.endpoints_api import endpoint_json

        return endpoint_json(self.restart_deployment(name), False)

    def delete_deployment(self, name: str) -> dict[str, Any]:
        with self._lock:
            self._advance()
            d = self._deployment(name)
            if not d.deleting:
                now = self._now()
                self._cancel(d)
                d.deleting = True
                self._set_state(d, "Deleting")
                d.readiness = ("Deleting", "the endpoint is being deleted")
                d.event(now, "Normal", "Deleting", f"Endpoint {name} is being deleted")
                self._schedule(d, now, self._options().delete_after, lambda when: self._deployments.pop(name, None))
            return self._deployment_json(d)

    def restart_deployment(self, name: str) -> dict[str, Any]:
        with self._lock:
            self._advance()
            d = self._deployment(name)
            if d.deleting:
                raise ApiError(409, f"deployment {name!r} is being deleted and cannot be restarted")
            now = self._now()
            d.event(now, "Normal", "Restarting", f"Endpoint {name} restart requested")
            self._start_replicas(d, now, "Restarting", "Restarting")
            return self._deployment_json(d)

    def deployment_readiness(self, name: str) -> dict[str, Any]:
        with self._lock:
            self._advance()
            d = self._deployment(name)
            reason, message = d.readiness
            stamp = _iso(d.metadata.get("last_modified_at", 0) / 1000)
            return {
                replica: [{"reason": reason, "message": message, "creationTimestamp": stamp}] for replica in d.replicas
            }

    def deployment_terminations(self, name: str) -> dict[str, Any]:
        with self._lock:
            self._advance()
            return copy.deepcopy(self._deployment(name).terminations)

    def deployment_replicas(self, name: str) -> list[dict[str, Any]]:
        with self._lock:
            self._advance()
            d = self._deployment(name)
            return [self._replica_json(r, d.metadata.get("last_modified_at")) for r in d.replicas]

    @staticmethod
    def _replica_json(replica: str, created_ms: int | None) -> dict[str, Any]:
        return {
            "metadata": {"id": replica, "name": replica, "created_at": created_ms},
            "id": replica,
            "status": {"node": dict(NODE), "domains": []},
        }

    def deployment_events(self, name: str) -> list[dict[str, Any]]:
        with self._lock:
            self._advance()
            return copy.deepcopy(self._deployment(name).events)

    def deployment_replica_log(self, name: str, replica: str) -> list[str]:
        with self._lock:
            self._advance()
            d = self._deployment(name)
            if replica not in d.replicas and not any(r == replica for _, r, _ in d.logs):
                raise ApiError(404, f"replica {replica!r} of deployment {name!r} not found")
            return [line for _, r, line in d.logs if r == replica]

    def endpoint_target(self, name: str) -> tuple[str, str, list[str] | None] | None:
        """(state, served model, accepted tokens or None when open) for the mock behind an endpoint."""
        with self._lock:
            self._advance()
            d = self._deployments.get(name)
            if d is None:
                return None
            if d.state == "Ready":
                d.last_traffic = self._now()  # a request through the endpoint is traffic
            tokens: list[str] = []
            for token in d.spec.get("api_tokens") or []:
                if token.get("value"):
                    tokens.append(token["value"])
                ref = (token.get("value_from") or {}).get("token_name_ref")
                if ref and ref in self._secrets:
                    tokens.append(str(self._secrets[ref]["value"]))
            has_tokens = bool(d.spec.get("api_tokens")) and not d.spec.get("allow_unauthenticated_access")
            return d.state, self.served_model_name(d), (tokens if has_tokens else None)

    # ------------------------------------------------------------------ jobs

    def _job(self, job_id: str, mode: str = ALIVE_AND_ARCHIVE) -> JobRecord:
        job = self._jobs.get(job_id)
        if job is None or not self._visible(job, mode):
            raise ApiError(404, f"job {job_id!r} not found")
        return job

    @staticmethod
    def _visible(job: JobRecord, mode: str) -> bool:
        if mode == ALIVE_ONLY:
            return not job.archived
        if mode == ARCHIVE_ONLY:
            return job.archived
        return True

    def _job_json(self, job: JobRecord) -> dict[str, Any]:
        running = job.state == "Running"
        status: dict[str, Any] = {
            "job_name": job.name,
            "state": job.state,
            "ready": len(job.replicas) if running else 0,
            "active": len(job.replicas) if running else 0,
            "failed": 1 if job.state == "Failed" else 0,
            "succeeded": (job.spec.get("completions") or 1) if job.state == "Completed" else 0,
            "creation_time": int(job.creation_time),
            "job_history": [],
        }
        if job.completion_time is not None:
            status["completion_time"] = int(job.completion_time)
        return {"metadata": copy.deepcopy(job.metadata), "spec": copy.deepcopy(job.spec), "status": status}

    def create_job(self, body: Any) -> dict[str, Any]:
        with self._lock:
            self._advance()
            try:
                name, metadata, spec = _validation().validate_job(body)
            except Invalid as error:
                raise ApiError(400, str(error)) from None
            self._check_placement(spec, spec.get("resource_shape"), spec.get("affinity"), f"job {name}")
            now = self._now()
            job_id = f"{name}-{self._new_suffix(4)}"
            while job_id in self._jobs:
                job_id = f"{name}-{self._new_suffix(4)}"
            metadata.update(
                {
                    "id": job_id,
                    "name": name,
                    "created_at": _ms(now),
                    "version": 1,
                    "created_by": USER,
                    "owner": USER,
                    "last_modified_at": _ms(now),
                }
            )
            metadata.setdefault("visibility", "private")
            job = JobRecord(name=name, spec=spec, metadata=metadata, state="Queueing", id=job_id, creation_time=now)
            self._jobs[job_id] = job
            self.history.append({"kind": "job", "name": name, "id": job_id, "time": now})
            self._queue_job(job, now)
            return self._job_json(job)

    def _queue_job(self, job: JobRecord, at: float) -> None:
        self._cancel(job)
        job.completion_time, job.replicas = None, []
        start_at = (job.spec.get("time_schedule") or {}).get("start_at")
        if isinstance(start_at, (int, float)) and not isinstance(start_at, bool) and start_at > at:
            # time_schedule.start_at (unix seconds): the job waits, then queues like any other.
            job.state = "Awaiting"
            job.event(at, "Normal", "Scheduled", f"Job {job.name} starts at {_iso(start_at)}")
            self._schedule(job, at, start_at - at, lambda when: self._enqueue(job, when))
            return
        self._enqueue(job, at)

    def _enqueue(self, job: JobRecord, at: float) -> None:
        job.state = "Queueing"
        job.event(at, "Normal", "Queueing", f"Job {job.name} is waiting for resources")
        self._schedule(job, at, self._options().queue_time, lambda when: self._run_job(job, when))

    def _run_job(self, job: JobRecord, at: float) -> None:
        workers = max(1, job.spec.get("parallelism") or 1)
        job.replicas = [f"{job.id}-{index}-{self._new_suffix(5)}" for index in range(workers)]
        job.state = "Running"
        command = " ".join((job.spec.get("container") or {}).get("command") or [])
        for replica in job.replicas:
            job.event(at, "Normal", "Started", f"Started container for {replica}", replica)
            job.log(at, f"[emulator] running: {command or '(image entrypoint)'}", replica)
        image = (job.spec.get("container") or {}).get("image", "")
        if self._matches(self._options().run_job_images, image) and (job.spec.get("container") or {}).get("command"):
            self._start_process(job)
            return
        self._schedule(job, at, self._options().job_duration, lambda when: self._finish_job(job, when))

    def _start_process(self, job: JobRecord) -> None:
        """Run the job's command for real (``runner``); it finishes when the process exits."""
        from nimctl.offline.emulator import runner

        env = {"LEPTON_WORKSPACE_ID": self._options().workspace_id, "LEPTON_JOB_NAME": job.name}
        for entry in job.spec.get("envs") or []:
            ref = (entry.get("value_from") or {}).get("secret_name_ref")
            if ref:
                if ref in self._secrets:
                    env[entry["name"]] = str(self._secrets[ref]["value"])
            elif entry.get("value") is not None:
                env[entry["name"]] = str(entry["value"])
        missing = self._missing_secret_refs(job.spec)
        if missing:  # Lepton does not start a container whose secret is missing
            self._schedule(job, self._now(), 0.0, lambda when: self._finish_job(job, when))
            return
        command = [str(part) for part in (job.spec.get("container") or {}).get("command") or []]
        paths, own_dir = runner.container_paths(self._files_root(), job.id, list(job.spec.get("mounts") or []))

        def exited(code: int, lines: list[str]) -> None:
            shutil.rmtree(own_dir, ignore_errors=True)  # the pod's disk goes with it
            with self._lock:
                if self._processes.get(job.id) is not process:
                    return  # stopped or deleted meanwhile: that transition already happened
                del self._processes[job.id]
                at = self._now()
                replica = job.replicas[0] if job.replicas else None
                for line in lines:
                    job.log(at, line, replica)
                job.completion_time = at
                if code == 0:
                    job.state = "Completed"
                    job.event(at, "Normal", "Completed", "Job completed")
                else:
                    job.state = "Failed"
                    job.event(at, "Warning", "BackoffLimitExceeded", f"the command exited with code {code}")
                self._schedule_archive(job)

        process = runner.start(command, env, exited, paths=paths, cwd=own_dir)
        self._processes[job.id] = process

    def _files_root(self) -> str:
        """Where jobs run for real keep their emulated files (``job_files`` option, else a
        temporary directory of this emulator, removed when it stops)."""
        chosen = self._options().job_files
        if chosen:
            return chosen
        if self._temp_root is None:
            self._temp_root = tempfile.mkdtemp(prefix="nimctl-emulator-")
        return self._temp_root

    def _finish_job(self, job: JobRecord, at: float) -> None:
        options = self._options()
        container = job.spec.get("container") or {}
        command = " ".join(container.get("command") or [])
        missing = self._missing_secret_refs(job.spec)
        job.completion_time = at
        if missing:
            job.state = "Failed"
            job.event(at, "Warning", "CreateContainerConfigError", f'secret "{missing[0]}" not found')
        elif self._matches(options.fail_job_pattern, job.name, container.get("image", ""), command):
            job.state = "Failed"
            for replica in job.replicas:
                job.log(at, "[emulator] command exited with code 1", replica)
            job.event(
                at,
                "Warning",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit: the command exited with code 1",
            )
        else:
            job.state = "Completed"
            for replica in job.replicas:
                job.log(at, "[emulator] command exited with code 0", replica)
            job.event(at, "Normal", "Completed", "Job completed")
        self._schedule_archive(job)

    def _schedule_archive(self, job: JobRecord) -> None:
        ttl = job.spec.get("ttl_seconds_after_finished")
        if ttl is not None and ttl >= 0:
            finished = job.completion_time if job.completion_time is not None else self._now()
            self._schedule(job, finished, float(ttl), lambda when: setattr(job, "archived", True))

    def list_jobs(
        self,
        mode: str = ALIVE_ONLY,
        page: int | None = None,
        page_size: int | None = None,
        q: str | None = None,
        status: list[str] | None = None,
        created_by: list[str] | None = None,
        query: str | None = None,
    ) -> list[dict[str, Any]]:
        """Jobs in creation order, filtered; one page of them when paging is asked for."""
        if mode not in JOB_QUERY_MODES:
            raise ApiError(400, f"job_query_mode must be one of {', '.join(JOB_QUERY_MODES)}")
        with self._lock:
            self._advance()
            jobs = [j for j in self._jobs.values() if self._visible(j, mode)]
            if q:
                jobs = [j for j in jobs if q.lower() in j.name.lower() or q.lower() in j.id.lower()]
            # State and user filters are case-insensitive prefixes, as `lep job list -s run -u alice` expects.
            if status:
                wanted = [s.lower() for s in status]
                jobs = [j for j in jobs if any(j.state.lower().startswith(w) for w in wanted)]
            if created_by:
                users = [u.lower() for u in created_by]
                jobs = [
                    j for j in jobs if any(str(j.metadata.get("created_by", "")).lower().startswith(u) for u in users)
                ]
            if query:
                jobs = [j for j in jobs if self._label_match(j.metadata.get("labels") or {}, query)]
            if page is not None or page_size is not None:
                size = page_size or 50
                number = page or 1
                if number < 1 or not 1 <= size <= MAX_PAGE_SIZE:
                    raise ApiError(400, f"page must be >= 1 and page_size between 1 and {MAX_PAGE_SIZE}")
                jobs = jobs[(number - 1) * size : number * size]
            return [self._job_json(j) for j in jobs]

    @staticmethod
    def _label_match(labels: dict[str, str], selector: str) -> bool:
        for term in filter(None, (t.strip() for t in selector.split(","))):
            key, sep, value = term.partition("=")
            if key not in labels or (sep and labels[key] != value.lstrip("=")):
                return False
        return True

    def get_job(self, job_id: str, mode: str = ALIVE_AND_ARCHIVE) -> dict[str, Any]:
        with self._lock:
            self._advance()
            return self._job_json(self._job(job_id, mode))

    def patch_job(self, job_id: str, body: Any) -> dict[str, Any]:
        with self._lock:
            self._advance()
            job = self._job(job_id, ALIVE_ONLY)
            if job.state == "Deleting":
                raise ApiError(409, f"job {job_id!r} is being deleted and cannot be updated")
            if not isinstance(body, dict):
                raise ApiError(400, "the patch must be a JSON object")
            try:
                merged = _validation().validate_job_spec(merge_patch(job.spec, body.get("spec") or {}))
            except Invalid as error:
                raise ApiError(400, str(error)) from None
            was_stopped, job.spec = bool(job.spec.get("stopped")), merged
            now = self._now()
            if merged.get("stopped") and not was_stopped and job.state not in JOB_FINISHED:
                self._cancel(job)
                job.state = "Stopping"
                job.event(now, "Normal", "Stopping", f"Job {job.name} is stopping")
                self._schedule(job, now, self._options().delete_after, lambda when: self._stopped(job, when))
            elif not merged.get("stopped") and was_stopped and job.state in ("Stopped", "Stopping"):
                job.event(now, "Normal", "Resuming", f"Job {job.name} was started again")
                self._queue_job(job, now)
            return self._job_json(job)

    def _stopped(self, job: JobRecord, at: float) -> None:
        job.state, job.completion_time, job.replicas = "Stopped", at, []
        job.event(at, "Normal", "Stopped", f"Job {job.name} stopped")
        self._schedule_archive(job)

    def delete_job(self, job_id: str, mode: str = ALIVE_ONLY) -> dict[str, Any]:
        with self._lock:
            self._advance()
            job = self._job(job_id, mode)
            if job.state != "Deleting":
                now = self._now()
                self._cancel(job)
                job.state = "Deleting"
                job.event(now, "Normal", "Deleting", f"Job {job.name} is being deleted")
                self._schedule(job, now, self._options().delete_after, lambda when: self._jobs.pop(job_id, None))
            return self._job_json(job)

    def job_events(self, job_id: str) -> list[dict[str, Any]]:
        with self._lock:
            self._advance()
            return copy.deepcopy(self._job(job_id).events)

    def job_replicas(self, job_id: str, mode: str = ALIVE_AND_ARCHIVE) -> list[dict[str, Any]]:
        with self._lock:
            self._advance()
            job = self._job(job_id, mode)
            return [self._replica_json(r, _ms(job.creation_time)) for r in job.replicas]

    def job_replica_log(self, job_id: str, replica: str) -> list[str]:
        with self._lock:
            self._advance()
            job = self._job(job_id)
            lines = [line for _, r, line in job.logs if r == replica]
            if not lines and replica not in job.replicas:
                raise ApiError(404, f"replica {replica!r} of job {job_id!r} not found")
            return lines

    # ------------------------------------------------------------------ secrets

    def list_secrets(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{k: v for k, v in s.items() if k != "value"} for s in self._secrets.values()]

    def create_secrets(self, body: Any) -> None:
        with self._lock:
            try:
                items = _validation().validate_secrets(body)
            except Invalid as error:
                raise ApiError(400, str(error)) from None
            names = [item["name"] for item in items]
            taken = [n for n in names if n in self._secrets]
            if taken or len(set(names)) != len(names):
                raise ApiError(409, f"secret {(taken or names)[0]!r} already exists; remove it first")
            for item in items:
                item.setdefault("owner", USER)
                item.setdefault("visibility", "private")
                self._secrets[item["name"]] = item

    def delete_secret(self, name: str) -> None:
        with self._lock:
            if self._secrets.pop(name, None) is None:
                raise ApiError(404, f"secret {name!r} not found")

    def secret_value(self, name: str) -> str | None:
        with self._lock:
            secret = self._secrets.get(name)
            return None if secret is None else str(secret["value"])

    # ------------------------------------------------------------------ logs

    def logs(
        self,
        deployment: str | None = None,
        job: str | None = None,
        replica: str | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = None,
        q: str | None = None,
        direction: str = "backward",
        job_query_mode: str | None = None,
    ) -> dict[str, Any]:
        """A Loki-style query result of the lines an object has logged (times in ns). An archived
        job's lines answer only a query whose ``job_query_mode`` includes archived jobs (the SDK
        sends it only with ``start`` and ``end``); without one, only live jobs are searched."""
        with self._lock:
            self._advance()
            if deployment:
                obj: _Object | None = self._deployments.get(deployment)
                label = {"deployment": deployment}
            elif job:
                found = self._jobs.get(job)
                obj = found if found is not None and self._visible(found, job_query_mode or ALIVE_ONLY) else None
                label = {"job": job}
            else:
                raise ApiError(400, "one of deployment, endpoint or job is required")
            lines = list(obj.logs) if obj else []
        selected = []
        for at, rep, line in lines:
            ns = int(at * 1e9)
            if (replica and rep != replica) or (q and q not in line):
                continue
            if (start is not None and ns < start) or (end is not None and ns > end):
                continue
            selected.append((ns, rep, line))
        if direction != "forward":
            selected.reverse()
        if limit:
            selected = selected[:limit]
        streams: dict[str, list[list[str]]] = {}
        for ns, rep, line in selected:
            streams.setdefault(rep, []).append([str(ns), line])
        return {
            "status": "success",
            "data": {
                "resultType": "streams",
                "result": [{"stream": {**label, "replica": rep}, "values": values} for rep, values in streams.items()],
            },
        }

    # ------------------------------------------------------------------ assertions and dumps

    def deployment(self, name: str) -> dict[str, Any] | None:
        """A deployment as ``GET`` returns it (None when gone); includes ones being deleted."""
        with self._lock:
            self._advance()
            record = self._deployments.get(name)
            return None if record is None else self._deployment_json(record)

    def deployments(self) -> list[dict[str, Any]]:
        return self.list_deployments()

    def jobs(self, name: str | None = None) -> list[dict[str, Any]]:
        """All jobs, archived ones too (optionally only those named ``name``)."""
        jobs = self.list_jobs(ALIVE_AND_ARCHIVE)
        return [j for j in jobs if name is None or j["metadata"]["name"] == name]

    def secret_names(self) -> list[str]:
        with self._lock:
            return list(self._secrets)

    def creates(self, kind: str, name: str) -> int:
        """How many times a deployment or job of this name was created, ever."""
        with self._lock:
            return sum(1 for h in self.history if h["kind"] == kind and h["name"] == name)

    def snapshot(self) -> dict[str, Any]:
        """Everything, for ``/_emulator/state`` (secret values left out)."""
        with self._lock:
            return {
                "deployments": self.list_deployments(),
                "jobs": self.jobs(),
                "secrets": self.list_secrets(),
                "history": copy.deepcopy(self.history),
            }
