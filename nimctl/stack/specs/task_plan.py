"""Each evaluation task's plan, platform-independent: ``read_tasks`` takes the composed config and
gives a ``TaskPlan`` per task (what runs: a harness task with its merged run config, a built-in,
or a ``command:``; its image, params, env entries and time limit), reporting problems as it goes."""

from __future__ import annotations

import copy
from typing import Any, NamedTuple

from nimctl.common import keypath
from nimctl.common.names import safe_component
from nimctl.stack.specs.env import env_entries
from nimctl.stack.specs.problems import Problems
from nimctl.stack.specs.values import as_argv, deep_merge, task_key
from nimctl.stack.tasks import AmbiguousTask, ResolvedTask, UnknownTask, resolve_task

DEFAULT_DATASET_MOUNT_PATH = "/datasets"  # the launcher's default dataset_mount_path
DEFAULT_TASK_TIMEOUT_S = 12 * 3600  # when no config (not even a bundled default) sets one


class TimeLimit(NamedTuple):
    """How long a task's evaluation may run, and which key set it (shown in the plan)."""

    seconds: int
    key: str  # "evaluation.tasks.0.timeout" | "execution.evaluation_tasks.timeout" | "" (nimctl's own)


def read_time_limit(config: dict[str, Any], index: int, item: dict[str, Any], problems: Problems) -> TimeLimit:
    """The task's ``timeout``, else ``execution.evaluation_tasks.timeout``, else nimctl's default."""
    for key, value in (
        (task_key(index, "timeout"), item.get("timeout")),
        ("execution.evaluation_tasks.timeout", keypath.get(config, "execution.evaluation_tasks.timeout")),
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
        return safe_component(self.name).strip(".") or f"task{self.index}"


def read_tasks(config: dict[str, Any], problems: Problems) -> list[TaskPlan]:
    raw = keypath.get(config, "evaluation.tasks", [])
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
        keypath.get(config, "evaluation.nemo_evaluator_config", {}) or {}, item.get("nemo_evaluator_config") or {}
    )
    # Older launchers' dotted overrides ("config.params.temperature: 0.6"), evaluation-wide then
    # the task's own, applied on top of nemo_evaluator_config.
    for where, overrides in (
        ("evaluation.overrides", keypath.get(config, "evaluation.overrides")),
        (task_key(index, "overrides"), item.get("overrides")),
    ):
        if isinstance(overrides, dict):
            for dotted, value in overrides.items():
                _set_dotted(run_config, str(dotted), value, f"{where}.{dotted}", problems)
    run_config.setdefault("config", {}).setdefault("type", resolved.task)
    pre_cmd = item.get("pre_cmd") or keypath.get(config, "evaluation.pre_cmd")
    post_cmd = item.get("post_cmd") or keypath.get(config, "evaluation.post_cmd")
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
    """``document["a"]["b"]["c"] = value`` for ``"a.b.c"``, creating mappings on the way; a step
    that holds something other than a mapping is reported, not replaced (keypath.set_path would
    replace it)."""
    parts = dotted.split(".")
    if not all(parts):
        problems.error(key_path, f"{dotted!r} is not a dotted key path", "write e.g. config.params.temperature: 0.6")
        return
    for depth in range(1, len(parts)):
        where = ".".join(parts[:depth])
        child = keypath.get(document, where)
        if child is not None and not isinstance(child, dict):
            problems.error(key_path, f"cannot set {dotted}: {where} is not a mapping in the run config")
            return
    keypath.set_path(document, dotted, copy.deepcopy(value))


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
