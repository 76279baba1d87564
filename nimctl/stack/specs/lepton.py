"""Lepton specs: the deployment spec (LeptonDeploymentUserSpec JSON) and job spec templates
(LeptonJobUserSpec JSON with the per-invocation values still marked)."""

from __future__ import annotations

import copy
from typing import Any

from nimctl.common import keypath
from nimctl.config.rules import DEFAULT_MOUNT_FROM, JOB_TTL_SECONDS
from nimctl.stack.lifetime import scale_down_defaults
from nimctl.stack.specs.deployment import Deployment
from nimctl.stack.specs.env import merge_env, split_runtime
from nimctl.stack.specs.job_env import job_env_entries
from nimctl.stack.specs.markers import INVOCATION_MARKER
from nimctl.stack.specs.problems import Problems
from nimctl.stack.specs.scripts import RUN_EVAL_COMMAND, job_script_command, wrapped_command
from nimctl.stack.specs.task_plan import TaskPlan
from nimctl.stack.specs.values import deep_merge, task_key

# Top-level fields of leptonai 0.47's LeptonDeploymentUserSpec (a test keeps this in step with
# the SDK). Platform defaults outside this set would be dropped silently by the SDK: nimctl
# drops them itself and says so.
DEPLOYMENT_SPEC_FIELDS = frozenset(
    {
        "container",
        "resource_requirement",
        "auto_scaler",
        "api_tokens",
        "envs",
        "mounts",
        "storage_attachments",
        "reservation_config",
        "image_pull_secrets",
        "health",
        "is_pod",
        "user_security_context",
        "log",
        "metrics",
        "routing_policy",
        "queue_config",
        "scheduling_policy",
        "auth_config",
        "allow_unauthenticated_access",
        "ingress_enabled",
        "ingress_timeout_seconds",
        "load_balance_config",
    }
)

JOB_SHARED_MEMORY_MIB = 1024
DEFAULT_JOB_OUTPUT_ROOT = "/results"


# -- endpoint ---------------------------------------------------------------------------------


def endpoint_spec(config: dict[str, Any], deployment: Deployment, problems: Problems) -> dict[str, Any]:
    """The deployment spec, built in DESIGN §3's layers."""
    spec = _platform_defaults(config, problems)
    _node_group_affinity(spec, keypath.get(config, "execution.lepton_platform.deployment.node_group"))
    spec["container"] = _container(deployment)
    _resource_requirement(spec, config, problems)
    _auto_scaler(spec, config)
    health = keypath.get(config, "deployment.lepton_config.health")
    if isinstance(health, dict) and health:
        spec["health"] = deep_merge(spec.get("health") or {}, health)
    spec["envs"] = merge_env(list(spec.get("envs") or []), deployment.user_envs, _derived_envs(deployment))
    _mounts(spec, config, problems)
    pull_secrets = _unique(
        [
            *(spec.get("image_pull_secrets") or []),
            *(keypath.get(config, "execution.lepton_platform.tasks.image_pull_secrets", []) or []),
        ]
    )
    if pull_secrets:
        spec["image_pull_secrets"] = pull_secrets
    if deployment.api_tokens:
        spec["api_tokens"] = copy.deepcopy(deployment.api_tokens)
    return spec


def _platform_defaults(config: dict[str, Any], problems: Problems) -> dict[str, Any]:
    key = "execution.lepton_platform.deployment.platform_defaults"
    defaults = copy.deepcopy(keypath.get(config, key, {}) or {})
    if not isinstance(defaults, dict):
        problems.error(key, "must be a mapping of deployment spec fields")
        return {}
    for name in [k for k in defaults if k not in DEPLOYMENT_SPEC_FIELDS]:
        problems.warn(
            f"{key}.{name}",
            "is not a field of the Lepton deployment API; nimctl leaves it out",
            "remove it from platform_defaults",
        )
        del defaults[name]
    return defaults


def _node_group_affinity(spec: dict[str, Any], node_group: Any) -> None:
    if not node_group:
        return
    requirement = spec.setdefault("resource_requirement", {})
    affinity = requirement.get("affinity") or {}
    requirement["affinity"] = {**affinity, "allowed_dedicated_node_groups": [str(node_group)]}


def _container(deployment: Deployment) -> dict[str, Any]:
    container: dict[str, Any] = {"image": deployment.image, "ports": [{"container_port": deployment.port}]}
    if deployment.command:
        container["command"] = list(deployment.command)
    return container


def _resource_requirement(spec: dict[str, Any], config: dict[str, Any], problems: Problems) -> None:
    key = "deployment.lepton_config"
    shape = keypath.get(config, f"{key}.resource_shape")
    if not shape:
        problems.error(f"{key}.resource_shape", "is required on Lepton", "e.g. resource_shape: gpu.1xh200")
    minimum = keypath.get(config, f"{key}.min_replicas")
    maximum = keypath.get(config, f"{key}.max_replicas")
    # The SDK's model rejects max without min; always send both.
    if minimum is None:
        minimum = 1 if maximum is None or maximum >= 1 else 0
    if maximum is None:
        maximum = max(minimum, 1)
    if isinstance(minimum, int) and isinstance(maximum, int) and minimum > maximum:
        problems.error(
            f"{key}.max_replicas",
            f"max_replicas ({maximum}) is below min_replicas ({minimum})",
            "set max_replicas >= min_replicas",
        )
    requirement = spec.setdefault("resource_requirement", {})
    requirement.update({"resource_shape": str(shape or ""), "min_replicas": minimum, "max_replicas": maximum})


def _auto_scaler(spec: dict[str, Any], config: dict[str, Any]) -> None:
    """The config's autoscaler over the platform defaults', then nimctl's scale-down bound for
    every timeout neither sets (``nimctl.stack.lifetime``): an endpoint left behind by a nimctl
    that died scales to zero on the platform's own. An explicit 0 (off) is the user's choice."""
    raw = keypath.get(config, "deployment.lepton_config.auto_scaler")
    if isinstance(raw, dict):
        scaler = _without_empty(copy.deepcopy(raw))
        scale_down = scaler.get("scale_down")
        if isinstance(scale_down, dict):
            # Not in the current Lepton API; config validation has already warned about it.
            scale_down.pop("scale_from_zero", None)
        scaler = _without_empty(scaler)
        if scaler:
            spec["auto_scaler"] = deep_merge(spec.get("auto_scaler") or {}, scaler)
    scaler = spec.setdefault("auto_scaler", {})
    scale_down = scaler.get("scale_down") if isinstance(scaler.get("scale_down"), dict) else {}
    scaler["scale_down"] = {**scale_down_defaults(config), **scale_down}


def _without_empty(node: Any) -> Any:
    """Drop None values and mappings that end up empty."""
    if isinstance(node, dict):
        cleaned = {k: _without_empty(v) for k, v in node.items() if v is not None}
        return {k: v for k, v in cleaned.items() if v != {}}
    return node


def _derived_envs(deployment: Deployment) -> list[dict[str, Any]]:
    """SERVED_MODEL_NAME, NIM_MODEL_NAME (NIM), MODEL_PORT - unless the user set them."""
    taken = {e["name"] for e in deployment.user_envs}
    derived = [{"name": "SERVED_MODEL_NAME", "value": deployment.served_model_name}]
    if deployment.type == "nim":
        derived.append({"name": "NIM_MODEL_NAME", "value": deployment.served_model_name})
    derived.append({"name": "MODEL_PORT", "value": str(deployment.port)})
    return [e for e in derived if e["name"] not in taken]


def _mounts(spec: dict[str, Any], config: dict[str, Any], problems: Problems) -> None:
    key = "deployment.lepton_config.mounts"
    mounts = keypath.get(config, key)
    if not isinstance(mounts, dict) or not mounts.get("enabled"):
        return
    cache_path, mount_path = mounts.get("cache_path"), mounts.get("mount_path")
    for name, value in (("cache_path", cache_path), ("mount_path", mount_path)):
        if not value:
            problems.error(
                f"{key}.{name}",
                "is required when mounts.enabled is true",
                "set the storage path of the model cache and where the container sees it",
            )
    cache = {"path": str(cache_path or ""), "from": storage_source(config), "mount_path": str(mount_path or "")}
    spec["mounts"] = [*(spec.get("mounts") or []), cache]


def storage_source(config: dict[str, Any]) -> str:
    """Where endpoint mounts come from: the first task mount's ``from`` (the launcher's rule)."""
    task_mounts = keypath.get(config, "execution.lepton_platform.tasks.mounts", []) or []
    if task_mounts and isinstance(task_mounts[0], dict) and task_mounts[0].get("from"):
        return str(task_mounts[0]["from"])
    return DEFAULT_MOUNT_FROM


def _unique(items: list[Any]) -> list[str]:
    return list(dict.fromkeys(str(i) for i in items))


# -- jobs -------------------------------------------------------------------------------------


def job_template(
    config: dict[str, Any],
    task: TaskPlan,
    deployment: Deployment,
    *,
    stack: str,
    shared_env: list[dict[str, Any]],
    problems: Problems,
) -> dict[str, Any]:
    """The job spec with NIMCTL_ENDPOINT_URL and the mounts' invocation directory still marked."""
    mounts = _job_mounts(config, task)
    output_dir = _job_output_dir(config, task)
    spec: dict[str, Any] = {
        "resource_shape": str(keypath.get(config, "execution.evaluation_tasks.resource_shape", "cpu.small"))
    }
    node_group = keypath.get(config, "execution.lepton_platform.tasks.node_group")
    if node_group:
        spec["affinity"] = {"allowed_dedicated_node_groups": [str(node_group)]}
    envs, runtime_text = split_runtime(
        job_env_entries(
            config,
            task,
            deployment,
            stack=stack,
            output_dir=output_dir,
            shared_env=shared_env,
            dataset_dir=task.dataset_mount_path if task.dataset_dir else None,
        )
    )
    command = _job_command(task)
    if runtime_text:  # runtime:VAR values are resolved in the container, as it starts
        envs.append({"name": "NIMCTL_RUNTIME_ENV", "value": runtime_text})
        command = wrapped_command(command)
    spec["container"] = {"image": _job_image(task, problems), "command": command}
    spec["completions"] = 1
    spec["parallelism"] = 1
    # The job's log is how its result files come back (the container's disk is gone with the pod).
    spec["envs"] = merge_env([{"name": "NIMCTL_RESULTS_TO_LOG", "value": "1"}], envs)
    spec["mounts"] = mounts
    spec["image_pull_secrets"] = _unique(
        keypath.get(config, "execution.lepton_platform.tasks.image_pull_secrets", []) or []
    )
    spec["shared_memory_size"] = JOB_SHARED_MEMORY_MIB
    spec["ttl_seconds_after_finished"] = JOB_TTL_SECONDS
    return spec


def _job_image(task: TaskPlan, problems: Problems) -> str:
    if task.image:
        return task.image
    what = "a command task" if task.kind == "command" else f"built-in task {task.resolved}"
    problems.error(
        task_key(task.index, "container"),
        f"{what} needs a container image on Lepton",
        "set container: to an image that has the command (built-ins need nimctl installed)",
    )
    return ""


def _job_command(task: TaskPlan) -> list[str]:
    if task.kind == "command":
        return job_script_command(list(task.command or []))
    if task.kind == "builtin":
        return job_script_command(["python", "-m", f"nimctl.builtin_tasks.{task.builtin}"])
    return list(RUN_EVAL_COMMAND)


def _job_mounts(config: dict[str, Any], task: TaskPlan) -> list[dict[str, Any]]:
    mounts = []
    for mount in keypath.get(config, "execution.lepton_platform.tasks.mounts", []) or []:
        if not isinstance(mount, dict):
            continue
        entry = {k: copy.deepcopy(v) for k, v in mount.items() if v is not None}
        entry["from"] = str(mount.get("from") or DEFAULT_MOUNT_FROM)
        # Each invocation works in its own directory of the shared storage (as the launcher does).
        entry["path"] = f"{str(mount.get('path') or '').rstrip('/')}/{INVOCATION_MARKER}"
        mounts.append(entry)
    if task.dataset_dir:
        mounts.append({"path": task.dataset_dir, "from": storage_source(config), "mount_path": task.dataset_mount_path})
    return mounts


def results_storage(config: dict[str, Any], task: TaskPlan) -> str | None:
    """Where the job's output directory lives on storage when the first task mount holds it
    (``<path>/<invocation marker>/<task> on <from>``); None when it stays in the container."""
    for mount in keypath.get(config, "execution.lepton_platform.tasks.mounts", []) or []:
        if isinstance(mount, dict) and mount.get("mount_path"):
            path = f"{str(mount.get('path') or '').rstrip('/')}/{INVOCATION_MARKER}/{task.dir_name}"
            return f"{path} on {mount.get('from') or DEFAULT_MOUNT_FROM}"
    return None


def _job_output_dir(config: dict[str, Any], task: TaskPlan) -> str:
    """Results go to the first task mount (already per invocation), else inside the container."""
    for mount in keypath.get(config, "execution.lepton_platform.tasks.mounts", []) or []:
        if isinstance(mount, dict) and mount.get("mount_path"):
            return f"{str(mount['mount_path']).rstrip('/')}/{task.dir_name}"
    return f"{DEFAULT_JOB_OUTPUT_ROOT}/{task.dir_name}"
