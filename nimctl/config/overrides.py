"""``-o key.path=value`` overrides, applied to a composed (plain, unresolved) config.

Takes the merged config, one override's text and the user file's ``Reporter``. Gives
``apply_override``: the config changed in place and a ``Source`` that places every key under the
override's path at it, or None with the problem reported (no ``=``, not a key path, a value that
is not YAML, a path through a single value or past the end of a list). The value may be a secret:
messages name only the key.
"""

from __future__ import annotations

import re
from typing import Any

from nimctl.config.sources import Reporter, Source
from nimctl.config.yaml_source import YamlProblems, parse_yaml_value

_OVERRIDE_SEGMENT = re.compile(r"^[A-Za-z0-9_-]+$")


def apply_override(config: dict[str, Any], text: str, report: Reporter) -> Source | None:
    """Apply one ``key.path=value`` to the plain merged config; a Source for locating it, or None."""
    hint = "write -o key.path=value, e.g. -o deployment.port=9000"
    if "=" not in text:
        shown = text if len(text) <= 80 else text[:77] + "..."
        report.add("", f"override {shown!r} has no '='", hint)
        return None
    key, _, raw = text.partition("=")  # the value may be a secret: messages show only the key
    key = key.strip().lstrip("+")
    parts = key.split(".")
    if not key or not all(_OVERRIDE_SEGMENT.match(p) for p in parts):
        shown = key if len(key) <= 80 else key[:77] + "..."
        report.add("", f"override -o {shown}=...: {shown!r} is not a key path", hint)
        return None
    label = f"<override -o {key}>"
    try:
        value = parse_yaml_value(raw, label) if raw.strip() else ""
    except YamlProblems as err:
        report.add(
            key,
            f"-o {key}: the value is not valid YAML ({err.problems[0].message})",
            "quote the value, e.g. -o 'key=\"text: with colon\"'",
        )
        return None
    # Walked here, not with keypath.set_path: a step through a single value or past the end of
    # a list is the user's mistake to report, where set_path would replace it with a mapping.
    node: Any = config
    for depth, part in enumerate(parts[:-1]):
        here = ".".join(parts[: depth + 1])
        if isinstance(node, dict):
            if not isinstance(node.get(part), (dict, list)):
                if part in node and node[part] is not None:
                    report.add(key, f"-o {key}: {here} is a single value, not a mapping", f"override {here} itself")
                    return None
                node[part] = {}
            node = node[part]
        elif isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                report.add(
                    key,
                    f"-o {key}: {here} is not an item of the list (it has {len(node)})",
                    "list items are addressed by index from 0, e.g. evaluation.tasks.0.name",
                )
                return None
            node = node[int(part)]
    last = parts[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            report.add(
                key,
                f"-o {key}: {last} is not an item of the list (it has {len(node)})",
                "list items are addressed by index from 0; to replace the whole list, override its key",
            )
            return None
        node[int(last)] = value
    else:
        node[last] = value
    return Source(label, kind="override", override_path=key)
