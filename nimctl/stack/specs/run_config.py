"""A harness task's NeMo Evaluator run config: the document (the user's run config with nimctl's
values filled in) and its YAML text, written and read back."""

from __future__ import annotations

import copy
from typing import Any

from nimctl.stack.specs.deployment import DEFAULT_ENDPOINT_PATHS, Deployment
from nimctl.stack.specs.markers import PENDING_URL
from nimctl.stack.specs.task_plan import TaskPlan


def run_config_document(
    task: TaskPlan, deployment: Deployment, *, stack: str, output_dir: str, api_key_name: str | None
) -> dict[str, Any]:
    """The task's NeMo Evaluator run config with nimctl's values filled in where the user left
    them unset. The endpoint URL stays PENDING_URL until apply (unless the target is fixed).

    The key is named only by ``api_key_name`` (the variable holding it), never by ``api_key``:
    nemo-evaluator 0.2.5 removed ``api_key`` and forbids unknown keys, and 0.1.49-0.2.4 refuse
    both set to different values. A user's run config that still writes ``api_key`` (the
    launcher's old spelling, which always held a variable name) has it moved to ``api_key_name``.
    ``api_key_name`` None: the job gets no key, and the run config names none.
    """
    assert task.run_config is not None
    document = copy.deepcopy(task.run_config)
    config_section = document.setdefault("config", {})
    config_section.setdefault("output_dir", output_dir)
    endpoint = document.setdefault("target", {}).setdefault("api_endpoint", {})
    endpoint.setdefault("url", deployment.target_url if not deployment.managed else PENDING_URL)
    endpoint.setdefault("model_id", deployment.served_model_name)
    endpoint.setdefault("type", task.endpoint_type)
    legacy = endpoint.pop("api_key", None)
    if endpoint.get("api_key_name") is None and legacy is not None:
        endpoint["api_key_name"] = str(legacy)
    if api_key_name is not None:
        endpoint.setdefault("api_key_name", api_key_name)
    elif endpoint.get("api_key_name") is None:
        endpoint.pop("api_key_name", None)
    path = deployment.paths.get(task.endpoint_type, DEFAULT_ENDPOINT_PATHS.get(task.endpoint_type, ""))
    document.setdefault("metadata", {})["nimctl"] = {"stack": stack, "task": task.name, "endpoint_path": path}
    return document


def dump_run_config(document: dict[str, Any]) -> str:
    """The run config as YAML text. libyaml's emitter when PyYAML has it: the pure-Python one took
    2 ms a job (6 s of planning 1,000 stacks). Both give the same text for the documents nimctl
    writes (identifier keys, printable values), and libyaml's text always loads back to the same
    document (tests/perf/test_yaml_emitters.py); the inputs hash never depends on this text."""
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(document, Dumper=dumper, sort_keys=False, allow_unicode=True, width=1_000_000)


def load_run_config(text: str) -> Any:
    """Parse a run config written by ``dump_run_config`` (with libyaml's parser when available)."""
    import yaml

    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 (a safe loader)
