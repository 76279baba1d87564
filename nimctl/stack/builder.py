"""Validated, composed configs → stacks of typed desired resources with their exact specs.

One config file is one stack: at most one endpoint (the model server) and one job per
evaluation task, all jobs sharing the stack's endpoint. Spec building lives in
``nimctl.stack.specs``; this module names things, checks what spans several files, and renders the
per-invocation parts of a job spec at apply time.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nimctl.common import job_vars, keypath
from nimctl.common.errors import ConfigError, ConfigProblem
from nimctl.common.names import slugify
from nimctl.common.secrets import fingerprint, is_secret_name, redact_config, redact_spec
from nimctl.config.rules import (
    MAX_NAME_LENGTH,
    NAME_RULE_HINT,
    env_name_problem,
    lepton_name_problem,
    mount_path_problem,
)
from nimctl.stack import lifetime
from nimctl.stack.resources import PLATFORMS, DesiredEndpoint, DesiredJob, ProbeToken, Stack
from nimctl.stack.specs import lepton as lepton_specs
from nimctl.stack.specs import local as local_specs
from nimctl.stack.specs.deployment import Deployment, read_deployment
from nimctl.stack.specs.env import env_layers, merge_env
from nimctl.stack.specs.inputs_hash import canonical_hash, task_hash_input
from nimctl.stack.specs.job_env import base_url
from nimctl.stack.specs.key_wiring import KeyWiring, key_wiring
from nimctl.stack.specs.markers import INVOCATION_MARKER, PENDING_URL
from nimctl.stack.specs.names import short_hash
from nimctl.stack.specs.problems import Problem, Problems
from nimctl.stack.specs.run_config import dump_run_config, load_run_config
from nimctl.stack.specs.task_plan import TaskPlan, read_tasks
from nimctl.stack.specs.values import task_key

DEFAULT_OUTPUT_DIR = "results"
DEFAULT_LEPTON_READINESS_S = 1200.0
DEFAULT_LOCAL_READINESS_S = 300.0
# The keys that set how long apply waits for an endpoint (the first local one is the launcher's).
LEPTON_READINESS_KEY = "execution.lepton_platform.deployment.endpoint_readiness_timeout"
LAUNCHER_LOCAL_READINESS_KEY = "execution.endpoint_readiness_timeout"
LOCAL_READINESS_KEY = "execution.local.readiness_timeout"
JOB_NAME_PREFIX = "eval-"
_HASH_LENGTH = 6
# "eval-" + 6 of the invocation id + "-" ... "-" + hash: what is left for the readable part.
_SLUG_ROOM = MAX_NAME_LENGTH - len(JOB_NAME_PREFIX) - 6 - 1 - 1 - _HASH_LENGTH
_TASK_SLUG_MAX = 10
_INVOCATION_RE = re.compile(r"^[0-9a-z]{6}")


if TYPE_CHECKING:  # defined for type checkers only: creating a Protocol class costs start-up time
    from typing import Protocol

    class LoadedConfigLike(Protocol):
        """What ``nimctl.config.loader.load_configs`` returns for each file."""

        path: Any
        stack_name: str
        config: dict[str, Any]

        def locate(self, key_path: str) -> tuple[str, int | None, int | None]: ...


# -- names ------------------------------------------------------------------------------------


def derived_endpoint_name(stack: str) -> str:
    """The endpoint name for a stack whose config does not set one: the stack name when it is
    already a valid name, else its slug plus a short hash of the stack name (deterministic)."""
    slug = slugify(stack)
    if slug == stack and lepton_name_problem(slug) is None:
        return slug
    room = MAX_NAME_LENGTH - 1 - _HASH_LENGTH
    base = slug if slug[:1].isalpha() else f"ep-{slug}"
    base = base[:room].rstrip("-")
    return f"{base}-{short_hash(stack)}"


def job_name_slug(stack: str, task: str) -> str:
    """The readable, hashed middle of a job name: ``<stack>-<task>-<hash of both>``, cut to fit."""
    digest = short_hash(stack, task, length=_HASH_LENGTH)
    task_part = slugify(task.rsplit(".", 1)[-1])[:_TASK_SLUG_MAX].strip("-")
    room = _SLUG_ROOM - len(task_part) - (1 if task_part else 0)
    stack_part = slugify(stack)[:room].strip("-") if room >= 2 else ""
    readable = "-".join(p for p in (stack_part, task_part) if p)
    return f"{readable}-{digest}" if readable else digest


def job_name(job: DesiredJob, invocation_id: str) -> str:
    """``eval-<inv6>-<slug>-<hash>``: at most 36 characters, valid for Lepton, and unique per
    (invocation, stack, task)."""
    short = invocation_id[:6].lower()
    if not _INVOCATION_RE.match(short):
        raise ValueError(f"invocation id {invocation_id!r} must start with 6 lowercase hex characters")
    name = f"{JOB_NAME_PREFIX}{short}-{job.name_slug or job_name_slug(job.stack, job.task)}"
    problem = lepton_name_problem(name)
    if problem:  # cannot happen for slugs built here; a hand-edited plan file could carry one
        raise ValueError(f"job name {name!r} {problem}")
    return name


# -- building stacks --------------------------------------------------------------------------


def build_stacks(loaded: Sequence[LoadedConfigLike]) -> list[Stack]:
    """Typed desired resources for every loaded config; raises ConfigError listing every
    problem (located in its file) when any is found."""
    problems: list[ConfigProblem] = []
    stacks: list[Stack] = []
    for cfg in loaded:
        found = Problems()
        stack = _build_stack(cfg, found)
        problems += [_located(cfg, p) for p in found.errors]
        if stack is not None and not found.errors:
            stacks.append(stack)
    problems += _cross_stack_problems(loaded)
    if problems:
        raise ConfigError(problems=problems)
    return stacks


def _build_stack(cfg: LoadedConfigLike, problems: Problems) -> Stack | None:
    config = cfg.config
    platform = str(keypath.get(config, "execution.type", ""))
    if platform not in PLATFORMS:
        problems.error("execution.type", f"unknown execution type {platform!r}", f"use one of: {', '.join(PLATFORMS)}")
        return None
    stack_name = str(cfg.stack_name)
    deployment = _fit_to_platform(read_deployment(config, platform, problems), platform, problems)
    endpoint = _endpoint(cfg, deployment, platform, problems) if deployment.managed else None
    tasks = read_tasks(config, problems)
    _check_unique_tasks(tasks, problems)
    # Env for every job: top-level env_vars, then evaluation.env_vars, then (Lepton) the platform's
    # task env_vars; a task's own env_vars win over all of them.
    shared_places = ["env_vars", "evaluation.env_vars"]
    if platform == "lepton":
        shared_places.append("execution.lepton_platform.tasks.env_vars")
    shared_env = env_layers(config, shared_places, problems)
    jobs = tuple(_job(cfg, task, deployment, platform, endpoint, shared_env, problems) for task in tasks)
    return Stack(
        name=stack_name,
        source_file=str(cfg.path),
        platform=platform,
        endpoint=endpoint,
        jobs=jobs,
        output_dir=str(keypath.get(config, "execution.output_dir", DEFAULT_OUTPUT_DIR)),
        destroy_after=bool(keypath.get(config, "execution.destroy_after", False)),
        warnings=tuple(_warning_text(cfg, p) for p in problems.warnings),
        config=redact_config(config),
    )


def _fit_to_platform(deployment: Deployment, platform: str, problems: Problems) -> Deployment:
    if deployment.type == "mock" and platform != "local":
        problems.error(
            "deployment.type",
            "the mock server runs only as a local process",
            "use execution: local with deployment: mock, or a real server image on Lepton",
        )
    if platform == "local" and deployment.api_tokens:
        problems.warn(
            "deployment.lepton_config.api_tokens",
            "endpoint tokens apply to Lepton endpoints only; the local server is started without one",
        )
        deployment = deployment._replace(api_tokens=[], token=None)
    token = deployment.token
    if token is not None and token.literal is not None and not is_secret_name(deployment.api_key_name):
        # The literal reaches the job as this variable; only secret-looking names are redacted.
        problems.error(
            "target.api_endpoint.api_key_name",
            f"{deployment.api_key_name!r} would carry the endpoint's literal token, but the name "
            "does not mark it as a secret, so it could be shown or stored",
            "use a name containing KEY or TOKEN (e.g. API_KEY), or a token_name_ref token",
        )
    return deployment


def _endpoint(cfg: LoadedConfigLike, deployment: Deployment, platform: str, problems: Problems) -> DesiredEndpoint:
    config = cfg.config
    explicit = keypath.get(config, "deployment.lepton_config.endpoint_name")
    name = str(explicit) if explicit else derived_endpoint_name(str(cfg.stack_name))
    problem = lepton_name_problem(name)
    if problem:
        where = "deployment.lepton_config.endpoint_name" if explicit else "stack"
        problems.error(
            where,
            f"endpoint name {name!r} {problem}",
            NAME_RULE_HINT,
        )
    lifetime_s: float | None = None
    lifetime_job: dict[str, Any] | None = None
    if platform == "lepton":
        spec = lepton_specs.endpoint_spec(config, deployment, problems)
        _check_lepton_spec_names(spec, "deployment", problems)
        timeout_key = LEPTON_READINESS_KEY
        timeout = keypath.get(config, timeout_key, DEFAULT_LEPTON_READINESS_S)
        lifetime_s = lifetime.max_lifetime_s(config)
        if lifetime_s is not None:
            lifetime_job = lifetime.lifetime_job_template(config, name)
    else:
        spec = local_specs.endpoint_spec(deployment)
        # The launcher's local key, else nimctl's own (whose bundled default is always set).
        launcher_set = keypath.get(config, LAUNCHER_LOCAL_READINESS_KEY) is not None
        timeout_key = LAUNCHER_LOCAL_READINESS_KEY if launcher_set else LOCAL_READINESS_KEY
        timeout = keypath.get(config, timeout_key, DEFAULT_LOCAL_READINESS_S)
    return DesiredEndpoint(
        stack=str(cfg.stack_name),
        name=name,
        platform=platform,
        spec=spec,
        served_model_name=deployment.served_model_name,
        health_path=deployment.paths["health"],
        readiness_timeout_s=float(timeout),
        readiness_timeout_key=timeout_key,
        probe_token=_probe_token(deployment),
        source_file=str(cfg.path),
        max_lifetime_s=lifetime_s,
        lifetime_job=lifetime_job,
    )


def _probe_token(deployment: Deployment) -> ProbeToken | None:
    token = deployment.token
    if token is None:
        # No endpoint token, but the config names the variable the jobs send their key from
        # (target.api_endpoint.api_key_name): an endpoint that checks keys answers the probe's
        # /v1/models with 401 unless the probe sends the same key.
        return ProbeToken(env_var=deployment.api_key_name) if deployment.api_key_named else None
    if token.literal is not None:
        return ProbeToken(literal=token.literal)
    return ProbeToken(env_var=token.ref)


def _check_unique_tasks(tasks: list[TaskPlan], problems: Problems) -> None:
    seen: dict[str, int] = {}
    for task in tasks:
        if task.name in seen:
            problems.error(
                task_key(task.index, "name"),
                f"task {task.name!r} appears twice (also evaluation.tasks.{seen[task.name]})",
                "each task runs once per stack: remove the duplicate, or use another stack file",
            )
        seen.setdefault(task.name, task.index)


def _job(
    cfg: LoadedConfigLike,
    task: TaskPlan,
    deployment: Deployment,
    platform: str,
    endpoint: DesiredEndpoint | None,
    shared_env: list[dict[str, Any]],
    problems: Problems,
) -> DesiredJob:
    config, stack = cfg.config, str(cfg.stack_name)
    notes = list(task.notes)
    if platform == "lepton":
        template = lepton_specs.job_template(
            config, task, deployment, stack=stack, shared_env=shared_env, problems=problems
        )
        _check_lepton_spec_names(template, task_key(task.index), problems)
    else:
        template = local_specs.job_template(
            config,
            task,
            deployment,
            stack=stack,
            shared_env=shared_env,
            output_root=str(keypath.get(config, "execution.output_dir", DEFAULT_OUTPUT_DIR)),
        )
        if task.kind == "harness":
            notes.append(
                f"{task.name} runs `nemo-evaluator` on this machine (install nemo-evaluator; "
                "the task's container image is not used by local runs)"
            )
    wiring = key_wiring(deployment, merge_env(shared_env, task.env)).kind
    if wiring in (KeyWiring.NONE, KeyWiring.NAMED):
        notes.append(wiring.describe(deployment.api_key_name, platform))
    storage = lepton_specs.results_storage(config, task) if platform == "lepton" else None
    if platform == "lepton" and storage is None:
        notes.append(
            f"{task.name}: no task mount, so only the scores (results.yml, eval_factory_metrics.json, read back "
            "from the job's log) survive the job; per-sample outputs go with its container "
            "(add execution.lepton_platform.tasks.mounts to keep them)"
        )
    limit = task.time_limit
    return DesiredJob(
        stack=stack,
        task=task.name,
        resolved_task=task.resolved,
        platform=platform,
        endpoint=endpoint.name if endpoint else None,
        spec_template=template,
        inputs_hash=canonical_hash(task_hash_input(task, deployment, platform, shared_env)),
        model_id=deployment.served_model_name,
        api_key_env=deployment.api_key_name,
        target_url=deployment.target_url if not deployment.managed else None,
        name_slug=job_name_slug(stack, task.name),
        source_file=str(cfg.path),
        notes=tuple(notes),
        time_limit_s=limit.seconds if limit else None,
        time_limit_source=_time_limit_source(cfg, limit.key) if limit else "",
        api_key_wiring=wiring.value,
        results_storage=storage,
    )


def _time_limit_source(cfg: LoadedConfigLike, key: str) -> str:
    """Where a task's time limit was set, as the plan shows it."""
    if not key:
        return "nimctl's default for every task (set execution.evaluation_tasks.timeout or the task's timeout)"
    file, line, _ = _locate(cfg, key)
    try:  # relative to the working directory when the file is below it (shorter, and stable)
        relative = os.path.relpath(file)
        file = relative if not relative.startswith("..") else file
    except ValueError:
        pass
    return f"{key} ({file}{f':{line}' if line else ''})"


def _check_lepton_spec_names(spec: dict[str, Any], key: str, problems: Problems) -> None:
    """Env names and mount paths the Lepton API refuses (its SDK checks them client side)."""
    for env in spec.get("envs") or []:
        name = env.get("name", "")
        problem = env_name_problem(name)
        if problem:
            problems.error(
                key,
                f"env var {name!r} is not valid on Lepton: {problem}",
                "use letters, digits, '.', '_' and '-', not starting with a digit, and no reserved name",
            )
    for mount in spec.get("mounts") or []:
        mount_path = str(mount.get("mount_path", ""))
        # A relative mount path is read from the container's root, as Lepton does.
        if mount_path and mount_path_problem("/" + mount_path.lstrip("/")):
            problems.error(
                key,
                f"mount path {mount.get('mount_path')!r} is reserved by Lepton",
                "mount under a directory of its own, e.g. /opt/nim/.cache or /workspace",
            )


def _cross_stack_problems(loaded: Sequence[LoadedConfigLike]) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    stack_owner: dict[str, LoadedConfigLike] = {}
    endpoint_owner: dict[str, LoadedConfigLike] = {}
    slug_owner: dict[str, tuple[LoadedConfigLike, str]] = {}
    for cfg in loaded:
        stack = str(cfg.stack_name)
        if stack in stack_owner:
            key = "stack" if keypath.get(cfg.config, "stack") else ""
            problems.append(
                _located(
                    cfg,
                    Problem(
                        key,
                        f"stack name {stack!r} is also used by {stack_owner[stack].path}",
                        "give each file its own top-level `stack:` name",
                    ),
                )
            )
            continue  # its endpoint and job names would repeat the same conflict
        stack_owner[stack] = cfg
        if keypath.get(cfg.config, "deployment.type", "none") != "none":
            explicit = keypath.get(cfg.config, "deployment.lepton_config.endpoint_name")
            endpoint = str(explicit) if explicit else derived_endpoint_name(stack)
            if endpoint in endpoint_owner and endpoint_owner[endpoint] is not cfg:
                key = "deployment.lepton_config.endpoint_name" if explicit else "stack"
                problems.append(
                    _located(
                        cfg,
                        Problem(
                            key,
                            f"endpoint name {endpoint!r} is also used by {endpoint_owner[endpoint].path}",
                            "each stack needs its own endpoint name",
                        ),
                    )
                )
            endpoint_owner.setdefault(endpoint, cfg)
        for index, task in enumerate(keypath.get(cfg.config, "evaluation.tasks", []) or []):
            if not isinstance(task, dict) or not task.get("name"):
                continue
            slug = job_name_slug(stack, str(task["name"]))
            owner = slug_owner.get(slug)
            if owner and (owner[0] is not cfg or owner[1] != str(task["name"])):
                problems.append(
                    _located(
                        cfg,
                        Problem(
                            task_key(index, "name"),
                            f"job names of this task and {owner[1]!r} in {owner[0].path} coincide",
                            "rename the task or the stack",
                        ),
                    )
                )
            slug_owner.setdefault(slug, (cfg, str(task["name"])))
    return problems


def _located(cfg: LoadedConfigLike, problem: Problem) -> ConfigProblem:
    file, line, column = _locate(cfg, problem.key_path)
    return ConfigProblem(
        file=file,
        key_path=problem.key_path,
        message=problem.message,
        line=line,
        column=column,
        hint=problem.hint,
        severity=problem.severity,
    )


def _locate(cfg: LoadedConfigLike, key_path: str) -> tuple[str, int | None, int | None]:
    try:
        file, line, column = cfg.locate(key_path)
        return str(file), line, column
    except Exception:  # a key the loader cannot place (e.g. set by a bundled default)
        return str(cfg.path), None, None


def _warning_text(cfg: LoadedConfigLike, problem: Problem) -> str:
    _, line, _ = _locate(cfg, problem.key_path)
    where = f"line {line}: " if line else ""
    text = f"{where}{problem.key_path}: {problem.message}"
    return f"{text} ({problem.hint})" if problem.hint else text


# -- apply time -------------------------------------------------------------------------------


def render_job_spec(job: DesiredJob, *, invocation_id: str, endpoint_url: str | None) -> tuple[str, dict]:
    """The job's platform name and exact spec for one invocation: the endpoint URL goes into
    NIMCTL_ENDPOINT_URL and the run config, the invocation id into output and mount paths."""
    name = job_name(job, invocation_id)
    url = endpoint_url or job.target_url
    if not url:
        raise ValueError(f"{job.address}: the endpoint URL is needed to render the job spec")
    spec = copy.deepcopy(job.spec_template)
    if job.platform == "lepton":
        for mount in spec.get("mounts") or []:
            if isinstance(mount.get("path"), str):
                mount["path"] = _with_invocation(mount["path"], invocation_id)
        for entry in spec.get("envs") or []:
            if "value" in entry:
                entry["value"] = _render_env_value(entry["name"], entry["value"], url, invocation_id, None)
        return name, spec
    template_output = str(spec.get("output_dir", ""))
    output_dir = os.path.abspath(_with_invocation(template_output, invocation_id))
    spec["output_dir"] = output_dir
    env = spec.get("env") or {}
    for env_name, value in list(env.items()):
        if env_name == job_vars.OUTPUT_DIR and value == template_output:
            env[env_name] = output_dir
        else:
            env[env_name] = _render_env_value(env_name, value, url, invocation_id, (template_output, output_dir))
    return name, spec


def _render_env_value(name: str, value: str, url: str, invocation_id: str, output_dirs: tuple[str, str] | None) -> str:
    if name == job_vars.ENDPOINT_URL and value == PENDING_URL:
        return base_url(url)
    if name == job_vars.OUTPUT_DIR:
        return _with_invocation(value, invocation_id)
    if name == "NIMCTL_RUN_CONFIG":
        return _render_run_config(value, url, invocation_id, output_dirs)
    return value


def _render_run_config(text: str, url: str, invocation_id: str, output_dirs: tuple[str, str] | None) -> str:
    document = load_run_config(text)
    endpoint = document.get("target", {}).get("api_endpoint", {})
    nimctl_meta = document.setdefault("metadata", {}).setdefault("nimctl", {})
    if endpoint.get("url") == PENDING_URL:
        endpoint["url"] = base_url(url) + str(nimctl_meta.get("endpoint_path", ""))
    config_section = document.get("config", {})
    output_dir = config_section.get("output_dir")
    if isinstance(output_dir, str):
        if output_dirs and output_dir == output_dirs[0]:
            config_section["output_dir"] = output_dirs[1]
        else:
            config_section["output_dir"] = _with_invocation(output_dir, invocation_id)
    nimctl_meta["invocation_id"] = invocation_id
    return dump_run_config(document)


def _with_invocation(path: str, invocation_id: str) -> str:
    """Replace the INVOCATION_MARKER path component (whole components only)."""
    return "/".join(invocation_id if part == INVOCATION_MARKER else part for part in path.split("/"))


# -- display and storage ----------------------------------------------------------------------


def redact_stack_dict(stack: Stack, salt: str) -> dict[str, Any]:
    """``stack.to_dict()`` safe to show or store: literal tokens and secret env values replaced
    by salted fingerprints (the endpoint spec, the probe token, every job's spec template)."""
    data = stack.to_dict()
    endpoint = data.get("endpoint")
    if endpoint:
        endpoint["spec"] = redact_spec(endpoint["spec"], salt)
        token = endpoint.get("probe_token")
        if token and token.get("literal"):
            token["literal"] = fingerprint(token["literal"], salt)
    for job in data["jobs"]:
        job["spec_template"] = redact_spec(job["spec_template"], salt)
    return data


# -- platform secrets the specs rely on -------------------------------------------------------


def referenced_secrets(stacks: Sequence[Stack]) -> dict[str, list[str]]:
    """Lepton workspace secrets the stacks' specs reference (env ``secret_name_ref``, token
    ``token_name_ref``) → the addresses that need them. Lepton starts nothing whose secret is
    missing, so a plan can check these against the workspace's secret list (one request)."""
    needed: dict[str, list[str]] = {}

    def note(name: str, address: str) -> None:
        if address not in needed.setdefault(name, []):
            needed[name].append(address)

    for stack in stacks:
        specs = [(stack.endpoint.address, stack.endpoint.spec)] if stack.endpoint else []
        if stack.endpoint and stack.endpoint.lifetime_job:
            specs.append((stack.endpoint.address, stack.endpoint.lifetime_job))
        specs += [(job.address, job.spec_template) for job in stack.jobs]
        for address, spec in specs:
            if stack.platform != "lepton":
                continue
            for env in spec.get("envs") or []:
                ref = (env.get("value_from") or {}).get("secret_name_ref")
                if ref:
                    note(ref, address)
            for token in spec.get("api_tokens") or []:
                ref = (token.get("value_from") or {}).get("token_name_ref")
                if ref:
                    note(ref, address)
    return dict(sorted(needed.items()))


# -- the SDK's own check (plan time) ----------------------------------------------------------

PLACEHOLDER_INVOCATION = "0" * 16
PLACEHOLDER_URL = "https://endpoint.example"


def check_specs_with_sdk(stacks: Sequence[Stack]) -> list[str]:
    """Parse every Lepton spec in the leptonai SDK's own models (and run the checks the SDK runs
    before creating a job). Returns the problems found, one line each. Imports leptonai (about
    half a second), which is why validate does not call this and plan does."""
    from leptonai.api.v2.job_validation import validate_job_create, validate_mount_path
    from leptonai.api.v2.spec_utils import validate_environment_variable_name
    from leptonai.api.v2.types.common import Metadata
    from leptonai.api.v2.types.deployment import LeptonDeploymentUserSpec
    from leptonai.api.v2.types.job import LeptonJob, LeptonJobUserSpec

    problems: list[str] = []
    for stack in stacks:
        endpoint = stack.endpoint
        if endpoint is not None and endpoint.platform == "lepton":
            where = f"{stack.source_file}: {endpoint.address}"
            model = _parse(LeptonDeploymentUserSpec, endpoint.spec, where, "deployment", problems)
            if model is not None:
                for env in model.envs or []:
                    _sdk_check(lambda n=env.name: validate_environment_variable_name(n), where, problems)
                for mount in model.mounts or []:
                    _sdk_check(lambda p=mount.mount_path: validate_mount_path(p), where, problems)
            if endpoint.lifetime_job:
                name = lifetime.lifetime_job_name(endpoint.name)
                spec = lifetime.render_lifetime_job(
                    endpoint.lifetime_job, start_at=1, workspace_url=PLACEHOLDER_URL, endpoint_created_at=None
                )
                model = _parse(LeptonJobUserSpec, spec, f"{where} (max_lifetime job)", "job", problems)
                if model is not None:
                    lepton_job = LeptonJob(metadata=Metadata(id=name, name=name), spec=model)
                    _sdk_check(lambda j=lepton_job: validate_job_create(j), where, problems)
        for job in stack.jobs:
            if job.platform != "lepton":
                continue
            where = f"{stack.source_file}: {job.address}"
            name, spec = render_job_spec(job, invocation_id=PLACEHOLDER_INVOCATION, endpoint_url=PLACEHOLDER_URL)
            model = _parse(LeptonJobUserSpec, spec, where, "job", problems)
            if model is not None:
                lepton_job = LeptonJob(metadata=Metadata(id=name, name=name), spec=model)
                _sdk_check(lambda j=lepton_job: validate_job_create(j), where, problems)
    return problems


def _parse(model_type: Any, spec: dict[str, Any], where: str, what: str, problems: list[str]) -> Any:
    from pydantic import ValidationError

    try:
        model = model_type.model_validate(spec)
    except ValidationError as err:
        details = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors())
        problems.append(f"{where}: the Lepton SDK rejects the {what} spec: {details}")
        return None
    except (TypeError, ValueError) as err:
        problems.append(f"{where}: the Lepton SDK rejects the {what} spec: {err}")
        return None
    dumped = model.model_dump(mode="json", exclude_none=True, by_alias=True)
    for path in _dropped_fields(spec, dumped):
        problems.append(f"{where}: {what} spec field {path} is not part of the Lepton API (the SDK drops it)")
    return model


def _sdk_check(check: Any, where: str, problems: list[str]) -> None:
    try:
        check()
    except ValueError as err:
        problems.append(f"{where}: {err}")


def _dropped_fields(sent: Any, kept: Any, path: str = "") -> list[str]:
    """Keys present (with a value) in ``sent`` but missing from the SDK's serialisation."""
    if isinstance(sent, dict) and isinstance(kept, dict):
        dropped = []
        for key, value in sent.items():
            child = f"{path}.{key}" if path else str(key)
            if key not in kept:
                if value is not None:
                    dropped.append(child)
            else:
                dropped += _dropped_fields(value, kept[key], child)
        return dropped
    if isinstance(sent, list) and isinstance(kept, list) and len(sent) == len(kept):
        pairs = enumerate(zip(sent, kept, strict=True))
        return [p for i, (s, k) in pairs for p in _dropped_fields(s, k, f"{path}[{i}]")]
    return []
