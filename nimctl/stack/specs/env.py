"""Env vars from the config as Lepton env entries (``{"name", "value"}`` or ``{"name",
"value_from": {...}}``), the form both platforms' specs start from.

Takes the config's ``NAME: value`` mappings; gives entries (``lit:``/``host:``/``runtime:``
values marked for later), their merge by layers, the runtime:VAR entries split off for
``RUNTIME_ENV_PRELUDE``, and the form the inputs hash takes (literal secrets masked).
"""

from __future__ import annotations

from typing import Any

from nimctl.common import keypath
from nimctl.common.envref import EnvSource, host_marker, parse_env_value, runtime_marker, runtime_variable
from nimctl.common.secrets import is_secret_name
from nimctl.stack.specs.problems import Problems
from nimctl.stack.specs.values import scalar_text


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


def env_layers(config: dict[str, Any], places: list[str], problems: Problems) -> list[dict[str, Any]]:
    """The env maps at ``places`` (dotted key paths) as entries, later places winning."""
    return merge_env(*(env_entries(keypath.get(config, place), place, problems) for place in places))


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
        if "value" in entry and is_secret_name(entry["name"]):
            out.append([entry["name"], "(literal secret)"])
        elif "value" in entry:
            out.append([entry["name"], entry["value"]])
        else:
            out.append([entry["name"], entry["value_from"]])
    return out
