"""Load config files: read → compose → interpolate → schema → semantic checks, per file.

Every problem of a file is collected before anything is raised, and the problems of all files
are raised together, so one run shows everything that needs fixing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from nimctl.common.errors import ConfigError, ConfigProblem
from nimctl.config.compose import compose
from nimctl.config.loaded import LoadedConfig
from nimctl.config.rules import DEFAULT_MOUNT_FROM, sanitize_name
from nimctl.config.schema_check import schema_findings
from nimctl.config.semantic import check as semantic_findings
from nimctl.config.sources import origin, source_of
from nimctl.config.yaml_source import SourceDoc, YamlProblems, parse_yaml, read_file_text

CONFIG_SUFFIXES = (".yaml", ".yml")


def expand_paths(paths: list[str]) -> list[str]:
    """Files as given; a directory gives its *.yaml / *.yml files, sorted. ConfigError if any is missing."""
    files: list[str] = []
    problems: list[ConfigProblem] = []
    for given in paths:
        if os.path.isdir(given):
            names = sorted(n for n in os.listdir(given) if n.endswith(CONFIG_SUFFIXES) and not n.startswith("."))
            found = [os.path.join(given, n) for n in names if os.path.isfile(os.path.join(given, n))]
            reported = len(problems)
            # A config the directory names but that cannot be read (a dangling symlink) is an
            # error, not a stack silently left out of an apply.
            for name in names:
                path = os.path.join(given, name)
                if os.path.islink(path) and not os.path.exists(path):
                    problems.append(
                        ConfigProblem(
                            path,
                            "",
                            f"a symbolic link to {os.readlink(path)}, which does not exist",
                            hint="fix or remove the link",
                        )
                    )
            if not found and len(problems) == reported:  # nothing said of this directory yet
                problems.append(
                    ConfigProblem(
                        given,
                        "",
                        "the directory holds no .yaml or .yml files",
                        hint="pass a config file, or a directory of config files",
                    )
                )
            files.extend(found)
        elif os.path.isfile(given):
            files.append(given)
        elif os.path.exists(given):  # a pipe, socket or device: reading it could block or never end
            problems.append(
                ConfigProblem(
                    given,
                    "",
                    "not a regular file (a pipe, socket or device)",
                    hint="point -f at a YAML config file or a directory of them",
                )
            )
        else:
            problems.append(ConfigProblem(given, "", "no such file or directory", hint="check the path given to -f"))
    if problems:
        raise ConfigError(problems=problems)
    unique: list[str] = []
    seen: set[str] = set()
    for file in files:
        key = os.path.realpath(file)
        if key not in seen:
            seen.add(key)
            unique.append(file)
    return unique


def load_configs(paths: list[str], overrides: list[str] | tuple[str, ...] = ()) -> list[LoadedConfig]:
    """Load, compose and validate every config file in ``paths`` (files or directories).

    Raises ``nimctl.common.errors.ConfigError`` carrying all problems of all files (a file's errors
    together, with its warnings) when any file has an error. Warnings of valid files are returned
    in each ``LoadedConfig.warnings``.
    """
    files = expand_paths(list(paths))
    loaded: list[LoadedConfig] = []
    problems: list[ConfigProblem] = []
    for file in files:
        result, file_problems = load_one(file, list(overrides or ()))
        problems.extend(file_problems)
        if result is not None:
            loaded.append(result)
    problems.extend(_duplicate_stacks(loaded))
    if any(p.severity == "error" for p in problems):
        raise ConfigError(problems=problems)
    return loaded


def _duplicate_stacks(loaded: list[LoadedConfig]) -> list[ConfigProblem]:
    owners: dict[str, LoadedConfig] = {}
    problems: list[ConfigProblem] = []
    for cfg in loaded:
        other = owners.get(cfg.stack_name)
        if other is None:
            owners[cfg.stack_name] = cfg
            continue
        key = "stack" if "stack" in cfg.config else ""
        file, line, column = cfg.locate(key) if key else (cfg.path, None, None)
        problems.append(
            ConfigProblem(
                cfg.path,
                key,
                f"stack name {cfg.stack_name!r} is also used by {other.path}; each stack needs its own name",
                line,
                column,
                hint="set a distinct top-level `stack:` in one of the files",
            )
        )
    return problems


def load_one(file: str, overrides: list[str]) -> tuple[LoadedConfig | None, list[ConfigProblem]]:
    """One file's LoadedConfig (None when it has errors) and all its problems, errors and warnings."""
    try:
        doc = parse_yaml(read_file_text(file), file)
    except YamlProblems as err:
        return None, err.problems
    try:
        return _check(doc, overrides)
    except RecursionError:
        return None, [ConfigProblem(file, "", "the config is nested too deeply to check")]


def _check(doc: SourceDoc, overrides: list[str]) -> tuple[LoadedConfig | None, list[ConfigProblem]]:
    composition = compose(doc, overrides)
    problems = list(composition.problems)
    config = composition.config
    if config is None:
        return None, problems
    cfg = LoadedConfig(doc.file, _stack_name(doc.file, config), config, [], _sources=composition.sources)

    reported = set(composition.reported)

    def already_reported(key_path: str) -> bool:
        return any(key_path == r or key_path.startswith(r + ".") for r in reported if r)

    def place(key_path: str, message: str, hint: str | None, severity: str = "error") -> ConfigProblem:
        file, line, column = cfg.locate(key_path)
        if file != doc.file:  # a bundled default or an -o override: say so, point at what chose it
            message += f" (from {_describe_origin(file)})"
            source = origin(key_path, cfg._sources)
            entry = composition.group_entries.get(source.group or "") if source else None
            line, column = doc.marks.get(entry or "", (None, None))
        return ConfigProblem(doc.file, key_path, message, line, column, hint, severity)

    for key_path, message, hint in schema_findings(
        config, interpolated=composition.interpolated, skip=already_reported
    ):
        problems.append(place(key_path, message, hint))
        reported.add(key_path)

    def written(key_path: str) -> bool:
        source = source_of(key_path, cfg._sources)
        return source is not None and source.kind in ("user", "override")

    for finding in semantic_findings(config, written):
        if finding.severity == "error" and already_reported(finding.key_path):
            continue
        problems.append(place(finding.key_path, finding.message, finding.hint, finding.severity))

    problems.sort(key=lambda p: (p.severity != "error", p.line is None, p.line or 0, p.column or 0))
    cfg.warnings = [p for p in problems if p.severity != "error"]
    if any(p.severity == "error" for p in problems):
        return None, problems
    _normalize(config)
    return cfg, problems


def _describe_origin(file: str) -> str:
    if file.startswith("<"):
        return file.strip("<>")
    groups = Path(__file__).resolve().parent / "groups"
    try:
        return "bundled group " + Path(file).resolve().relative_to(groups).with_suffix("").as_posix()
    except ValueError:
        return file


def _stack_name(file: str, config: dict[str, Any]) -> str:
    stack = config.get("stack")
    if isinstance(stack, str) and stack:
        return stack
    launcher_name = config.get("name")  # the launcher's run name, e.g. lepton_vllm_llama_3_1_8b_instruct
    if isinstance(launcher_name, str) and launcher_name.strip():
        return sanitize_name(launcher_name)
    endpoint = (
        config.get("deployment", {}).get("lepton_config", {}) if isinstance(config.get("deployment"), dict) else {}
    )
    name = endpoint.get("endpoint_name") if isinstance(endpoint, dict) else None
    if isinstance(name, str) and name:
        return name
    return sanitize_name(Path(file).stem)


# -- normalisation of a valid config ---------------------------------------------------------------


def _normalize(config: dict[str, Any]) -> None:
    """Small canonical forms so spec building need not handle YAML's variety:
    env values and argv items become strings; a task mount without `from` gets the default."""
    deployment = config.get("deployment") or {}
    execution = config.get("execution") or {}
    tasks_platform = (execution.get("lepton_platform") or {}).get("tasks") or {}
    env_maps = [
        config.get("env_vars"),
        (config.get("evaluation") or {}).get("env_vars"),
        (deployment.get("lepton_config") or {}).get("envs"),
        deployment.get("env_vars"),
        tasks_platform.get("env_vars"),
    ]
    tasks = (config.get("evaluation") or {}).get("tasks") or []
    env_maps += [task.get("env_vars") for task in tasks]
    for envs in env_maps:
        if isinstance(envs, dict):
            for name, value in envs.items():
                if not isinstance(value, (dict, str)):
                    envs[name] = _scalar_text(value)
    for holder in [deployment, *tasks]:
        if isinstance(holder.get("command"), list):
            holder["command"] = [item if isinstance(item, str) else _scalar_text(item) for item in holder["command"]]
    for mount in tasks_platform.get("mounts") or []:
        mount.setdefault("from", DEFAULT_MOUNT_FROM)


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
