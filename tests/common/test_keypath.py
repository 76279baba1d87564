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


@given(TREES, PATHS)
def test_a_tuple_of_parts_reads_what_the_dotted_string_reads(tree, path):
    parts = tuple(path.split("."))
    assert keypath.get(tree, parts) == keypath.get(tree, path)
    assert keypath.has(tree, parts) == keypath.has(tree, path)
    ours, theirs = copy.deepcopy(tree), copy.deepcopy(tree)
    assert keypath.pop(ours, parts) == keypath.pop(theirs, path) and ours == theirs


def test_a_key_holding_dots_is_reached_by_its_parts():
    tree = {"a.b": 1, "a": {"b": 2}, "l": [{"x.y": 3}]}
    assert keypath.get(tree, ("a.b",)) == 1 and keypath.get(tree, "a.b") == 2
    assert keypath.get(tree, ("l", 0, "x.y")) == 3 and keypath.has(tree, ("l", "0", "x.y"))
    assert not keypath.has(tree, ("l", 1)) and not keypath.has(tree, ("l", -1))
    keypath.set_path(tree, ("l", 0, "x.y"), 4)
    keypath.set_path(tree, ("n.m", "k"), 5)
    assert keypath.pop(tree, ("a.b",)) == 1
    assert tree == {"a": {"b": 2}, "l": [{"x.y": 4}], "n.m": {"k": 5}}


def test_a_digit_that_is_not_a_number_is_no_list_index():
    assert keypath.get({"l": [1, 2]}, "l.\u00b2") is None  # "²".isdigit(), but int("²") fails
    assert not keypath.has({"l": [1, 2]}, "l.\u00b2")
