"""The inputs hash of a job: ``task_hash_input`` gathers everything that decides a task's result,
``canonical_hash`` hashes it (key order never matters)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from nimctl.stack.specs.deployment import Deployment
from nimctl.stack.specs.env import hashable_env, merge_env
from nimctl.stack.specs.task_plan import DEFAULT_DATASET_MOUNT_PATH, TaskPlan


def canonical_hash(data: Any) -> str:
    """sha256 hex of canonical JSON: key order never matters."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def task_hash_input(
    task: TaskPlan, deployment: Deployment, platform: str, shared_env: list[dict[str, Any]]
) -> dict[str, Any]:
    """Everything that decides a task's result (hashed into DesiredJob.inputs_hash). Not in it:
    replicas, autoscaling, names, the invocation id, URLs, output paths."""
    data: dict[str, Any] = {
        "v": 1,
        "platform": platform,
        "task": {
            "name": task.name,
            "kind": task.kind,
            "resolved": task.resolved,
            "image": task.image,
            "command": task.command,
            "builtin": task.builtin,
            "endpoint_type": task.endpoint_type,
            "params": task.params,
            "run_config": task.run_config,
            "pre_cmd": task.pre_cmd,
            "post_cmd": task.post_cmd,
            "dataset_dir": task.dataset_dir,
            "env": hashable_env(merge_env(shared_env, task.env)),
        },
        "model": {**deployment.model_facts(), "api_key_name": deployment.api_key_name},
    }
    if task.dataset_dir and task.dataset_mount_path != DEFAULT_DATASET_MOUNT_PATH:
        data["task"]["dataset_mount_path"] = task.dataset_mount_path  # only when set: older hashes stay
    return data
