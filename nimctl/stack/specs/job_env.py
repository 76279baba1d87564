"""A job's environment: ``job_env_entries`` gives the env entries every job gets (NIMCTL_* values,
the run config and extras for harness tasks, the endpoint key, the user's env vars), as Lepton
env entries that the local specs translate."""

from __future__ import annotations

import json
from typing import Any

from nimctl.common import job_vars
from nimctl.stack.specs.deployment import Deployment
from nimctl.stack.specs.env import merge_env
from nimctl.stack.specs.key_wiring import KeyWiring, key_wiring
from nimctl.stack.specs.markers import PENDING_URL
from nimctl.stack.specs.run_config import dump_run_config, run_config_document
from nimctl.stack.specs.task_plan import TaskPlan


def base_url(url: str) -> str:
    """The server's base URL (no ``/v1...``): what NIMCTL_ENDPOINT_URL carries."""
    url = url.rstrip("/")
    marker = url.find("/v1/")
    if marker != -1:
        return url[:marker]
    return url[:-3] if url.endswith("/v1") else url


def job_env_entries(
    config: dict[str, Any],
    task: TaskPlan,
    deployment: Deployment,
    *,
    stack: str,
    output_dir: str,
    shared_env: list[dict[str, Any]],
    dataset_dir: str | None,
) -> list[dict[str, Any]]:
    """A job's environment as Lepton env entries: NIMCTL_* values, the run config (harness tasks),
    the endpoint key (wired automatically), then the user's env vars (execution-wide, then the
    task's own), later ones winning."""
    user_env = merge_env(shared_env, task.env)
    wiring = key_wiring(deployment, user_env)
    key_env = wiring.entry
    url = base_url(deployment.target_url) if not deployment.managed and deployment.target_url else PENDING_URL
    nimctl_env = [
        {"name": job_vars.ENDPOINT_URL, "value": url},
        {"name": job_vars.MODEL_ID, "value": deployment.served_model_name},
        {"name": job_vars.API_KEY_ENV, "value": deployment.api_key_name},
        {"name": job_vars.OUTPUT_DIR, "value": output_dir},
        {"name": job_vars.TASK_PARAMS, "value": json.dumps(task.params, sort_keys=True)},
    ]
    if task.time_limit is not None:
        nimctl_env.append({"name": "NIMCTL_TASK_TIMEOUT_S", "value": str(task.time_limit.seconds)})
    if task.kind == "harness":
        key_name = None if wiring.kind is KeyWiring.NONE else deployment.api_key_name
        document = run_config_document(task, deployment, stack=stack, output_dir=output_dir, api_key_name=key_name)
        nimctl_env += _harness_env(config, task, document, dataset_dir=dataset_dir)
    return merge_env(nimctl_env, [key_env] if key_env else [], user_env)


def _harness_env(
    config: dict[str, Any], task: TaskPlan, run_config: dict[str, Any], *, dataset_dir: str | None
) -> list[dict[str, Any]]:
    """The data JOB_SCRIPT reads: the run config document and the optional extras."""
    env = [{"name": "NIMCTL_RUN_CONFIG", "value": dump_run_config(run_config)}]
    if task.pre_cmd:
        env.append({"name": "NIMCTL_PRE_CMD", "value": task.pre_cmd})
    if task.post_cmd:
        env.append({"name": "NIMCTL_POST_CMD", "value": task.post_cmd})
    if dataset_dir:
        env.append({"name": "NEMO_EVALUATOR_DATASET_DIR", "value": dataset_dir})
    return env
