"""What the Lepton and local spec builders share: reading the composed config, the model
server's command, the endpoint token, each task's plan (what runs, with which run config), and
the inputs hash.

User strings reach a job only as data (env var values, the run config document), never as
part of a shell line: the one shell line nimctl runs, ``RUN_EVAL_SCRIPT``, is a constant.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import shlex
import sys
from enum import Enum
from typing import Any, NamedTuple

from nimctl.common.envref import EnvSource, host_marker, parse_env_value, runtime_marker, runtime_variable
from nimctl.common.secrets import SECRET_ENV_NAME
from nimctl.results.channel import EMIT_FUNCTIONS
from nimctl.stack.tasks import AmbiguousTask, ResolvedTask, UnknownTask, resolve_task

# Values known only at apply time appear in spec templates as these markers; render_job_spec
# replaces them structurally (whole values / whole path components), never by text search.
PENDING_URL = "(known after apply)"
INVOCATION_MARKER = "(invocation id)"

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
DEFAULT_STORAGE = "node-nfs:lepton-shared-fs"
DEFAULT_API_KEY_NAME = "API_KEY"
DEFAULT_DATASET_MOUNT_PATH = "/datasets"  # the launcher's default dataset_mount_path
RUN_CONFIG_FILE = "nimctl_run_config.yaml"

# runtime:VAR env values: NIMCTL_RUNTIME_ENV holds "TARGET=VAR" lines (names checked when the
# config is read); each TARGET is exported with VAR's value in the container, as the job starts.
RUNTIME_ENV_PRELUDE = """\
if [ -n "${NIMCTL_RUNTIME_ENV:-}" ]; then
  while IFS='=' read -r nimctl_target nimctl_source; do
    if [ -n "$nimctl_target" ]; then
      nimctl_value=$(printenv "$nimctl_source" || true)
      export "$nimctl_target=$nimctl_value"
    fi
  done <<NIMCTL_EOF
$NIMCTL_RUNTIME_ENV
NIMCTL_EOF
fi
"""
# Runs the server's (or a task's) own argv after the runtime env and the optional pre command
# (NIMCTL_SERVER_PRE_CMD, the user's shell code, from a file): the argv follows as "$@".
WRAPPED_COMMAND_SCRIPT = (
    RUNTIME_ENV_PRELUDE
    + """\
if [ -n "${NIMCTL_SERVER_PRE_CMD:-}" ]; then
  printf '%s\\n' "$NIMCTL_SERVER_PRE_CMD" > /tmp/nimctl_pre_cmd.sh
  . /tmp/nimctl_pre_cmd.sh
fi
exec "$@"
"""
)
# The one shell script every job runs (user strings reach it only as data: env values and argv
# items, never as part of its text). With arguments it runs them (a built-in or `command:` task);
# without, the harness path: it writes the run config (passed in NIMCTL_RUN_CONFIG) to a file and
# hands that file to the NeMo Evaluator, between the optional pre/post commands (the user's own
# shell code by definition; they too travel as data and run from files). The task's time limit
# (NIMCTL_TASK_TIMEOUT_S) bounds the evaluation; a run it stops leaves "nimctl_timed_out" in the
# output directory. With NIMCTL_RESULTS_TO_LOG set (Lepton) it ends by printing its small result
# files into its log, on success and failure alike (nimctl.results.channel).
JOB_SCRIPT = (
    """\
out="${NIMCTL_OUTPUT_DIR:-/results}"
mkdir -p "$out"
rm -f "$out/nimctl_timed_out"
nimctl_limited() {
  limit="${NIMCTL_TASK_TIMEOUT_S:-}"
  if [ -z "$limit" ] || ! command -v timeout >/dev/null 2>&1; then "$@"; return $?; fi
  started=$(date +%s)
  rc=0
  timeout -k 30 "$limit" "$@" || rc=$?
  if { [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; } && [ $(( $(date +%s) - started )) -ge "$limit" ]; then
    echo "nimctl: the evaluation ran into its time limit of $limit s and was stopped" >&2
    : > "$out/nimctl_timed_out"
  fi
  return "$rc"
}
nimctl_harness() (
  set -eu
  cfg="$out/nimctl_run_config.yaml"
  printf '%s' "$NIMCTL_RUN_CONFIG" > "$cfg"
  if [ -n "${NIMCTL_PRE_CMD:-}" ]; then
    printf '%s\\n' "$NIMCTL_PRE_CMD" > "$out/nimctl_pre_cmd.sh"
    . "$out/nimctl_pre_cmd.sh"
  fi
  runner=eval-factory
  if command -v nemo-evaluator >/dev/null 2>&1; then runner=nemo-evaluator; fi
  status=0
  nimctl_limited "$runner" run_eval --run_config "$cfg" || status=$?
  if [ -n "${NIMCTL_POST_CMD:-}" ]; then
    printf '%s\\n' "$NIMCTL_POST_CMD" > "$out/nimctl_post_cmd.sh"
    post_status=0
    sh "$out/nimctl_post_cmd.sh" || post_status=$?
    if [ "$status" -eq 0 ]; then status=$post_status; fi
  fi
  exit "$status"
)
"""
    + EMIT_FUNCTIONS
    + """\
status=0
if [ "$#" -gt 0 ]; then
  nimctl_limited "$@" || status=$?
else
  nimctl_harness
  status=$?
fi
if [ -n "${NIMCTL_RESULTS_TO_LOG:-}" ]; then nimctl_emit_results "$status"; fi
exit "$status"
"""
)
JOB_SCRIPT_NAME = "nimctl-job"  # $0 of the script (what `ps` shows)
RUN_EVAL_SCRIPT = JOB_SCRIPT
RUN_EVAL_COMMAND = ("/bin/sh", "-c", JOB_SCRIPT, JOB_SCRIPT_NAME)


def job_script_command(argv: list[str]) -> list[str]:
    """A built-in's or `command:` task's argv, run by JOB_SCRIPT (time limit, results to the log)."""
    return [*RUN_EVAL_COMMAND, *argv]


BUILTIN_MODULES = {"smoke": "nimctl.builtin_tasks.smoke", "perf": "nimctl.builtin_tasks.perf"}

_NAME_RE = re.compile(r"^[a-z][a-z0-9-]*$")
MAX_NAME_LENGTH = 36


# -- problems ---------------------------------------------------------------------------------

# Light types (NamedTuple / plain classes): this module is imported by `nimctl validate`,
# where every millisecond of start-up counts, and a dataclass costs about one to create.


class Problem(NamedTuple):
    key_path: str
    message: str
    hint: str | None = None
    severity: str = "error"


class Problems:
    """Problems found while building one stack; all of them are reported together."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def error(self, key_path: str, message: str, hint: str | None = None) -> None:
        self.items.append(Problem(key_path, message, hint))

    def warn(self, key_path: str, message: str, hint: str | None = None) -> None:
        self.items.append(Problem(key_path, message, hint, "warning"))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.items if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.items if p.severity == "warning"]


# -- config access ----------------------------------------------------------------------------

_MISSING = object()


def get(config: Any, dotted: str, default: Any = None) -> Any:
    """``config["a"]["b"]["c"]`` for ``"a.b.c"``; ``default`` when any step is absent or None."""
    node = config
    for part in dotted.split("."):
        if not isinstance(node, dict):
            return default
        node = node.get(part, _MISSING)
        if node is _MISSING or node is None:
            return default
    return node


def task_key(index: int, key: str = "") -> str:
    """The key path of ``evaluation.tasks[index]`` (or one of its keys)."""
    base = f"evaluation.tasks.{index}"
    return f"{base}.{key}" if key else base


def as_argv(value: Any) -> list[str] | None:
    """An argv from a list, or from a string split the way a shell would split words (no
    shell ever runs it)."""
    if value is None:
        return None
    if isinstance(value, str):
        return shlex.split(value)
    if isinstance(value, (list, tuple)):
        return [scalar_text(v) for v in value]
    raise ValueError("must be a list of arguments or a string")


def scalar_text(value: Any) -> str:
    """How a YAML scalar reads as an environment value (``true``, not ``True``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    raise ValueError(f"expected a string, number or boolean, got {type(value).__name__}")


def deep_merge(base: Any, override: Any) -> Any:
    """Mappings merge key by key; anything else in ``override`` replaces ``base``."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = copy.deepcopy(base)
        for key, value in override.items():
            merged[key] = deep_merge(merged.get(key), value) if key in merged else copy.deepcopy(value)
        return merged
    return copy.deepcopy(override)


def valid_platform_name(name: str) -> str | None:
    """Why ``name`` is not a valid Lepton endpoint/job name, or None when it is."""
    if not name:
        return "is empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"is {len(name)} characters long (at most {MAX_NAME_LENGTH})"
    if not _NAME_RE.match(name):
        return "must start with a lowercase letter and contain only lowercase letters, digits and '-'"
    if name.endswith("-"):
        return "must not end with '-'"
    if name.endswith("by-lepton"):
        return "must not end with 'by-lepton'"
    return None


def slugify(text: str) -> str:
    """Lowercase letters, digits and single hyphens."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]+", "-", text.lower())).strip("-")


def short_hash(*parts: str, length: int = 6) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:length]


def canonical_hash(data: Any) -> str:
    """sha256 hex of canonical JSON: key order never matters."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def looks_secret(env_name: str) -> bool:
    return bool(SECRET_ENV_NAME.search(env_name))


# -- env entries (Lepton's list form is the common currency) -----------------------------------


def env_entry(
    name: str, raw: Any, key_path: str, problems: Problems, *, ref_key: str = "secret_name_ref"
) -> dict[str, Any] | None:
    """``NAME: value | {value: v} | {value_from: {secret_name_ref: X}}`` as a Lepton env entry."""
    if isinstance(raw, dict):
        if "value_from" in raw:
            source = raw.get("value_from")
            ref = source.get(ref_key) if isinstance(source, dict) else None
            if not isinstance(ref, str) or not ref:
                problems.error(
                    key_path,
                    f"value_from must hold {ref_key}",
                    f"write {name}: {{value_from: {{{ref_key}: SECRET_NAME}}}}",
                )
                return None
            return {"name": name, "value_from": {ref_key: ref}}
        if "value" in raw:
            raw = raw["value"]
        else:
            problems.error(
                key_path,
                "expected a value or value_from",
                f"write {name}: VALUE or {name}: {{value_from: {{{ref_key}: SECRET_NAME}}}}",
            )
            return None
    try:
        text = scalar_text(raw)
    except ValueError as err:
        problems.error(key_path, str(err))
        return None
    if not isinstance(raw, str):
        return {"name": name, "value": text}
    parsed = parse_env_value(text)
    if parsed.source is EnvSource.HOST:  # read from nimctl's environment when the platform is called
        return {"name": name, "value": host_marker(parsed.text)}
    if parsed.source is EnvSource.RUNTIME:  # resolved in the container (see RUNTIME_ENV_PRELUDE)
        return {"name": name, "value": runtime_marker(parsed.text)}
    return {"name": name, "value": parsed.text}


def split_runtime(entries: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    """Env entries without the runtime:VAR ones, and those as NIMCTL_RUNTIME_ENV's text
    ("TARGET=VAR" lines; empty when there are none)."""
    kept: list[dict[str, Any]] = []
    lines: list[str] = []
    for entry in entries:
        variable = runtime_variable(entry.get("value"))
        if variable is None:
            kept.append(entry)
        else:
            lines.append(f"{entry['name']}={variable}")
    return kept, "\n".join(lines)


def wrapped_command(argv: list[str]) -> list[str]:
    """``argv`` run by WRAPPED_COMMAND_SCRIPT (runtime env, server pre command, then exec)."""
    return ["/bin/sh", "-c", WRAPPED_COMMAND_SCRIPT, "nimctl", *argv]


def env_layers(config: dict[str, Any], places: list[str], problems: Problems) -> list[dict[str, Any]]:
    """The env maps at ``places`` (dotted key paths) as entries, later places winning."""
    return merge_env(*(env_entries(get(config, place), place, problems) for place in places))


def env_entries(mapping: Any, key_path: str, problems: Problems) -> list[dict[str, Any]]:
    if mapping is None:
        return []
    if not isinstance(mapping, dict):
        problems.error(key_path, "must be a mapping of NAME: value", "write NAME: value, one per line")
        return []
    entries = []
    for name, raw in mapping.items():
        entry = env_entry(str(name), raw, f"{key_path}.{name}", problems)
        if entry:
            entries.append(entry)
    return entries


def merge_env(*layers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Env entries, later layers replacing earlier entries of the same name (first position kept)."""
    merged: dict[str, dict[str, Any]] = {}
    for layer in layers:
        for entry in layer:
            merged[entry["name"]] = entry
    return list(merged.values())


def hashable_env(entries: list[dict[str, Any]]) -> list[Any]:
    """Env entries for the inputs hash: sorted, literal secret values replaced by a marker (the
    hash lands in state; a secret must not, even hashed)."""
    out = []
    for entry in sorted(entries, key=lambda e: e["name"]):
        if "value" in entry and looks_secret(entry["name"]):
            out.append([entry["name"], "(literal secret)"])
        elif "value" in entry:
            out.append([entry["name"], entry["value"]])
        else:
            out.append([entry["name"], entry["value_from"]])
    return out


# -- the deployment (model server) ------------------------------------------------------------


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
    dtype = str(get(config, "deployment.type", "none"))
    api_key_name = str(get(config, "target.api_endpoint.api_key_name", DEFAULT_API_KEY_NAME))
    api_key_named = get(config, "target.api_endpoint.api_key_name") is not None
    paths = {**DEFAULT_ENDPOINT_PATHS, **(get(config, "deployment.endpoints", {}) or {})}
    if dtype == "none":
        url = get(config, "target.api_endpoint.url")
        model_id = get(config, "target.api_endpoint.model_id")
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

    served = get(config, "deployment.served_model_name")
    if not served:
        problems.error("deployment.served_model_name", "is required", "set the model name the server serves")
    port = read_port(config, platform, problems)
    command = server_command(config, dtype, port, platform, problems)
    image = get(config, "deployment.image")
    if platform == "lepton" and not image:
        problems.error("deployment.image", "is required on Lepton", "set the model server's container image")
    # Top-level env_vars reach the server too (as in the launcher); Lepton's own envs win.
    user_envs = env_layers(config, ["env_vars", "deployment.env_vars", "deployment.lepton_config.envs"], problems)
    if dtype in ("vllm", "sglang") and not (
        get(config, "deployment.checkpoint_path") or get(config, "deployment.hf_model_handle")
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
    pre_cmd = get(config, "deployment.pre_cmd")
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
    port = get(config, "deployment.port", DEFAULT_PORT)
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
        explicit = as_argv(get(config, "deployment.command"))
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
    value = get(config, "deployment.gpu_memory_utilization")
    flag = "--gpu-memory-utilization"
    if dtype != "vllm" or value is None or any(a == flag or a.startswith(flag + "=") for a in argv):
        return argv
    return [*argv, f"{flag}={value}"]


def _engine_command(config: dict[str, Any], dtype: str, port_arg: str, problems: Problems) -> list[str]:
    # checkpoint_path: null is the launcher's way of serving hf_model_handle (reported when neither is set)
    checkpoint = get(config, "deployment.checkpoint_path") or get(config, "deployment.hf_model_handle")
    served = str(get(config, "deployment.served_model_name", ""))
    tp = get(config, "deployment.tensor_parallel_size", 1)
    dp = get(config, "deployment.data_parallel_size", 1)
    if dtype == "vllm":
        argv = [
            "vllm",
            "serve",
            str(checkpoint or ""),
            f"--tensor-parallel-size={tp}",
            f"--pipeline-parallel-size={get(config, 'deployment.pipeline_parallel_size', 1)}",
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
        argv += as_argv(get(config, "deployment.extra_args")) or []
    except ValueError as err:
        problems.error("deployment.extra_args", str(err))
    return argv


def read_api_tokens(config: dict[str, Any], problems: Problems) -> tuple[list[dict[str, Any]], EndpointToken | None]:
    raw = get(config, "deployment.lepton_config.api_tokens")
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


# -- tasks ------------------------------------------------------------------------------------


DEFAULT_TASK_TIMEOUT_S = 12 * 3600  # when no config (not even a bundled default) sets one


class TimeLimit(NamedTuple):
    """How long a task's evaluation may run, and which key set it (shown in the plan)."""

    seconds: int
    key: str  # "evaluation.tasks.0.timeout" | "execution.evaluation_tasks.timeout" | "" (nimctl's own)


def read_time_limit(config: dict[str, Any], index: int, item: dict[str, Any], problems: Problems) -> TimeLimit:
    """The task's ``timeout``, else ``execution.evaluation_tasks.timeout``, else nimctl's default."""
    for key, value in (
        (task_key(index, "timeout"), item.get("timeout")),
        ("execution.evaluation_tasks.timeout", get(config, "execution.evaluation_tasks.timeout")),
    ):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 1:
            problems.error(key, f"{value!r} is not a number of seconds", "give a whole number of seconds >= 1")
            break
        return TimeLimit(int(value), key)
    return TimeLimit(DEFAULT_TASK_TIMEOUT_S, "")


class TaskPlan(NamedTuple):
    """One evaluation task, platform-independent: what runs and with which inputs."""

    index: int  # type: ignore[assignment]  # (shadows tuple.index, which nothing calls)
    name: str
    kind: str  # "harness" | "builtin" | "command"
    resolved: str  # "lm-evaluation-harness.ifeval", "nimctl.smoke", "command"
    image: str | None
    endpoint_type: str
    command: list[str] | None  # kind "command": the user's argv
    builtin: str | None  # kind "builtin": "smoke" | "perf"
    params: dict[str, Any]
    run_config: dict[str, Any] | None  # kind "harness": merged nemo_evaluator_config (no url yet)
    pre_cmd: str | None
    post_cmd: str | None
    dataset_dir: str | None
    dataset_mount_path: str  # where dataset_dir is mounted in the job
    env: list[dict[str, Any]]  # the task's own env_vars as entries
    notes: list[str]
    time_limit: TimeLimit | None = None

    @property
    def dir_name(self) -> str:
        """The task's results directory name (one path component)."""
        return re.sub(r"[^A-Za-z0-9._-]+", "_", self.name).strip(".") or f"task{self.index}"


def read_tasks(config: dict[str, Any], problems: Problems) -> list[TaskPlan]:
    raw = get(config, "evaluation.tasks", [])
    if not isinstance(raw, list):
        problems.error("evaluation.tasks", "must be a list", "write - name: TASK, one per task")
        return []
    plans = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or not item.get("name"):
            problems.error(task_key(index), "each task needs a name", "write - name: ifeval")
            continue
        plan = _read_task(config, index, item, problems)
        if plan:
            plans.append(plan)
    return plans


def _read_task(config: dict[str, Any], index: int, item: dict[str, Any], problems: Problems) -> TaskPlan | None:
    name = str(item["name"])
    container = item.get("container")
    try:
        command = as_argv(item.get("command"))
    except ValueError as err:
        problems.error(task_key(index, "command"), str(err))
        return None
    params = item.get("params") or {}
    if not isinstance(params, dict):
        problems.error(task_key(index, "params"), "must be a mapping")
        params = {}
    env = env_entries(item.get("env_vars"), task_key(index, "env_vars"), problems)
    common: dict[str, Any] = dict(
        index=index,
        name=name,
        params=params,
        env=env,
        dataset_dir=str(item["dataset_dir"]) if item.get("dataset_dir") else None,
        dataset_mount_path=str(item.get("dataset_mount_path") or DEFAULT_DATASET_MOUNT_PATH),
        time_limit=read_time_limit(config, index, item, problems),
    )
    if command is not None:
        return TaskPlan(
            kind="command",
            resolved="command",
            image=str(container) if container else None,
            endpoint_type=str(item.get("endpoint_type") or "chat"),
            command=command,
            builtin=None,
            run_config=None,
            pre_cmd=None,
            post_cmd=None,
            notes=[],
            **common,
        )
    resolved = _resolve(name, index, container, problems)
    if resolved is None:
        return None
    endpoint_type = str(item.get("endpoint_type") or resolved.endpoint_type)
    notes = [resolved.note] if resolved.note else []
    if resolved.builtin:
        return TaskPlan(
            kind="builtin",
            resolved=resolved.qualified,
            image=str(container) if container else None,
            endpoint_type=endpoint_type,
            command=None,
            builtin=resolved.task,
            run_config=None,
            pre_cmd=None,
            post_cmd=None,
            notes=notes,
            **common,
        )
    run_config = deep_merge(
        get(config, "evaluation.nemo_evaluator_config", {}) or {}, item.get("nemo_evaluator_config") or {}
    )
    # Older launchers' dotted overrides ("config.params.temperature: 0.6"), evaluation-wide then
    # the task's own, applied on top of nemo_evaluator_config.
    for where, overrides in (
        ("evaluation.overrides", get(config, "evaluation.overrides")),
        (task_key(index, "overrides"), item.get("overrides")),
    ):
        if isinstance(overrides, dict):
            for dotted, value in overrides.items():
                _set_dotted(run_config, str(dotted), value, f"{where}.{dotted}", problems)
    run_config.setdefault("config", {}).setdefault("type", resolved.task)
    pre_cmd = item.get("pre_cmd") or get(config, "evaluation.pre_cmd")
    post_cmd = item.get("post_cmd") or get(config, "evaluation.post_cmd")
    return TaskPlan(
        kind="harness",
        resolved=resolved.qualified,
        image=str(container or resolved.image),
        endpoint_type=endpoint_type,
        command=None,
        builtin=None,
        run_config=run_config,
        pre_cmd=str(pre_cmd) if pre_cmd else None,
        post_cmd=str(post_cmd) if post_cmd else None,
        notes=notes,
        **common,
    )


def _set_dotted(document: dict[str, Any], dotted: str, value: Any, key_path: str, problems: Problems) -> None:
    """``document["a"]["b"]["c"] = value`` for ``"a.b.c"``, creating mappings on the way."""
    parts = dotted.split(".")
    if not all(parts):
        problems.error(key_path, f"{dotted!r} is not a dotted key path", "write e.g. config.params.temperature: 0.6")
        return
    node = document
    for depth, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            where = ".".join(parts[: depth + 1])
            problems.error(key_path, f"cannot set {dotted}: {where} is not a mapping in the run config")
            return
        node = child
    node[parts[-1]] = copy.deepcopy(value)


def _resolve(name: str, index: int, container: Any, problems: Problems) -> ResolvedTask | None:
    try:
        return resolve_task(name)
    except AmbiguousTask as err:
        if container:  # the user chose the image; the name only says which task to run in it
            harness, _, task = name.partition(".")
            return ResolvedTask(name, harness if task else "custom", task or name, str(container), "chat")
        problems.error(task_key(index, "name"), err.message, err.hint)
    except UnknownTask as err:
        if container:
            harness, _, task = name.partition(".")
            note = f"{name} is not in nimctl's task mapping: running it as task type {task or name!r} in {container}"
            return ResolvedTask(name, harness if task else "custom", task or name, str(container), "chat", note)
        problems.error(task_key(index, "name"), err.message, err.hint)
    return None


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


def base_url(url: str) -> str:
    """The server's base URL (no ``/v1...``): what NIMCTL_ENDPOINT_URL carries."""
    url = url.rstrip("/")
    marker = url.find("/v1/")
    if marker != -1:
        return url[:marker]
    return url[:-3] if url.endswith("/v1") else url


# -- job environment --------------------------------------------------------------------------


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
        {"name": "NIMCTL_ENDPOINT_URL", "value": url},
        {"name": "NIMCTL_MODEL_ID", "value": deployment.served_model_name},
        {"name": "NIMCTL_API_KEY_ENV", "value": deployment.api_key_name},
        {"name": "NIMCTL_OUTPUT_DIR", "value": output_dir},
        {"name": "NIMCTL_TASK_PARAMS", "value": json.dumps(task.params, sort_keys=True)},
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
    """The data RUN_EVAL_SCRIPT reads: the run config document and the optional extras."""
    env = [{"name": "NIMCTL_RUN_CONFIG", "value": dump_run_config(run_config)}]
    if task.pre_cmd:
        env.append({"name": "NIMCTL_PRE_CMD", "value": task.pre_cmd})
    if task.post_cmd:
        env.append({"name": "NIMCTL_POST_CMD", "value": task.post_cmd})
    if dataset_dir:
        env.append({"name": "NEMO_EVALUATOR_DATASET_DIR", "value": dataset_dir})
    return env


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


class KeyWiring(str, Enum):
    """How the endpoint's API key reaches a job (as the variable ``api_key_name`` names)."""

    LITERAL = "literal"  # the endpoint's literal token, as a (secret) env value
    TOKEN_REF = "token_name_ref"  # the Lepton secret the endpoint's token references
    NAMED = "api_key_name"  # no endpoint token: the named variable, passed through
    USER_ENV = "env_vars"  # the user's env_vars set the variable themselves
    NONE = "none"  # no key: the evaluation calls the endpoint unauthenticated

    def describe(self, name: str, platform: str) -> str:
        """One line for the plan: where the job's key comes from."""
        if self is KeyWiring.LITERAL:
            return f"API key: ${name} carries the endpoint's literal token"
        if self is KeyWiring.TOKEN_REF:
            return f"API key: ${name} from the endpoint token's secret"
        if self is KeyWiring.NAMED:
            where = f"the Lepton secret {name}" if platform == "lepton" else f"nimctl's environment (export {name})"
            return f"API key: ${name} from {where}"
        if self is KeyWiring.USER_ENV:
            return f"API key: ${name} as set in the task's env_vars"
        return "API key: none - the evaluation calls the endpoint unauthenticated (set target.api_endpoint.api_key_name to send one)"


class KeyRoute(NamedTuple):
    kind: KeyWiring
    entry: dict[str, Any] | None  # the env entry nimctl adds (None: nothing added)


def key_wiring(deployment: Deployment, user_env: list[dict[str, Any]]) -> KeyRoute:
    """How the key reaches the job: the endpoint's own token (the same Lepton secret when the
    endpoint references one, else the literal, a secret everywhere nimctl shows or stores it);
    else the variable the config names, passed in as a secret reference of that name (on Lepton a
    workspace secret, locally nimctl's own environment variable, read when the job starts); else
    none. The user's env_vars win over all of these."""
    name = deployment.api_key_name
    if any(e["name"] == name for e in user_env):
        return KeyRoute(KeyWiring.USER_ENV, None)
    token = deployment.token
    if token is not None and token.ref:
        return KeyRoute(KeyWiring.TOKEN_REF, {"name": name, "value_from": {"secret_name_ref": token.ref}})
    if token is not None:
        return KeyRoute(KeyWiring.LITERAL, {"name": name, "value": token.literal})
    if deployment.api_key_named:
        return KeyRoute(KeyWiring.NAMED, {"name": name, "value_from": {"secret_name_ref": name}})
    return KeyRoute(KeyWiring.NONE, None)
