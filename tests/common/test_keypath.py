"""Dotted key paths, checked against OmegaConf's own select/update on random trees."""

from __future__ import annotations

import copy

from hypothesis import given
from hypothesis import strategies as st
from omegaconf import OmegaConf
from omegaconf.errors import ConfigTypeError

from nimctl.common import keypath

KEYS = st.sampled_from(["a", "b", "envs", "name"])
LEAVES = st.one_of(st.integers(-3, 3), st.text("xyz", max_size=3), st.booleans())
TREES = st.recursive(
    LEAVES,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=3)),
    max_leaves=12,
).filter(lambda t: isinstance(t, dict))
PATHS = st.lists(st.one_of(KEYS, st.sampled_from(["0", "1", "2"])), min_size=1, max_size=4).map(".".join)


@given(TREES, PATHS)
def test_get_reads_what_omegaconf_selects(tree, path):
    try:
        expected = OmegaConf.select(OmegaConf.create(tree), path, default=None)
    except ConfigTypeError:  # a word used as a list index: nothing there
        expected = None
    if OmegaConf.is_config(expected):
        expected = OmegaConf.to_container(expected)
    assert keypath.get(tree, path) == expected
    assert keypath.has(tree, path) == (expected is not None or _walks(tree, path))


def _walks(tree, path):
    node = tree
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    return True


@given(TREES, st.lists(KEYS, min_size=1, max_size=4).map(".".join), LEAVES)
def test_set_path_writes_what_omegaconf_updates(tree, path, value):
    ours = copy.deepcopy(tree)
    keypath.set_path(ours, path, value)
    assert keypath.get(ours, path) == value
    theirs = OmegaConf.create(copy.deepcopy(tree))
    parents = path.split(".")[:-1]
    if all(isinstance(keypath.get(tree, ".".join(parents[: i + 1]), {}), dict) for i in range(len(parents))):
        OmegaConf.update(theirs, path, value, force_add=True)
        assert ours == OmegaConf.to_container(theirs)


def test_pop_and_lineage():
    tree = {"a": {"b": [{"c": 1}]}}
    assert keypath.pop(tree, "a.b.0.c") == 1 and tree == {"a": {"b": [{}]}}
    assert keypath.pop(tree, "a.x.y") is None
    assert keypath.pop({"x": 1}, ".x") is None  # an empty step leads nowhere, not to the root
    assert list(keypath.lineage("a.b.c")) == ["a.b.c", "a.b", "a"]
    assert list(keypath.lineage("")) == []
