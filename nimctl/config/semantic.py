"""Checks the schema cannot express: cross-field rules, Lepton's name and path rules, secret
references, and keys nimctl accepts but does not act on (a warning says what it does instead).

Runs after the schema check on the same config, so every function here tolerates values of the
wrong type (the schema has reported those already) and only judges what it can read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeGuard

from nimctl.common import keypath
from nimctl.common.envref import EnvSource, parse_env_value, variable_problem
from nimctl.common.secrets import is_secret_name
from nimctl.config.rules import (
    NAME_RULE_HINT,
    env_name_problem,
    lepton_name_problem,
    mount_from_problem,
    mount_path_problem,
)


@dataclass(frozen=True)
class Finding:
    key_path: str
    message: str
    hint: str | None = None
    severity: str = "error"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def check(config: dict[str, Any], written: Callable[[str], bool]) -> list[Finding]:
    """All semantic findings. ``written(key_path)`` says whether the user wrote the key (in the file
    or with -o): warnings about ignored keys are only given for those, never for bundled defaults."""
    findings: list[Finding] = []
    for checker in (
        _replicas,
        _names,
        _env_maps,
        _api_tokens,
        _mounts,
        _platform_fit,
        _tasks,
        _bounds,
        _unsupported,
        _exports,
    ):
        findings.extend(checker(config))
    findings.extend(_ignored_keys(config, written))
    return findings


# -- cross-field and name rules -------------------------------------------------------------------


def _replicas(config: dict[str, Any]) -> Iterator[Finding]:
    lepton = _dict(keypath.get(config, "deployment.lepton_config"))
    low, high = lepton.get("min_replicas"), lepton.get("max_replicas")
    if _is_int(low) and _is_int(high) and 0 <= high < low:  # negatives: the schema has reported them
        yield Finding(
            "deployment.lepton_config.min_replicas",
            f"min_replicas ({low}) is greater than max_replicas ({high})",
            "raise max_replicas or lower min_replicas",
        )


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _names(config: dict[str, Any]) -> Iterator[Finding]:
    name = keypath.get(config, "deployment.lepton_config.endpoint_name")
    if isinstance(name, str):
        problem = lepton_name_problem(name)
        if problem:
            yield Finding("deployment.lepton_config.endpoint_name", f"endpoint name {name!r} {problem}", NAME_RULE_HINT)
    stack = config.get("stack")
    if isinstance(stack, str):
        problem = lepton_name_problem(stack)
        if problem:
            yield Finding("stack", f"stack name {stack!r} {problem}", NAME_RULE_HINT)


# -- env vars and secrets -------------------------------------------------------------------------


def _env_maps(config: dict[str, Any]) -> Iterator[Finding]:
    places = [
        ("env_vars", config.get("env_vars")),
        ("evaluation.env_vars", keypath.get(config, "evaluation.env_vars")),
        ("deployment.lepton_config.envs", keypath.get(config, "deployment.lepton_config.envs")),
        ("deployment.env_vars", keypath.get(config, "deployment.env_vars")),
        ("execution.lepton_platform.tasks.env_vars", keypath.get(config, "execution.lepton_platform.tasks.env_vars")),
    ]
    tasks = keypath.get(config, "evaluation.tasks")
    if isinstance(tasks, list):
        places += [(f"evaluation.tasks.{i}.env_vars", keypath.get(t, "env_vars")) for i, t in enumerate(tasks)]
    for base, envs in places:
        if isinstance(envs, dict):
            yield from _env_map(base, envs)


def _env_map(base: str, envs: dict[str, Any]) -> Iterator[Finding]:
    for name, value in envs.items():
        path = f"{base}.{name}"
        problem = env_name_problem(str(name))
        if problem:
            yield Finding(path, problem, "env var names: letters, digits, '.', '_', '-'; not starting with a digit")
        if isinstance(value, dict) and "value_from" in value:
            yield from _secret_ref(
                f"{path}.value_from",
                value["value_from"],
                want="secret_name_ref",
                other="token_name_ref",
                other_place="api_tokens",
            )
        elif isinstance(value, str) and value:
            parsed = parse_env_value(value)
            problem = variable_problem(parsed)
            if problem:
                yield Finding(path, problem, f"write {name}: {parsed.source.prefix}VARIABLE_NAME")
            elif parsed.source is EnvSource.LITERAL and parsed.text and is_secret_name(str(name)):
                yield Finding(
                    path,
                    f"{name} looks like a credential but its value is written literally",
                    f"keep it in a workspace secret ({name}: {{value_from: {{secret_name_ref: SECRET_NAME}}}}) "
                    f"or read it from your environment at apply time ({name}: host:VARIABLE)",
                    "warning",
                )


def _secret_ref(path: str, ref: Any, *, want: str, other: str, other_place: str) -> Iterator[Finding]:
    if not isinstance(ref, dict):
        return  # the schema reported the type
    for key in ref:
        if key != want:
            message = f"value_from must hold {want}, not {key}"
            if key == other:
                message += f" ({other} is for {other_place})"
            yield Finding(f"{path}.{key}", message, f"write value_from: {{{want}: NAME}}")
    if want not in ref:
        yield Finding(path, f"value_from must hold {want}", f"write value_from: {{{want}: NAME}}")


def _api_tokens(config: dict[str, Any]) -> Iterator[Finding]:
    tokens = keypath.get(config, "deployment.lepton_config.api_tokens")
    if not isinstance(tokens, list):
        return
    literal_hint = "keep the token in a workspace secret: - value_from: {token_name_ref: SECRET_NAME}"
    for index, token in enumerate(tokens):
        path = f"deployment.lepton_config.api_tokens.{index}"
        if isinstance(token, str) and token:
            yield Finding(path, "the endpoint token is written literally in the config", literal_hint, "warning")
        if not isinstance(token, dict):
            continue
        if "value" in token and "value_from" in token:
            yield Finding(path, "give either value or value_from, not both", literal_hint)
        elif "value_from" in token:
            yield from _secret_ref(
                f"{path}.value_from",
                token["value_from"],
                want="token_name_ref",
                other="secret_name_ref",
                other_place="envs",
            )
        elif isinstance(token.get("value"), str) and token["value"]:
            yield Finding(
                f"{path}.value", "the endpoint token is written literally in the config", literal_hint, "warning"
            )


# -- mounts ---------------------------------------------------------------------------------------


def _mounts(config: dict[str, Any]) -> Iterator[Finding]:
    cache = keypath.get(config, "deployment.lepton_config.mounts")
    if isinstance(cache, dict):
        base = "deployment.lepton_config.mounts"
        if cache.get("enabled") is True:
            for key in ("cache_path", "mount_path"):
                if key not in cache:
                    yield Finding(
                        f"{base}.{key}", "is required when mounts.enabled is true", f"add {key}: or set enabled: false"
                    )
        if isinstance(cache.get("mount_path"), str):
            problem = mount_path_problem(cache["mount_path"])
            if problem:
                yield Finding(
                    f"{base}.mount_path", problem, "mount under a directory of your own, e.g. /opt/nim/.cache"
                )
    mounts = keypath.get(config, "execution.lepton_platform.tasks.mounts")
    if isinstance(mounts, list):
        for index, mount in enumerate(mounts):
            if not isinstance(mount, dict):
                continue
            base = f"execution.lepton_platform.tasks.mounts.{index}"
            if isinstance(mount.get("mount_path"), str):
                problem = mount_path_problem(mount["mount_path"])
                if problem:
                    yield Finding(f"{base}.mount_path", problem, "mount under a directory of your own, e.g. /workspace")
            if isinstance(mount.get("from"), str):
                problem = mount_from_problem(mount["from"])
                if problem:
                    yield Finding(f"{base}.from", problem, "use node-local or node-<type>:<storage name>")


# -- where it runs vs what it deploys -------------------------------------------------------------


def _platform_fit(config: dict[str, Any]) -> Iterator[Finding]:
    platform = keypath.get(config, "execution.type")
    deployment = _dict(config.get("deployment"))
    kind = deployment.get("type")
    port = deployment.get("port")
    command = deployment.get("command")
    if kind == "none":
        url = keypath.get(config, "target.api_endpoint.url")
        if not (isinstance(url, str) and url):
            yield Finding(
                "target.api_endpoint.url",
                "is required with deployment type none (nothing is deployed, so the tasks need an endpoint to call)",
                "set target.api_endpoint.url (and model_id), or choose a deployment such as nim or mock",
            )
        return
    if platform == "local":
        if command is None or command == "" or command == []:
            yield Finding(
                "deployment.command",
                f"is required to run deployment type {kind} locally: nimctl starts "
                "the endpoint as a local process from this command",
                "set deployment.command to start an OpenAI-compatible server, or use deployment: mock",
            )
        elif port == "auto" and not _mentions_port_placeholder(command):
            yield Finding(
                "deployment.port",
                "port auto needs {port} in deployment.command, where nimctl puts the port it picks",
                "add {port} to the command (e.g. --port {port}) or set a fixed port",
            )
    elif platform == "lepton":
        if port == "auto" and kind != "mock":
            yield Finding(
                "deployment.port",
                "port auto is for local execution; a Lepton endpoint needs a fixed port",
                "set deployment.port, e.g. 8000",
            )
        if kind == "mock":
            yield Finding(
                "deployment.type",
                "deployment type mock runs nimctl's mock server as a local process; it cannot run on Lepton",
                "use execution: local with deployment: mock, or deployment: nim on Lepton",
            )
        elif kind in ("nim", "vllm", "sglang", "generic") and not keypath.get(
            config, "deployment.lepton_config.resource_shape"
        ):
            yield Finding(
                "deployment.lepton_config.resource_shape",
                f"is required to deploy {kind} on Lepton "
                "(without it the model server would get the workspace's default CPU shape)",
                "set the GPU shape, e.g. resource_shape: gpu.1xh200",
            )


def _bounds(config: dict[str, Any]) -> Iterator[Finding]:
    """The platform-side bounds (``nimctl.stack.lifetime``): values Lepton would refuse or that
    would remove the endpoint before it could serve."""
    from nimctl.common.durations import DURATION_HINT, format_duration, parse_duration
    from nimctl.config.rules import LIFETIME_KEY, MIN_MAX_LIFETIME_S, MIN_SCALE_DOWN_TIMEOUT_S

    scale_down = _dict(keypath.get(config, "deployment.lepton_config.auto_scaler.scale_down"))
    for key in ("no_traffic_timeout", "not_ready_timeout"):
        value = scale_down.get(key)
        if _is_int(value) and 0 < value < MIN_SCALE_DOWN_TIMEOUT_S:
            yield Finding(
                f"deployment.lepton_config.auto_scaler.scale_down.{key}",
                f"{value} s is below Lepton's minimum of {MIN_SCALE_DOWN_TIMEOUT_S} s",
                f"use 0 (never scale down: no platform-side bound) or at least {MIN_SCALE_DOWN_TIMEOUT_S}",
            )
    raw = keypath.get(config, "deployment.lepton_config.max_lifetime")
    if raw is None:
        return
    seconds = parse_duration(raw)
    if seconds is None:
        yield Finding(LIFETIME_KEY, f"{raw!r} is not a duration", DURATION_HINT)
    elif seconds < MIN_MAX_LIFETIME_S:
        yield Finding(
            LIFETIME_KEY,
            f"{format_duration(seconds)} is shorter than {format_duration(MIN_MAX_LIFETIME_S)}: the endpoint "
            "would be removed before a model server could start and serve",
            f"use at least {format_duration(MIN_MAX_LIFETIME_S)}, e.g. 6h",
        )
    elif keypath.get(config, "execution.type") == "local":
        yield Finding(
            LIFETIME_KEY,
            "max_lifetime is enforced by a scheduled Lepton job; local endpoints do not have it",
            "remove it, or run on Lepton",
            severity="warning",
        )


def _mentions_port_placeholder(command: Any) -> bool:
    if isinstance(command, str):
        return "{port}" in command
    if isinstance(command, list):
        return any("{port}" in str(item) for item in command)
    return True


def _tasks(config: dict[str, Any]) -> Iterator[Finding]:
    tasks = keypath.get(config, "evaluation.tasks")
    if not isinstance(tasks, list):
        return
    first: dict[str, int] = {}
    for index, task in enumerate(tasks):
        name = keypath.get(task, "name")
        if not isinstance(name, str):
            continue
        if name in first:
            yield Finding(
                f"evaluation.tasks.{index}.name",
                f"task {name!r} is listed twice (first as "
                f"evaluation.tasks.{first[name]}); each task is one job, addressed by its name",
                "remove the duplicate, or merge their settings into one entry",
            )
        else:
            first[name] = index


def _exports(config: dict[str, Any]) -> Iterator[Finding]:
    """``export.<dest>`` and ``execution.auto_export``: the export stage's own settings table."""
    from nimctl.export.settings import check_auto_export, check_export_block

    problems = check_export_block(config.get("export"))
    problems += check_auto_export(keypath.get(config, "execution.auto_export"), config.get("export"))
    for problem in problems:
        yield Finding(problem.key_path, problem.message, problem.hint, problem.severity)


# -- accepted but not acted on --------------------------------------------------------------------

_IGNORED_KEYS = {
    "deployment.lepton_config.auto_scaler.scale_down.scale_from_zero": "ignored: the Lepton API has no scale_from_zero; min_replicas: 0 is how to scale to zero",
    "execution.env_var_names": "ignored: nimctl passes env vars to eval jobs from env_vars, evaluation.env_vars, "
    "execution.lepton_platform.tasks.env_vars and evaluation.tasks[].env_vars",
    "execution.evaluation_tasks.use_shared_storage": "ignored: nimctl writes each job's results to execution.output_dir",
    "execution.lepton_platform.tasks.api_tokens": "ignored (the launcher never reads it either): an eval job's key "
    "is the endpoint's own token (deployment.lepton_config.api_tokens), else the env var named by "
    "target.api_endpoint.api_key_name",
    "execution.mounts": "not supported on local: nimctl's local platform runs the server and the tasks as processes "
    "on this machine, not in docker containers, so there are no volumes to mount; they read host paths directly",
}
_VLLM_KEYS = ("checkpoint_path", "tensor_parallel_size", "pipeline_parallel_size", "data_parallel_size", "extra_args")
_SERVER_KEYS = ("image", "command", "port", "served_model_name", "lepton_config", *_VLLM_KEYS)


def _ignored_keys(config: dict[str, Any], written: Callable[[str], bool]) -> Iterator[Finding]:
    for key_path, message in _IGNORED_KEYS.items():
        if written(key_path) and keypath.has(config, key_path):
            yield Finding(key_path, message, "remove it to silence this warning", "warning")
    extra_docker = keypath.get(config, "execution.extra_docker_args")
    if isinstance(extra_docker, str) and extra_docker.strip() and written("execution.extra_docker_args"):
        yield Finding(
            "execution.extra_docker_args",
            "not supported on local: nimctl's local platform starts processes, not `docker run`",
            "remove it; set what the server needs in deployment.command or env_vars",
            "warning",
        )
    if keypath.get(config, "execution.mode") == "sequential" and written("execution.mode"):
        yield Finding(
            "execution.mode",
            "nimctl runs a stack's jobs side by side against its one endpoint",
            "run `nimctl apply --parallelism 1` to run them one at a time",
            "warning",
        )
    deployment = _dict(config.get("deployment"))
    kind = deployment.get("type")
    if kind == "nim":
        for key in (*_VLLM_KEYS, "hf_model_handle", "gpu_memory_utilization"):
            if written(f"deployment.{key}") and deployment.get(key) is not None:
                yield Finding(
                    f"deployment.{key}",
                    "ignored for deployment type nim: the NIM image serves its own "
                    "model and takes its settings from env vars",
                    "remove it, or use deployment: vllm",
                    "warning",
                )
    if kind == "none":
        for key in _SERVER_KEYS:
            if written(f"deployment.{key}") and key in deployment:
                yield Finding(
                    f"deployment.{key}",
                    "ignored with deployment type none: nothing is deployed",
                    "remove it, or choose a deployment type that starts a server",
                    "warning",
                )
    elif kind in ("nim", "vllm", "sglang", "generic", "mock"):
        api = _dict(keypath.get(config, "target.api_endpoint"))
        for key, what in (("url", "the deployed endpoint's URL"), ("model_id", "deployment.served_model_name")):
            if written(f"target.api_endpoint.{key}") and key in api:
                yield Finding(
                    f"target.api_endpoint.{key}",
                    f"ignored: the eval tasks use {what} (target.api_endpoint.{key} is for deployment type none)",
                    "remove it to silence this warning",
                    "warning",
                )
    platform = keypath.get(config, "execution.type")
    other = {"local": "lepton_platform", "lepton": "local"}.get(platform) if isinstance(platform, str) else None
    if other and written(f"execution.{other}") and other in _dict(config.get("execution")):
        yield Finding(
            f"execution.{other}",
            f"ignored with execution type {platform}",
            "remove it, or change execution.type",
            "warning",
        )


# -- launcher features nimctl does not run ---------------------------------------------------------


def _unsupported(config: dict[str, Any]) -> Iterator[Finding]:
    """Keys whose meaning nimctl cannot give: one error each, saying what to do instead."""
    auxiliary = config.get("auxiliary_deployments")
    if isinstance(auxiliary, dict) and auxiliary:
        yield Finding(
            "auxiliary_deployments",
            "auxiliary deployments (e.g. a judge model) are not supported by nimctl on any platform "
            "(the launcher starts them on Slurm only)",
            "deploy the judge as a stack of its own (or use a hosted one) and set its URL in the task's "
            "nemo_evaluator_config (config.params.extra.judge.url)",
        )
    deployment = _dict(config.get("deployment"))
    if deployment.get("type") == "nim" and isinstance(deployment.get("pre_cmd"), str) and deployment["pre_cmd"].strip():
        yield Finding(
            "deployment.pre_cmd",
            "is not supported for deployment type nim: a NIM starts from its image's entrypoint, "
            "so there is no command to run it before (the launcher refuses it too)",
            "bake the step into the image, or use deployment: vllm / generic with a command",
        )
