"""Check a composed config against nimctl-config.schema.json; each violation becomes a finding
with the key path and a message written for people (not a validator's default text).

The schema is JSON Schema draft 2020-12 and is the contract. At run time it is evaluated by the
small evaluator below, which implements exactly the keywords the schema uses (type, enum,
const, properties, additionalProperties, required, items, minimum/maximum, minLength/maxLength,
minItems, minProperties, pattern, if/then/else, local $ref) with draft 2020-12 semantics:
importing the ``jsonschema`` package costs more than the whole rest of ``nimctl validate``.
The tests hold the two together: the schema must pass ``jsonschema``'s meta-schema check, may
use no other keyword, and both evaluators must report the same errors on every test config and
on generated variants.

Values are shown in messages only where they cannot be secrets (never under envs, env_vars or
api_tokens, never for secret-looking key names) and only when short.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from nimctl.common.secrets import SECRET_CONTAINERS, is_secret_name

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "nimctl-config.schema.json"
_TYPE_WORDS = {
    "object": "a mapping (key: value lines)",
    "array": "a list",
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "empty",
}
# Keywords the evaluator implements, and those it may ignore (annotations).
SUPPORTED_KEYWORDS = frozenset(
    {
        "type",
        "enum",
        "const",
        "properties",
        "additionalProperties",
        "required",
        "items",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "minItems",
        "minProperties",
        "pattern",
        "if",
        "then",
        "else",
        "$ref",
    }
)
ANNOTATION_KEYWORDS = frozenset({"$schema", "$id", "$defs", "title", "description", "default", "examples", "x-error"})

# (key path, message, hint)
Finding = tuple[str, str, "str | None"]


@dataclass
class SchemaError:
    """One violation, shaped like jsonschema's ValidationError where the messages need it."""

    validator: str
    validator_value: Any
    instance: Any
    schema: dict[str, Any]
    absolute_path: list[str | int] = field(default_factory=list)

    @property
    def message(self) -> str:
        return f"fails {self.validator}: {self.validator_value!r}"


def _is_type(value: Any, kind: str) -> bool:
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "null":
        return value is None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if kind == "integer":
        return isinstance(value, int) or value.is_integer()
    return kind == "number"


def _equal(one: Any, two: Any) -> bool:
    if isinstance(one, bool) != isinstance(two, bool):
        return False
    return bool(one == two)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class _Evaluator:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root

    def _ref(self, ref: str) -> dict[str, Any]:
        if not ref.startswith("#/"):
            raise ValueError(f"only local $ref is supported, not {ref}")
        node: Any = self.root
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def errors(self, instance: Any, schema: dict[str, Any], path: list[str | int]) -> Iterator[SchemaError]:
        def error(keyword: str) -> SchemaError:
            return SchemaError(keyword, schema[keyword], instance, schema, list(path))

        if "$ref" in schema:
            yield from self.errors(instance, self._ref(schema["$ref"]), path)
        if "type" in schema:
            kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            if not any(_is_type(instance, k) for k in kinds):
                yield error("type")
        if "enum" in schema and not any(_equal(instance, c) for c in schema["enum"]):
            yield error("enum")
        if "const" in schema and not _equal(instance, schema["const"]):
            yield error("const")
        if _is_number(instance):
            if "minimum" in schema and instance < schema["minimum"]:
                yield error("minimum")
            if "maximum" in schema and instance > schema["maximum"]:
                yield error("maximum")
        if isinstance(instance, str):
            if "minLength" in schema and len(instance) < schema["minLength"]:
                yield error("minLength")
            if "maxLength" in schema and len(instance) > schema["maxLength"]:
                yield error("maxLength")
            if "pattern" in schema and not re.search(schema["pattern"], instance):
                yield error("pattern")
        if isinstance(instance, list):
            if "minItems" in schema and len(instance) < schema["minItems"]:
                yield error("minItems")
            if "items" in schema:
                for index, item in enumerate(instance):
                    yield from self.errors(item, schema["items"], [*path, index])
        if isinstance(instance, dict):
            yield from self._object_errors(instance, schema, path, error)
        if "if" in schema:
            passed = next(iter(self.errors(instance, schema["if"], path)), None) is None
            branch = schema.get("then" if passed else "else")
            if branch is not None:
                yield from self.errors(instance, branch, path)

    def _object_errors(
        self,
        instance: dict[str, Any],
        schema: dict[str, Any],
        path: list[str | int],
        error: Callable[[str], SchemaError],
    ) -> Iterator[SchemaError]:
        if "minProperties" in schema and len(instance) < schema["minProperties"]:
            yield error("minProperties")
        for key in schema.get("required", ()):
            if key not in instance:
                yield SchemaError("required", schema["required"], instance, schema, list(path))
        properties = schema.get("properties", {})
        for key, value in instance.items():
            if key in properties:
                yield from self.errors(value, properties[key], [*path, key])
        extra = schema.get("additionalProperties")
        if extra is False:
            if any(key not in properties for key in instance):
                yield error("additionalProperties")
        elif isinstance(extra, dict):
            for key, value in instance.items():
                if key not in properties:
                    yield from self.errors(value, extra, [*path, key])


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _evaluator() -> _Evaluator:
    return _Evaluator(load_schema())


def iter_schema_errors(config: Any) -> Iterator[SchemaError]:
    """Every schema violation in ``config``, unformatted (for tests comparing with jsonschema)."""
    schema = load_schema()
    return _evaluator().errors(config, schema, [])


def schema_findings(
    config: dict[str, Any],
    *,
    interpolated: set[str] = frozenset(),  # type: ignore[assignment]
    skip: Callable[[str], bool] = lambda _path: False,
) -> list[Finding]:
    """Every schema violation in ``config``; ``skip(path)`` drops those under already-reported paths."""
    findings: list[Finding] = []
    for error in iter_schema_errors(config):
        for key_path, message, hint in _describe(error, interpolated):
            if not skip(key_path):
                findings.append((key_path, message, hint))
    return _dedupe(findings)


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
    if any(str(p) in SECRET_CONTAINERS for p in parts):
        return False
    if parts and is_secret_name(str(parts[-1])):
        return False
    return isinstance(value, (int, float, bool, str)) and len(repr(value)) <= 60


def _got(parts: list[Any], value: Any, interpolated: set[str]) -> str:
    # An interpolated value may come from nimctl's environment (a secret given where a number
    # belongs): it is never echoed, only its type is named.
    if _path(parts) in interpolated or not _may_show(parts, value):
        return ""
    shown = ("true" if value else "false") if isinstance(value, bool) else repr(value)
    return f" (got {shown})"


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


def _describe(error: SchemaError, interpolated: set[str]) -> list[Finding]:
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
                hint: str | None = f"rename it to {close[0]}"
            else:
                message = f"unknown key{where}"
                hint = f"keys allowed here: {', '.join(allowed)}" if allowed else "remove it"
            findings.append((_path([*parts, key]), message, hint))
        return findings
    if kind == "required" and isinstance(value, dict):
        return [
            (_path([*parts, key]), "is required but missing", f"add {key}: under {key_path or 'the top level'}")
            for key in error.validator_value
            if key not in value
        ]
    decode_hint: str | None = None
    if key_path in interpolated and isinstance(value, str) and _looks_typed(value):
        decode_hint = "an interpolation such as ${oc.env:NAME} gives a string; wrap it: ${oc.decode:${oc.env:NAME}}"
    if custom and kind in ("const", "pattern", "enum"):
        return [(key_path, f"{custom}{_got(parts, value, interpolated)}", decode_hint)]
    if kind == "type":
        expected = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        words = " or ".join(_TYPE_WORDS.get(str(t), str(t)) for t in expected)
        hint = decode_hint
        if hint is None and value is None:
            hint = "give it a value, or remove the key to use the default"
        elif hint is None and "string" in expected and isinstance(value, (int, float, bool)):
            hint = "quote the value"
        return [(key_path, f"must be {words}, not {_type_name(value)}{_got(parts, value, interpolated)}", hint)]
    if kind == "enum":
        choices = [str(c) for c in error.validator_value]
        close = difflib.get_close_matches(str(value), choices, n=1, cutoff=0.6) if isinstance(value, str) else []
        suggestion = f"; did you mean {close[0]}?" if close else ""
        return [(key_path, f"must be one of: {', '.join(choices)}{_got(parts, value, interpolated)}{suggestion}", None)]
    if kind == "const":
        return [(key_path, f"must be {error.validator_value!r}{_got(parts, value, interpolated)}", None)]
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        relation = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[kind]
        bounds = _bounds(schema)
        hint = f"allowed range: {bounds}" if bounds else None
        return [(key_path, f"must be {relation} {error.validator_value}{_got(parts, value, interpolated)}", hint)]
    if kind == "minLength":
        return [(key_path, "must not be empty", None)]
    if kind == "maxLength":
        return [(key_path, f"is too long (at most {error.validator_value} characters)", None)]
    if kind == "minItems":
        return [(key_path, "must not be an empty list", None)]
    if kind == "minProperties":
        return [(key_path, "must not be an empty mapping", None)]
    if kind == "pattern":
        return [
            (
                key_path,
                f"does not have the expected form ({error.validator_value}){_got(parts, value, interpolated)}",
                None,
            )
        ]
    return [(key_path, error.message if _may_show(parts, value) else f"is invalid ({kind})", None)]


def _looks_typed(text: str) -> bool:
    """Whether a string would be a number or boolean had it been written in YAML directly."""
    if text.lower() in ("true", "false", "yes", "no", "on", "off"):
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


def _bounds(schema: dict[str, Any]) -> str | None:
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None and high is not None:
        return f"{low}-{high}"
    return None
