"""Local specs: what the local provider takes to start a model server process and job processes.

Endpoint: ``{"command", "port", "host", "env", "health_path"}``; job: ``{"command", "env",
"output_dir"}``. Both may carry ``"env_from": {NAME: VARIABLE}``: env values that reference a
secret (``value_from.secret_name_ref: VARIABLE``) are read from nimctl's own environment
variable of that name when the process starts, so the value is never written anywhere.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from nimctl.common.envref import host_variable, runtime_variable
from nimctl.stack.specs.deployment import Deployment
from nimctl.stack.specs.job_env import job_env_entries
from nimctl.stack.specs.markers import INVOCATION_MARKER
from nimctl.stack.specs.scripts import RUN_EVAL_COMMAND, job_script_command
from nimctl.stack.specs.task_plan import TaskPlan

LOCAL_HOST = "127.0.0.1"


def split_env(entries: list[dict[str, Any]]) -> tuple[dict[str, str], dict[str, str]]:
    """Lepton env entries → (literal env mapping, env_from mapping). host:VAR and runtime:VAR
    values are both read from the environment the process starts in: on this machine, that is
    nimctl's own."""
    env: dict[str, str] = {}
    env_from: dict[str, str] = {}
    for entry in entries:
        variable = host_variable(entry.get("value")) or runtime_variable(entry.get("value"))
        if "value_from" in entry or variable:
            env_from[entry["name"]] = variable or entry["value_from"]["secret_name_ref"]
            env.pop(entry["name"], None)
        else:
            env[entry["name"]] = entry["value"]
            env_from.pop(entry["name"], None)
    return env, env_from


def endpoint_spec(deployment: Deployment) -> dict[str, Any]:
    port = deployment.port if isinstance(deployment.port, int) else None
    derived = {
        "SERVED_MODEL_NAME": deployment.served_model_name,
        "NIM_MODEL_NAME": deployment.served_model_name,
        "NIM_SERVED_MODEL_NAME": deployment.served_model_name,
    }
    if port is not None:  # with port "auto" the provider knows the port only when it picks one
        derived.update({"MODEL_PORT": str(port), "NIM_SERVER_PORT": str(port)})
    user_env, env_from = split_env(deployment.user_envs)
    env = {**{k: v for k, v in derived.items() if k not in env_from}, **user_env}
    spec: dict[str, Any] = {
        "command": list(deployment.command or []),
        "port": port,
        "host": LOCAL_HOST,
        "env": env,
        "health_path": deployment.paths["health"],
    }
    if env_from:
        spec["env_from"] = env_from
    return spec


def job_template(
    config: dict[str, Any],
    task: TaskPlan,
    deployment: Deployment,
    *,
    stack: str,
    output_root: str,
    shared_env: list[dict[str, Any]],
) -> dict[str, Any]:
    """The job spec with the invocation directory still marked in output paths."""
    output_dir = os.path.join(output_root, INVOCATION_MARKER, task.dir_name)
    entries = job_env_entries(
        config,
        task,
        deployment,
        stack=stack,
        output_dir=output_dir,
        shared_env=shared_env,
        dataset_dir=task.dataset_dir,
    )
    env, env_from = split_env(entries)
    spec: dict[str, Any] = {"command": job_command(task), "env": env, "output_dir": output_dir}
    if env_from:
        spec["env_from"] = env_from
    return spec


def job_command(task: TaskPlan) -> list[str]:
    if task.kind == "command":
        return job_script_command(list(task.command or []))
    if task.kind == "builtin":
        return job_script_command([sys.executable, "-m", f"nimctl.builtin_tasks.{task.builtin}"])
    return list(RUN_EVAL_COMMAND)
