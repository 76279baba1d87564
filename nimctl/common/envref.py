"""Env values with the launcher's prefixes, and the markers that carry them through specs.

The launcher writes env values as ``lit:VALUE`` (a literal), ``host:VAR`` (the value of VAR in
the environment of the command that starts the run) or ``runtime:VAR`` (resolved inside the
container when it starts). nimctl reads all three on every platform (the launcher applies them
on local and Slurm only); a value without a prefix is a literal, as it always was in nimctl.

Takes a raw env value; gives an ``EnvValue`` (its source kind and text). Specs carry a ``host:``
value as a *host marker* (``HOST_MARKER_PREFIX + VAR + ")"``) in place of the value: the value is
read from nimctl's environment only when a platform call is made (``resolve_host_markers``) and
never enters state, plans or logs. The marker starts like a redacted value, so every place that
shows or compares specs already treats it as a secret it cannot see.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from enum import Enum
from typing import Any, NamedTuple

VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
HOST_MARKER_PREFIX = "(sensitive:host:"
RUNTIME_MARKER_PREFIX = "(runtime:"


class EnvSource(str, Enum):
    """Where an env value comes from."""

    LITERAL = "lit"
    HOST = "host"
    RUNTIME = "runtime"

    @property
    def prefix(self) -> str:
        return f"{self.value}:"

    @property
    def names_a_variable(self) -> bool:
        """Whether the text after the prefix is a variable name (not a value)."""
        return self is not EnvSource.LITERAL


class EnvValue(NamedTuple):
    source: EnvSource
    text: str  # the literal value, or the variable name for host:/runtime:


def parse_env_value(raw: str) -> EnvValue:
    """``lit:x`` → literal x; ``host:VAR`` / ``runtime:VAR`` → that variable; else a literal."""
    for source in EnvSource:
        if raw.startswith(source.prefix):
            return EnvValue(source, raw[len(source.prefix) :])
    return EnvValue(EnvSource.LITERAL, raw)


def variable_problem(value: EnvValue) -> str | None:
    """Why a host:/runtime: value does not name a variable, or None."""
    if value.source.names_a_variable and not VAR_NAME.match(value.text):
        return (
            f"{value.source.prefix} must be followed by an environment variable name "
            f"(letters, digits and '_', not starting with a digit), not {value.text!r}"
        )
    return None


def host_marker(variable: str) -> str:
    return f"{HOST_MARKER_PREFIX}{variable})"


def runtime_marker(variable: str) -> str:
    return f"{RUNTIME_MARKER_PREFIX}{variable})"


def _marked(value: Any, prefix: str) -> str | None:
    if isinstance(value, str) and value.startswith(prefix) and value.endswith(")"):
        return value[len(prefix) : -1]
    return None


def host_variable(value: Any) -> str | None:
    """The variable a host marker stands for (None when ``value`` is not one)."""
    return _marked(value, HOST_MARKER_PREFIX)


def runtime_variable(value: Any) -> str | None:
    """The variable a runtime marker stands for (None when ``value`` is not one)."""
    return _marked(value, RUNTIME_MARKER_PREFIX)


class MissingHostVariables(Exception):
    """host: values whose variables are not set in nimctl's environment."""

    def __init__(self, missing: list[tuple[str, str]]) -> None:
        self.missing = missing  # (env name in the spec, host variable)
        shown = ", ".join(f"{var} (for {name})" for name, var in missing)
        super().__init__(f"host environment variable(s) not set: {shown}")


def host_variables(spec: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(env name, host variable) for every host marker in a Lepton spec's ``envs``."""
    found = []
    for entry in spec.get("envs") or []:
        variable = host_variable(entry.get("value")) if isinstance(entry, dict) else None
        if variable:
            found.append((str(entry.get("name", "")), variable))
    return found


def missing_host_variables(
    specs: list[Mapping[str, Any]], environ: Mapping[str, str] | None = None
) -> list[tuple[str, str]]:
    env = os.environ if environ is None else environ
    missing: list[tuple[str, str]] = []
    for spec in specs:
        for pair in host_variables(spec):
            if pair[1] not in env and pair not in missing:
                missing.append(pair)
    return missing


def resolve_host_markers(
    spec: dict[str, Any], environ: Mapping[str, str] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """A copy of a Lepton spec with every host marker in ``envs`` replaced by the variable's value,
    and the values (to scrub from any message). Raises MissingHostVariables."""
    pairs = host_variables(spec)
    if not pairs:
        return spec, []
    env = os.environ if environ is None else environ
    missing = [(name, var) for name, var in pairs if var not in env]
    if missing:
        raise MissingHostVariables(missing)
    values: list[str] = []
    envs = []
    for entry in spec.get("envs") or []:
        variable = host_variable(entry.get("value")) if isinstance(entry, dict) else None
        if variable:
            values.append(env[variable])
            entry = {**entry, "value": env[variable]}
        envs.append(entry)
    return {**spec, "envs": envs}, values
