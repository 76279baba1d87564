"""Run configs are written with libyaml's emitter (fast); this holds it to the pure-Python one:
the same text for the documents nimctl writes, and always a text that loads back to the document."""

from __future__ import annotations

import math
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nimctl.stack.specs.run_config import dump_run_config, load_run_config

pytestmark = pytest.mark.skipif(not hasattr(yaml, "CSafeDumper"), reason="PyYAML without libyaml")

IDENT = st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True)
PRINTABLE = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30)
ANY_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)


def documents(keys: Any, text: Any) -> Any:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        text,
        st.sampled_from(
            [
                "yes",
                "on",
                "~",
                "1e3",
                "2024-01-01",
                "a: b",
                "- x",
                "#c",
                "???",
                "${x}",
                "multi\nline\n",
                " lead",
                "trail ",
                "",
            ]
        ),
    )
    tree = st.recursive(
        scalars,
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
        max_leaves=20,
    )
    return st.dictionaries(keys, tree, max_size=5)


def python_dump(document: dict[str, Any]) -> str:
    return yaml.dump(document, Dumper=yaml.SafeDumper, sort_keys=False, allow_unicode=True, width=1_000_000)


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(documents(IDENT, PRINTABLE))
def test_same_text_as_the_python_emitter_for_run_config_shaped_documents(document: dict[str, Any]) -> None:
    text = dump_run_config(document)
    if "\n" not in "".join(str(v) for v in _leaves(document)):  # block scalars aside
        assert text == python_dump(document)
    assert same(load_run_config(text), document)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(documents(st.one_of(ANY_TEXT, st.integers(), st.booleans()), ANY_TEXT))
def test_any_document_loads_back_unchanged(document: dict[str, Any]) -> None:
    text = dump_run_config(document)
    assert same(load_run_config(text), document)
    assert same(yaml.safe_load(text), document)  # also with the pure-Python parser


def _leaves(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return [leaf for value in node.values() for leaf in _leaves(value)]
    if isinstance(node, list):
        return [leaf for value in node for leaf in _leaves(value)]
    return [node]
