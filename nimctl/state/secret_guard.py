"""The last guard before a state is stored: where a document or a journal step holds a literal
secret (a value ``nimctl.common.secrets.redact_spec`` would have redacted, or an
``api_tokens[].value`` at any depth).

Every function gives paths, never values; an empty list means nothing leaks. The backends raise
``UnredactedSecretError`` on a non-empty one (a bug in nimctl, not a user error).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nimctl.state.delta import Delta


def _literal(value: Any) -> bool:
    from nimctl.common.secrets import is_redacted

    return isinstance(value, str) and value != "" and not is_redacted(value)


def unredacted_in_spec(spec: Any, where: str) -> list[str]:
    """Where ``spec`` holds a literal that ``nimctl.common.secrets.redact_spec`` would have redacted.
    Comparing with its output keeps this guard in step with the redaction rules."""
    from nimctl.common.secrets import redact_spec

    if not isinstance(spec, dict):
        return []
    found = _differences(spec, redact_spec(spec, salt="state-guard"), where)
    found += [path for path in _api_token_literals(spec, where) if path not in found]
    return found


def _differences(original: Any, redacted: Any, where: str) -> list[str]:
    if isinstance(original, dict) and isinstance(redacted, dict):
        found: list[str] = []
        for key, value in original.items():
            found += _differences(value, redacted.get(key), f"{where}.{key}")
        return found
    if isinstance(original, list) and isinstance(redacted, list) and len(original) == len(redacted):
        found = []
        for i, (a, b) in enumerate(zip(original, redacted, strict=True)):
            found += _differences(a, b, f"{where}[{i}]")
        return found
    return [where] if original != redacted and _literal(original) else []


def _api_token_literals(node: Any, where: str) -> list[str]:
    """``api_tokens[].value`` literals at any depth: a token value is a secret wherever it is."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "api_tokens" and isinstance(value, list):
                found += [
                    f"{where}.api_tokens[{i}].value"
                    for i, token in enumerate(value)
                    if isinstance(token, dict) and _literal(token.get("value"))
                ]
            else:
                found += _api_token_literals(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            found += _api_token_literals(item, f"{where}[{i}]")
    return found


def find_unredacted_secrets(doc: dict[str, Any]) -> list[str]:
    """Paths (never values) of literal secrets in a state document's specs."""
    found: list[str] = []
    for address, record in doc.get("resources", {}).items():
        found += unredacted_in_spec(record.get("spec"), f"resources.{address}.spec")
    for i, entry in enumerate(doc.get("pending", [])):
        found += unredacted_in_spec(entry.get("spec"), f"pending[{i}].spec")
    return found


def find_unredacted_skipping_clean(
    doc: dict[str, Any], texts: dict[str, str], clean_records: set[str]
) -> tuple[list[str], set[str]]:
    """``find_unredacted_secrets(doc)``, skipping the resource records whose JSON text (``texts``:
    address -> text) is in ``clean_records`` (found clean before). Returns (leaks, the texts of
    the records found clean)."""
    leaks: list[str] = []
    clean: set[str] = set()
    for address, record in doc["resources"].items():
        text = texts[address]
        if text in clean_records:
            clean.add(text)
            continue
        found = unredacted_in_spec(record.get("spec"), f"resources.{address}.spec")
        if found:
            leaks += found
        else:
            clean.add(text)
    for i, entry in enumerate(doc.get("pending", [])):
        leaks += unredacted_in_spec(entry.get("spec"), f"pending[{i}].spec")
    return leaks, clean


def find_unredacted_in_delta(delta: Delta) -> list[str]:
    """Paths (never values) of literal secrets in the specs a journal step writes."""
    found: list[str] = []
    for where, spec in delta.changed_specs():
        found += unredacted_in_spec(spec, where)
    return found
