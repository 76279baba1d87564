"""Check a composed config against nimctl-config.schema.json; each violation becomes a ConfigProblem
with the key path and a message written for people (not jsonschema's default text).

Values are shown in messages only where they cannot be secrets (never under envs, env_vars or
api_tokens, never for secret-looking key names) and only when short.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from nimctl.config.rules import SECRET_NAME_PATTERN

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "nimctl-config.schema.json"
_SECRET_CONTAINERS = {"envs", "env_vars", "api_tokens"}
_TYPE_WORDS = {
    "object": "a mapping (key: value lines)", "array": "a list", "string": "a string", "integer": "a whole number",
    "number": "a number", "boolean": "true or false", "null": "empty",
}

# (key path, message, hint)
Finding = tuple[str, str, "str | None"]


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    return Draft202012Validator(load_schema())


def schema_findings(config: dict[str, Any], *, interpolated: set[str] = frozenset(),  # type: ignore[assignment]
                    skip: Callable[[str], bool] = lambda _path: False) -> list[Finding]:
    """Every schema violation in ``config``; ``skip(path)`` drops those under already-reported paths."""
    findings: list[Finding] = []
    for error in _validator().iter_errors(config):
        for leaf in _leaves(error):
            for key_path, message, hint in _describe(leaf, interpolated):
                if not skip(key_path):
                    findings.append((key_path, message, hint))
    return _dedupe(findings)


def _leaves(error: ValidationError) -> list[ValidationError]:
    """For anyOf/oneOf, the sub-errors of the closest alternative instead of 'not valid under any'."""
    if error.context:
        from jsonschema.exceptions import best_match

        best = best_match(error.context)
        return _leaves(best) if best is not None else [error]
    return [error]


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, str]] = set()
    unique: list[Finding] = []
    for finding in findings:
        if finding[:2] not in seen:
            seen.add(finding[:2])
            unique.append(finding)
    return unique


def _path(parts: Any) -> str:
    return ".".join(str(p) for p in parts)


def _may_show(parts: list[Any], value: Any) -> bool:
    if any(str(p) in _SECRET_CONTAINERS for p in parts):
        return False
    if parts and SECRET_NAME_PATTERN.search(str(parts[-1])) and not str(parts[-1]).endswith(("_name", "_ref")):
        return False
    return isinstance(value, (int, float, bool, str)) and len(repr(value)) <= 60


def _got(parts: list[Any], value: Any) -> str:
    return f" (got {value!r})" if _may_show(parts, value) else ""


def _type_name(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _describe(error: ValidationError, interpolated: set[str]) -> list[Finding]:
    parts = list(error.absolute_path)
    key_path = _path(parts)
    value = error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}
    kind = error.validator
    custom = schema.get("x-error")

    if kind == "additionalProperties" and isinstance(value, dict):
        allowed = sorted(schema.get("properties", {}))
        findings: list[Finding] = []
        for key in value:
            if key in allowed:
                continue
            close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            where = f" under {key_path}" if key_path else " at the top level"
            if close:
                message = f"unknown key; did you mean {close[0]}?"
                hint = f"rename it to {close[0]}"
            else:
                message = f"unknown key{where}"
                hint = f"keys allowed here: {', '.join(allowed)}" if allowed else "remove it"
            findings.append((_path([*parts, key]), message, hint))
        return findings
    if kind == "required" and isinstance(value, dict):
        return [(_path([*parts, key]), "is required but missing", f"add {key}: under {key_path or 'the top level'}")
                for key in error.validator_value if key not in value]
    if custom and kind in ("const", "pattern", "enum"):
        return [(key_path, f"{custom}{_got(parts, value)}", None)]
    if kind == "type":
        expected = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        words = " or ".join(_TYPE_WORDS.get(t, t) for t in expected)
        hint = None
        if key_path in interpolated and isinstance(value, str) and {"integer", "number", "boolean"} & set(expected):
            hint = "an interpolation such as ${oc.env:NAME} gives a string; wrap it: ${oc.decode:${oc.env:NAME}}"
        elif value is None:
            hint = "give it a value, or remove the key to use the default"
        elif "string" in expected and isinstance(value, (int, float, bool)):
            hint = "quote the value"
        return [(key_path, f"must be {words}, not {_type_name(value)}{_got(parts, value)}", hint)]
    if kind == "enum":
        choices = [str(c) for c in error.validator_value]
        close = difflib.get_close_matches(str(value), choices, n=1, cutoff=0.6) if isinstance(value, str) else []
        suggestion = f"; did you mean {close[0]}?" if close else ""
        return [(key_path, f"must be one of: {', '.join(choices)}{_got(parts, value)}{suggestion}", None)]
    if kind == "const":
        return [(key_path, f"must be {error.validator_value!r}{_got(parts, value)}", None)]
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        relation = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[kind]
        bounds = _bounds(schema)
        hint = f"allowed range: {bounds}" if bounds else None
        return [(key_path, f"must be {relation} {error.validator_value}{_got(parts, value)}", hint)]
    if kind == "minLength":
        return [(key_path, "must not be empty", None)]
    if kind == "maxLength":
        return [(key_path, f"is too long (at most {error.validator_value} characters)", None)]
    if kind == "minItems":
        return [(key_path, "must not be an empty list", None)]
    if kind == "minProperties":
        return [(key_path, "must not be an empty mapping", None)]
    if kind == "pattern":
        return [(key_path, f"does not have the expected form ({error.validator_value}){_got(parts, value)}", None)]
    return [(key_path, error.message if _may_show(parts, value) else f"is invalid ({kind})", None)]


def _bounds(schema: dict[str, Any]) -> str | None:
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None and high is not None:
        return f"{low}-{high}"
    return None
