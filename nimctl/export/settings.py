"""The ``export.<dest>`` settings: one table of every key each destination takes (the launcher
0.2.6 exporters' names and defaults, so a launcher config's ``export:`` section works unchanged),
their validation, and ``-o export.<dest>.key=value`` overrides.

Takes the ``export:`` mapping of a config (or nothing) and the command line's overrides; gives
the settings of one destination as a plain dict with every default filled in, or the problems
found (key path, what is wrong, how to fix it). Cheap to import: ``nimctl validate`` runs it.

Deliberate differences from the launcher: ``log_config_params`` is on by default (the redacted
config is what makes a run reproducible), ``local.output_dir`` defaults to ``./nimctl-results``,
and ``gsheets`` is refused with a reason.
"""

from __future__ import annotations

import difflib
import enum
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from nimctl.common import keypath
from nimctl.common.errors import NimctlError
from nimctl.common.secrets import copy_tree


class Kind(enum.Enum):
    """The type a setting's value must have."""

    STR = "a string"
    BOOL = "true or false"
    INT = "an integer"
    STR_LIST = "a list of strings"
    STR_MAP = "a mapping of strings to strings"
    MAP = "a mapping"

    def accepts(self, value: Any) -> bool:
        if self is Kind.STR:
            return isinstance(value, str)
        if self is Kind.BOOL:
            return isinstance(value, bool)
        if self is Kind.INT:
            return isinstance(value, int) and not isinstance(value, bool)
        if self is Kind.STR_LIST:
            return isinstance(value, list) and all(isinstance(v, str) for v in value)
        if self is Kind.STR_MAP:
            return isinstance(value, dict) and all(isinstance(v, (str, int, float, bool)) for v in value.values())
        return isinstance(value, dict)


@dataclass(frozen=True)
class Setting:
    name: str
    kind: Kind
    default: Any = None
    choices: tuple[str, ...] = ()
    required: bool = False
    nullable: bool = True  # null means "use the default"
    note: str = ""  # set for keys nimctl accepts but does not act on: said once when written


# Keys every destination takes (the launcher's ExportConfig).
COMMON = (
    Setting("copy_artifacts", Kind.BOOL, True),
    Setting("only_required", Kind.BOOL, True),
    Setting("log_metrics", Kind.STR_LIST, []),
    Setting("copy_logs", Kind.BOOL, False, note="nimctl keeps no job log files to copy; `nimctl logs ID` reads them"),
    # Deprecated launcher spellings of copy_logs / copy_artifacts, still accepted there.
    Setting("log_logs", Kind.BOOL, None, note="deprecated launcher name of copy_logs"),
    Setting("log_artifacts", Kind.BOOL, None),
    Setting("job_dirs", Kind.STR_LIST, [], note="nimctl finds each job's results through its state"),
)


class Destination(enum.Enum):
    """Where results go. Each knows its settings, the extra that installs its library and the
    module that exports to it."""

    LOCAL = "local"
    MLFLOW = "mlflow"
    WANDB = "wandb"

    @property
    def settings(self) -> tuple[Setting, ...]:
        return COMMON + _OWN[self]

    @property
    def extra(self) -> str | None:
        """The pip extra with this destination's library (None: nothing to install)."""
        return None if self is Destination.LOCAL else self.value

    @property
    def library(self) -> str | None:
        return {Destination.MLFLOW: "mlflow", Destination.WANDB: "wandb"}.get(self)

    @property
    def module(self) -> str:
        return f"nimctl.export.destinations.{self.value}"

    @classmethod
    def parse(cls, name: str) -> Destination:
        try:
            return cls(name)
        except ValueError:
            pass
        if name in UNSUPPORTED:
            raise NimctlError(f"export destination {name!r} is not supported by nimctl", hint=UNSUPPORTED[name])
        raise NimctlError(f"unknown export destination {name!r}", hint=f"use one of: {', '.join(d.value for d in cls)}")


_OWN: dict[Destination, tuple[Setting, ...]] = {
    Destination.LOCAL: (
        Setting("output_dir", Kind.STR, "./nimctl-results"),
        Setting("format", Kind.STR, "json", choices=("json", "csv")),
        Setting("output_filename", Kind.STR, None),
    ),
    Destination.MLFLOW: (
        # Required, but $MLFLOW_TRACKING_URI stands in for it (checked when exporting).
        Setting("tracking_uri", Kind.STR, None),
        Setting("experiment_name", Kind.STR, "nemo-evaluator-launcher"),
        Setting("log_config_params", Kind.BOOL, True),
        Setting("log_config_params_max_depth", Kind.INT, 10),
        Setting("skip_existing", Kind.BOOL, False),
        Setting("run_name", Kind.STR, None),
        Setting("description", Kind.STR, None),
        Setting("tags", Kind.STR_MAP, {}),
        Setting("extra_metadata", Kind.MAP, {}),
        Setting("exclude_patterns", Kind.STR_LIST, []),
    ),
    Destination.WANDB: (
        Setting("entity", Kind.STR, None, required=True),
        Setting("project", Kind.STR, None, required=True),
        Setting("log_mode", Kind.STR, "per_task", choices=("per_task", "multi_task")),
        Setting("name", Kind.STR, None),
        Setting("group", Kind.STR, None),
        Setting("job_type", Kind.STR, "evaluation"),
        Setting("tags", Kind.STR_LIST, []),
        Setting("description", Kind.STR, None),
        Setting("extra_metadata", Kind.MAP, {}),
        Setting("run_id", Kind.STR, None),
    ),
}

UNSUPPORTED = {
    "gsheets": "nimctl does not export to Google Sheets; `nimctl export ID --dest local --format csv` writes a "
    "CSV that Sheets imports",
    "jet": "JET is NVIDIA-internal; use mlflow, wandb or local",
}


@dataclass(frozen=True)
class SettingProblem:
    key_path: str  # e.g. "export.mlflow.tags"
    message: str
    hint: str | None = None
    severity: str = "error"  # "error" | "warning"


def check_export_block(block: Any, where: str = "export") -> list[SettingProblem]:
    """Every problem of a config's ``export:`` mapping (all destinations), for config validation."""
    if block is None:
        return []
    if not isinstance(block, dict):
        return [
            SettingProblem(where, "must be a mapping of destinations to their settings", "e.g. export: {mlflow: {...}}")
        ]
    problems: list[SettingProblem] = []
    for name, values in block.items():
        path = f"{where}.{name}"
        try:
            dest = Destination.parse(str(name))
        except NimctlError as err:
            problems.append(SettingProblem(path, err.message, err.hint))
            continue
        problems += _check(dest, values, path, require=False)
    return problems


def check_auto_export(value: Any, export_block: Any, where: str = "execution.auto_export") -> list[SettingProblem]:
    """``execution.auto_export``: ``{destinations: [mlflow, ...]}``, each named destination valid
    (its required settings given in ``export.<dest>``)."""
    if value is None:
        return []
    if not isinstance(value, dict):
        return [SettingProblem(where, "must be a mapping", "e.g. auto_export: {destinations: [mlflow]}")]
    problems = []
    for key in value:
        if key != "destinations":
            problems.append(
                SettingProblem(
                    f"{where}.{key}",
                    "is not an auto_export setting nimctl reads",
                    "auto_export takes destinations: [...]; the Slurm-only launcher_install_cmd, export_mounts "
                    "and export_image do not apply",
                    severity="warning",
                )
            )
    destinations = value.get("destinations") or []
    if not isinstance(destinations, list) or not all(isinstance(d, str) for d in destinations):
        return [*problems, SettingProblem(f"{where}.destinations", "must be a list of destination names", None)]
    block = export_block if isinstance(export_block, dict) else {}
    for index, name in enumerate(destinations):
        try:
            dest = Destination.parse(name)
        except NimctlError as err:
            problems.append(SettingProblem(f"{where}.destinations.{index}", err.message, err.hint))
            continue
        for setting in dest.settings:
            if setting.required and not (isinstance(block.get(name), dict) and block[name].get(setting.name)):
                problems.append(
                    SettingProblem(
                        f"export.{name}.{setting.name}",
                        f"is required to export to {name} (execution.auto_export names {name})",
                        f"set export.{name}.{setting.name}",
                    )
                )
    return problems


def auto_export_destinations(config: dict[str, Any]) -> list[Destination]:
    """The destinations a (validated) config exports to when its jobs finish."""
    auto = (config.get("execution") or {}).get("auto_export") or {}
    return [Destination(name) for name in (auto.get("destinations") or []) if isinstance(auto, dict)]


def _check(dest: Destination, values: Any, path: str, *, require: bool) -> list[SettingProblem]:
    if values is None:
        values = {}
    if not isinstance(values, dict):
        return [SettingProblem(path, "must be a mapping of settings", f"e.g. {path}: {{...}}")]
    known = {s.name: s for s in dest.settings}
    problems: list[SettingProblem] = []
    for key, value in values.items():
        setting = known.get(str(key))
        if setting is None:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"did you mean {close[0]}?" if close else f"{dest.value} takes: {', '.join(sorted(known))}"
            problems.append(SettingProblem(f"{path}.{key}", f"is not a setting of the {dest.value} exporter", hint))
            continue
        if value is None and setting.nullable:
            continue
        if not setting.kind.accepts(value):
            problems.append(SettingProblem(f"{path}.{key}", f"must be {setting.kind.value}, not {value!r}"))
        elif setting.choices and value not in setting.choices:
            problems.append(
                SettingProblem(f"{path}.{key}", f"is {value!r}", f"use one of: {', '.join(setting.choices)}")
            )
        elif setting.note:
            problems.append(
                SettingProblem(f"{path}.{key}", f"is accepted but not acted on: {setting.note}", severity="warning")
            )
    if require:
        for setting in dest.settings:
            if setting.required and values.get(setting.name) in (None, ""):
                problems.append(
                    SettingProblem(
                        f"{path}.{setting.name}",
                        "is required",
                        f"set it in the config's export.{dest.value} or with -o {path}.{setting.name}=VALUE",
                    )
                )
    return problems


def parse_overrides(overrides: Iterable[str], dest: Destination) -> tuple[dict[str, Any], list[str], list[str]]:
    """``-o export.<dest>.key=value`` (``~export.<dest>.key`` removes a key) → (values to set by
    dotted key, keys to remove). Overrides of other destinations are returned as ignored; any other
    override is an error (the export command only takes export settings)."""
    import yaml

    sets: dict[str, Any] = {}
    removes: list[str] = []
    ignored: list[str] = []
    prefix = f"export.{dest.value}."
    for raw in overrides:
        text = raw.lstrip("+")
        remove = text.startswith("~")
        text = text.lstrip("~")
        key, sep, value = text.partition("=")
        if not key.startswith("export.") or (not sep and not remove):
            raise NimctlError(
                f"-o {raw}: not an export setting",
                hint=f"write -o {prefix}KEY=VALUE (e.g. -o {prefix}{dest.settings[-1].name}=...)",
            )
        if not key.startswith(prefix):
            ignored.append(raw)
            continue
        name = key[len(prefix) :]
        if remove:
            removes.append(name)
            continue
        try:
            sets[name] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            sets[name] = value
    return sets, removes, ignored


def resolve(dest: Destination, block: Any, overrides: Iterable[str] = ()) -> tuple[dict[str, Any], list[str]]:
    """The settings of one destination: the config's ``export.<dest>`` block, then the overrides,
    then defaults. Returns (settings, notes); raises NimctlError listing every problem."""
    # A deep copy: overrides of nested keys (tags.team=x) must not reach the config they came from.
    values: dict[str, Any] = copy_tree(block) if isinstance(block, dict) else {}
    sets, removes, ignored = parse_overrides(overrides, dest)
    for name in removes:
        keypath.pop(values, name)
    for name, value in sets.items():
        keypath.set_path(values, name, value)
    problems = _check(dest, values, f"export.{dest.value}", require=True)
    if dest is Destination.MLFLOW:
        uri = tracking_uri(values.get("tracking_uri"))
        if not uri:
            problems.append(
                SettingProblem(
                    "export.mlflow.tracking_uri",
                    "is required",
                    "set export.mlflow.tracking_uri in the config, -o export.mlflow.tracking_uri=URI, "
                    "or the MLFLOW_TRACKING_URI environment variable",
                )
            )
        values["tracking_uri"] = uri
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise NimctlError(
            "invalid export settings:\n  " + "\n  ".join(_render(p) for p in errors),
            hint=f"see the export.{dest.value} keys in README.md (Exporting results)",
        )
    notes = [_render(p) for p in problems if p.severity == "warning"]
    notes += [f"-o {raw}: for another destination; ignored" for raw in ignored]
    resolved = {s.name: _default(s) for s in dest.settings}
    resolved.update({k: v for k, v in values.items() if v is not None})
    # The launcher's deprecated spellings feed the current keys when those are not given.
    if values.get("log_logs") is not None and values.get("copy_logs") is None:
        resolved["copy_logs"] = values["log_logs"]
    if values.get("log_artifacts") is not None and values.get("copy_artifacts") is None:
        resolved["copy_artifacts"] = values["log_artifacts"]
    return resolved, notes


def tracking_uri(value: str | None) -> str | None:
    """The launcher's rule: the setting, else $MLFLOW_TRACKING_URI; a value without ``://`` names
    an environment variable that holds the URI (used as written when no such variable is set)."""
    uri = value or os.environ.get("MLFLOW_TRACKING_URI")
    if uri and "://" not in uri:
        uri = os.environ.get(uri, uri)
    return uri.rstrip("/") if uri else None


def _default(setting: Setting) -> Any:
    value = setting.default
    return list(value) if isinstance(value, list) else dict(value) if isinstance(value, dict) else value


def _render(problem: SettingProblem) -> str:
    return f"{problem.key_path}: {problem.message}" + (f" ({problem.hint})" if problem.hint else "")
