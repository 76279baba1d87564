"""Checking a parsed state document against the state format.

``validate_state_dict(data)`` gives the problems of a document against
``schemas/nimctl-state.schema.json`` plus the rules a schema cannot say (empty when valid).
``validate_once(raw, data)`` is the same, skipped for bytes that passed before (their digests
are kept in the user cache). ``check_state_document`` refuses, with a ``StateError``, a document
another backend read that a nimctl of this version cannot trust.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nimctl.state.errors import StateError
from nimctl.state.model import STATE_VERSION

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "nimctl-state.schema.json"
MAX_PROBLEMS_SHOWN = 8

_validator: Any = None


def _schema_validator() -> Any:
    global _validator
    if _validator is None:
        from jsonschema import Draft202012Validator  # lazy: ~70 ms to import

        schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
        Draft202012Validator.check_schema(schema)
        _validator = Draft202012Validator(_inline_refs(schema, schema.get("$defs", {})))
    return _validator


_ANNOTATIONS = {"description", "title", "$comment"}


def _inline_refs(node: Any, defs: dict[str, Any], depth: int = 0) -> Any:
    """The schema with its local ``$ref``s replaced by their targets: the same rules, validated
    about twice as fast (resolving references dominates the cost for a thousand records)."""
    if depth > 20:
        raise ValueError("state schema references nest too deeply (a cycle?)")
    if isinstance(node, list):
        return [_inline_refs(item, defs, depth) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = _inline_refs(defs[ref.removeprefix("#/$defs/")], defs, depth + 1)
        siblings = {k: _inline_refs(v, defs, depth) for k, v in node.items() if k != "$ref"}
        if set(siblings) <= _ANNOTATIONS:
            return {**target, **siblings}
        return {**siblings, "allOf": [*siblings.get("allOf", []), target]}
    return {k: _inline_refs(v, defs, depth) for k, v in node.items() if k != "$defs"}


def _json_path(parts: Any) -> str:
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


def validate_state_dict(data: Any) -> list[str]:
    """Problems of a parsed state document against ``schemas/nimctl-state.schema.json`` plus the
    rules a schema cannot say (map keys equal the records' address/id). Empty when valid."""
    errors = sorted(_schema_validator().iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    problems = [f"{_json_path(e.absolute_path)}: {e.message}" for e in errors]
    if problems or not isinstance(data, dict):
        return problems
    for address, record in data["resources"].items():
        if record["address"] != address:
            problems.append(f"resources.{address}.address: {record['address']!r} differs from its key")
    for inv_id, inv in data["invocations"].items():
        if inv["id"] != inv_id:
            problems.append(f"invocations.{inv_id}.id: {inv['id']!r} differs from its key")
    return problems


VALIDATED_STATES = "valid-states.json"


def validate_once(raw: bytes, data: Any) -> list[str]:
    """``validate_state_dict(data)``, skipped for file contents that passed before with this schema
    and this nimctl (their digests are kept in the user cache, see ``nimctl.common.usercache``). Validating
    a 1,000-stack state costs ~0.45 s and importing jsonschema ~70 ms; hashing it ~20 ms. The
    verdict is a pure function of the bytes, so any edit of the file means a full check again."""
    import hashlib

    from nimctl import __version__
    from nimctl.common.usercache import DigestSet

    scope = f"nimctl {__version__}; state v{STATE_VERSION}; schema {_schema_digest()}"
    remembered = DigestSet(VALIDATED_STATES, scope, limit=64)
    digest = hashlib.sha256(raw).hexdigest()
    if digest in remembered:
        return []
    problems = validate_state_dict(data)
    if not problems:
        remembered.add(digest)
        remembered.save()
    return problems


_schema_sha: str | None = None


def _schema_digest() -> str:
    global _schema_sha
    if _schema_sha is None:
        import hashlib

        _schema_sha = hashlib.sha256(SCHEMA_PATH.read_bytes()).hexdigest()[:16]
    return _schema_sha


def check_state_document(data: dict[str, Any], raw: bytes, *, where: str) -> None:
    """Refuse a state document another backend read that does not match the state format (or
    comes from a newer nimctl). ``raw``: the bytes it was parsed from (a verdict is remembered)."""
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version > STATE_VERSION:
        raise StateError(
            f"{where} has format version {version!r}; this nimctl reads versions up to {STATE_VERSION}",
            hint="upgrade nimctl to the version that wrote it",
        )
    problems = validate_once(raw, data)
    if problems:
        raise StateError(
            f"{where} does not match the state format (schemas/nimctl-state.schema.json):\n  "
            + "\n  ".join(problems[:MAX_PROBLEMS_SHOWN]),
            hint="restore an earlier version (nimctl state history) or fix it by hand",
        )
