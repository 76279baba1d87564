"""The deployment (model server) as both platforms see it: ``read_deployment`` takes the composed
config and gives a ``Deployment`` (type, image, served model name, port, endpoint paths, the
server's argv, env entries, API tokens and the endpoint token), reporting problems as it goes."""

from __future__ import annotations

import sys
from typing import Any, NamedTuple

from nimctl.common import keypath
from nimctl.stack.specs.env import env_layers, hashable_env, merge_env, split_runtime
from nimctl.stack.specs.problems import Problems
from nimctl.stack.specs.scripts import wrapped_command
from nimctl.stack.specs.values import as_argv

DEFAULT_ENDPOINT_PATHS = {
    "chat": "/v1/chat/completions",
    "completions": "/v1/completions",
    "health": "/v1/health/ready",
    "embedding": "/v1/embeddings",
    "ranking": "/v1/ranking",
    # Vision-language tasks (vlmevalkit) send chat completions with images; nemo-evaluator
    # treats the type as chat.
    "vlm": "/v1/chat/completions",
}
DEFAULT_PORT = 8000
DEFAULT_API_KEY_NAME = "API_KEY"


class EndpointToken(NamedTuple):
    """The endpoint's (first) API token: a reference to a Lepton secret, or a literal."""

    ref: str | None = None
    literal: str | None = None

    def __repr__(self) -> str:  # never show the literal
        return f"EndpointToken(ref={self.ref!r}, literal={'***' if self.literal else None})"


class Deployment(NamedTuple):
    type: str
    image: str | None
    served_model_name: str
    port: int | str  # int, or "auto" (local only)
    paths: dict[str, str]
    command: list[str] | None  # explicit or derived server argv; "{port}" = the server port
    user_envs: list[dict[str, Any]]
    api_tokens: list[dict[str, Any]]
    token: EndpointToken | None
    target_url: str | None  # deployment "none": the external endpoint
    api_key_name: str
    # Whether the config names the key's variable (target.api_endpoint.api_key_name): with no
    # endpoint token, a named variable is still passed into the jobs; an unnamed one is not.
    api_key_named: bool = False

    @property
    def managed(self) -> bool:
        """Whether nimctl runs the model server (every type but ``none``)."""
        return self.type != "none"

    def model_facts(self) -> dict[str, Any]:
        """The fields that change what a model answers (for the inputs hash)."""
        if not self.managed:
            return {"type": "none", "url": self.target_url, "model_id": self.served_model_name}
        command = [("<python>" if arg == sys.executable else arg) for arg in self.command or []]
        return {
            "type": self.type,
            "image": self.image,
            "served_model_name": self.served_model_name,
            "command": command,
            "envs": hashable_env(self.user_envs),
        }


def read_deployment(config: dict[str, Any], platform: str, problems: Problems) -> Deployment:
    dtype = str(keypath.get(config, "deployment.type", "none"))
    api_key_name = str(keypath.get(config, "target.api_endpoint.api_key_name", DEFAULT_API_KEY_NAME))
    api_key_named = keypath.get(config, "target.api_endpoint.api_key_name") is not None
    paths = {**DEFAULT_ENDPOINT_PATHS, **(keypath.get(config, "deployment.endpoints", {}) or {})}
    if dtype == "none":
        url = keypath.get(config, "target.api_endpoint.url")
        model_id = keypath.get(config, "target.api_endpoint.model_id")
        if not url:
            problems.error(
                "target.api_endpoint.url",
                "deployment none needs the URL of an existing endpoint",
                "set target.api_endpoint.url, or choose a deployment (nim, vllm, ...)",
            )
        if not model_id:
            problems.error(
                "target.api_endpoint.model_id",
                "deployment none needs the model id to evaluate",
                "set target.api_endpoint.model_id",
            )
        return Deployment(
            "none",
            None,
            str(model_id or ""),
            DEFAULT_PORT,
            paths,
            None,
            [],
            [],
            None,
            str(url or ""),
            api_key_name,
            api_key_named,
        )

    served = keypath.get(config, "deployment.served_model_name")
    if not served:
        problems.error("deployment.served_model_name", "is required", "set the model name the server serves")
    port = read_port(config, platform, problems)
    command = server_command(config, dtype, port, platform, problems)
    image = keypath.get(config, "deployment.image")
    if platform == "lepton" and not image:
        problems.error("deployment.image", "is required on Lepton", "set the model server's container image")
    # Top-level env_vars reach the server too (as in the launcher); Lepton's own envs win.
    user_envs = env_layers(config, ["env_vars", "deployment.env_vars", "deployment.lepton_config.envs"], problems)
    if dtype in ("vllm", "sglang") and not (
        keypath.get(config, "deployment.checkpoint_path") or keypath.get(config, "deployment.hf_model_handle")
    ):
        problems.error(
            "deployment.checkpoint_path",
            f"deployment {dtype} needs the model to serve: checkpoint_path, or hf_model_handle when it is null",
            "set checkpoint_path to a path in the container or a Hugging Face model id",
        )
    command, user_envs = _server_wrapper(config, dtype, command, user_envs, platform, problems)
    tokens, token = read_api_tokens(config, problems)
    return Deployment(
        dtype,
        str(image) if image else None,
        str(served or ""),
        port,
        paths,
        command,
        user_envs,
        tokens,
        token,
        None,
        api_key_name,
        api_key_named,
    )


def _server_wrapper(
    config: dict[str, Any],
    dtype: str,
    command: list[str] | None,
    envs: list[dict[str, Any]],
    platform: str,
    problems: Problems,
) -> tuple[list[str] | None, list[dict[str, Any]]]:
    """The server command run through WRAPPED_COMMAND_SCRIPT when it needs a pre command or
    runtime: env values resolved in the container (Lepton; the local platform resolves those
    itself), with the env entries that feed the script."""
    pre_cmd = keypath.get(config, "deployment.pre_cmd")
    pre_cmd = pre_cmd if isinstance(pre_cmd, str) and pre_cmd.strip() else None
    runtime_text = ""
    if platform == "lepton":
        envs, runtime_text = split_runtime(envs)
    if not (pre_cmd or runtime_text):
        return command, envs
    if not command:
        if runtime_text:  # pre_cmd for nim is reported by the config check
            problems.error(
                "deployment.lepton_config.envs",
                f"runtime: env values need a server command to resolve them in; deployment {dtype} "
                "starts from its image's entrypoint",
                "use lit:VALUE, host:VARIABLE or a secret reference for the server's env",
            )
        return command, envs
    extra = []
    if runtime_text:
        extra.append({"name": "NIMCTL_RUNTIME_ENV", "value": runtime_text})
    if pre_cmd:
        extra.append({"name": "NIMCTL_SERVER_PRE_CMD", "value": pre_cmd})
    return wrapped_command(command), merge_env(envs, extra)


def read_port(config: dict[str, Any], platform: str, problems: Problems) -> int | str:
    port = keypath.get(config, "deployment.port", DEFAULT_PORT)
    if port == "auto":
        if platform != "local":
            problems.error(
                "deployment.port", "'auto' is only for local runs", f"give a port number (default {DEFAULT_PORT})"
            )
            return DEFAULT_PORT
        return "auto"
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        problems.error("deployment.port", f"{port!r} is not a port number", "use an integer 1-65535")
        return DEFAULT_PORT
    return port


def server_command(
    config: dict[str, Any], dtype: str, port: int | str, platform: str, problems: Problems
) -> list[str] | None:
    """The model server's argv: ``deployment.command`` if given, else derived for vllm/sglang;
    None for nim (its image's entrypoint starts the server)."""
    try:
        explicit = as_argv(keypath.get(config, "deployment.command"))
    except ValueError as err:
        problems.error("deployment.command", str(err))
        return None
    port_arg = "{port}" if platform == "local" else str(port)
    if explicit is not None:
        if platform == "lepton":  # "{port}" means the server port everywhere
            explicit = [arg.replace("{port}", port_arg) for arg in explicit]
        return _with_gpu_memory_utilization(config, dtype, explicit)
    if dtype in ("vllm", "sglang"):
        return _with_gpu_memory_utilization(config, dtype, _engine_command(config, dtype, port_arg, problems))
    if platform == "local" and dtype != "nim":
        problems.error(
            "deployment.command",
            f"deployment {dtype} needs a command to run locally",
            "set deployment.command to the server's argv ({port} is replaced by the port)",
        )
    if platform == "local" and dtype == "nim":
        problems.error(
            "deployment.command",
            "a NIM runs from its container image, which the local platform does not start",
            "set deployment.command (e.g. a `docker run ...` argv)",
        )
    return None


def _with_gpu_memory_utilization(config: dict[str, Any], dtype: str, argv: list[str]) -> list[str]:
    """vLLM's --gpu-memory-utilization from deployment.gpu_memory_utilization (the launcher's vllm
    group puts it on the command line), unless the command already sets it."""
    value = keypath.get(config, "deployment.gpu_memory_utilization")
    flag = "--gpu-memory-utilization"
    if dtype != "vllm" or value is None or any(a == flag or a.startswith(flag + "=") for a in argv):
        return argv
    return [*argv, f"{flag}={value}"]


def _engine_command(config: dict[str, Any], dtype: str, port_arg: str, problems: Problems) -> list[str]:
    # checkpoint_path: null is the launcher's way of serving hf_model_handle (reported when neither is set)
    checkpoint = keypath.get(config, "deployment.checkpoint_path") or keypath.get(config, "deployment.hf_model_handle")
    served = str(keypath.get(config, "deployment.served_model_name", ""))
    tp = keypath.get(config, "deployment.tensor_parallel_size", 1)
    dp = keypath.get(config, "deployment.data_parallel_size", 1)
    if dtype == "vllm":
        argv = [
            "vllm",
            "serve",
            str(checkpoint or ""),
            f"--tensor-parallel-size={tp}",
            f"--pipeline-parallel-size={keypath.get(config, 'deployment.pipeline_parallel_size', 1)}",
            f"--data-parallel-size={dp}",
            f"--port={port_arg}",
            f"--served-model-name={served}",
        ]
    else:
        argv = [
            "python3",
            "-m",
            "sglang.launch_server",
            f"--model-path={checkpoint or ''}",
            "--host=0.0.0.0",
            f"--port={port_arg}",
            f"--served-model-name={served}",
            f"--tp={tp}",
            f"--dp={dp}",
        ]
    try:
        argv += as_argv(keypath.get(config, "deployment.extra_args")) or []
    except ValueError as err:
        problems.error("deployment.extra_args", str(err))
    return argv


def read_api_tokens(config: dict[str, Any], problems: Problems) -> tuple[list[dict[str, Any]], EndpointToken | None]:
    raw = keypath.get(config, "deployment.lepton_config.api_tokens")
    if raw is None:
        return [], None
    key = "deployment.lepton_config.api_tokens"
    if not isinstance(raw, list):
        problems.error(key, "must be a list", "write - value_from: {token_name_ref: SECRET_NAME}")
        return [], None
    tokens: list[dict[str, Any]] = []
    for i, item in enumerate(raw):
        if isinstance(item, (str, int)) and not isinstance(item, bool):
            tokens.append({"value": str(item)})
        elif isinstance(item, dict) and "value" in item and item["value"] is not None:
            tokens.append({"value": str(item["value"])})
        elif (
            isinstance(item, dict)
            and isinstance(item.get("value_from"), dict)
            and isinstance(item["value_from"].get("token_name_ref"), str)
        ):
            tokens.append({"value_from": {"token_name_ref": item["value_from"]["token_name_ref"]}})
        else:
            problems.error(
                f"{key}.{i}",
                "expected a token string, {value: TOKEN} or {value_from: {token_name_ref: SECRET_NAME}}",
                "prefer value_from.token_name_ref: the token then never appears in files",
            )
    if not tokens:
        return tokens, None
    first = tokens[0]
    token = (
        EndpointToken(literal=first["value"])
        if "value" in first
        else EndpointToken(ref=first["value_from"]["token_name_ref"])
    )
    return tokens, token
