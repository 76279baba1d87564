"""Hostile or accidental input never crashes, hangs or prints a traceback: every failure is a
ConfigError naming the file; the time bound guards a hang, not speed."""

from __future__ import annotations

import json
import os
import random
import time

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nimctl.common import keypath
from nimctl.common.errors import ConfigError
from nimctl.config.loader import load_configs
from nimctl.config.yaml_source import MAX_FILE_BYTES, MAX_NODES
from tests.support.configs import LOCAL_MOCK, SEED, load_one

HANG_LIMIT_S = 60.0  # guards a hang, not speed: these all take milliseconds on an idle machine


def fails_quickly(path, expected: str, overrides=()) -> ConfigError:
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        load_configs([str(path)], list(overrides))
    assert time.monotonic() - started < HANG_LIMIT_S
    text = str(caught.value)
    assert expected in text, text
    assert "Traceback" not in text
    assert all(p.file == str(path) for p in caught.value.problems)
    return caught.value


def write_bytes(tmp_path, data: bytes, name: str = "hostile.yaml"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "data, expected",
    [
        (b"", "the file is empty"),
        (b"   \n\n  \n", "the file is empty"),
        (b"a: 1\n\t\n", "fix: indent with spaces; YAML does not allow tabs for indentation"),
        (b"---\n...\n", "the file is empty"),
        (b"just a string\n", "the top level must be a mapping (key: value lines), found a single str value"),
        (b"42\n", "found a single int value"),
        (b"- a\n- b\n", "found a list"),
        (b"null\n", "the file is empty"),
    ],
)
def test_empty_and_non_mapping_files(tmp_path, data, expected):
    fails_quickly(write_bytes(tmp_path, data), expected)


def test_binary_garbage(tmp_path):
    rng = random.Random(7)
    path = write_bytes(tmp_path, bytes(rng.randrange(256) for _ in range(4096)) + b"\x00")
    error = fails_quickly(path, "the file is binary")
    assert error.problems[0].line is not None


def test_non_utf8_text_names_the_line(tmp_path):
    path = write_bytes(tmp_path, "stack: ok\nexecution:\n  output_dir: caf\xe9\n".encode("latin-1"))
    error = fails_quickly(path, "the file is not UTF-8 text (byte 0xe9 cannot be decoded)")
    assert (error.problems[0].line, error.problems[0].column) == (3, 18)


def test_utf8_with_bom_and_utf16_are_read(tmp_path):
    text = LOCAL_MOCK.lstrip("\n")
    assert load_one(str(write_bytes(tmp_path, b"\xef\xbb\xbf" + text.encode(), "bom.yaml"))).config
    assert load_one(str(write_bytes(tmp_path, text.encode("utf-16"), "utf16.yaml"))).config


def test_control_characters(tmp_path):
    fails_quickly(write_bytes(tmp_path, b"stack: a\x07b\n"), "the file holds a character YAML does not allow (U+0007)")


def test_alias_bomb_is_refused_quickly(tmp_path):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 12)]
    fails_quickly(write_bytes(tmp_path, "\n".join(lines).encode()), f"the file expands to more than {MAX_NODES}")


def test_small_aliases_are_fine(tmp_path):
    path = write_bytes(
        tmp_path,
        (
            LOCAL_MOCK.lstrip("\n")
            + """
evaluation:
  tasks:
    - &smoke {name: nimctl.smoke, params: &p {max_tokens: 4}}
    - {name: nimctl.perf, params: *p}
    - <<: *smoke
      name: custom
      command: [echo, hi]
"""
        ).encode(),
    )
    tasks = load_one(str(path)).config["evaluation"]["tasks"]
    assert tasks[1]["params"] == {"max_tokens": 4}
    assert tasks[2] == {"name": "custom", "params": {"max_tokens": 4}, "command": ["echo", "hi"]}


@pytest.mark.parametrize("depth", [65, 5000, 200_000])
def test_deep_flow_nesting(tmp_path, depth):
    path = write_bytes(tmp_path, b"x: " + b"[" * depth + b"]" * depth + b"\n")
    fails_quickly(path, "nest")  # nimctl's cap, or libyaml's own at 1000 levels


def test_deep_block_nesting(tmp_path):
    lines = [" " * i + f"k{i}:" for i in range(300)]
    fails_quickly(write_bytes(tmp_path, ("\n".join(lines) + " 1\n").encode()), "nested more than 64 levels deep")


def test_huge_string_within_the_size_cap(tmp_path):
    big = "x" * (MAX_FILE_BYTES - 200)
    path = write_bytes(tmp_path, (LOCAL_MOCK.lstrip("\n") + f"execution:\n  output_dir: {big}\n").encode())
    assert len(load_one(str(path)).config["execution"]["output_dir"]) == len(big)


def test_file_over_the_size_cap(tmp_path):
    path = write_bytes(tmp_path, b"a: " + b"x" * (MAX_FILE_BYTES + 10))
    fails_quickly(path, "the file is larger than 2 MiB")


def test_too_many_keys(tmp_path):
    body = "".join(f"k{i}: {i}\n" for i in range(MAX_NODES + 10))
    fails_quickly(write_bytes(tmp_path, body.encode()), "the file expands to more than")


def test_a_directory_named_like_a_config_and_unreadable_files(tmp_path):
    (tmp_path / "dir.yaml").mkdir()
    assert load_configs  # a directory is expanded, not read: dir.yaml holds no yaml files
    fails_quickly(tmp_path / "dir.yaml", "the directory holds no .yaml or .yml files")
    if os.geteuid() != 0:  # root reads anything
        locked = write_bytes(tmp_path, b"a: 1\n", "locked.yaml")
        locked.chmod(0)
        fails_quickly(locked, "cannot read the file")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a: [1, 2\n", "YAML syntax error"),
        ("a: 'open\n", "YAML syntax error"),
        ("a: *nothing\n", "the alias *nothing refers to an anchor that is not defined"),
        ("? [complex, key]\n: value\n", "a key must be a plain value"),
        ("a: !!binary aGVsbG8=\n", "the YAML tag !!binary is not supported"),
        ("a: !custom x\n", "the YAML tag !custom is not supported"),
        ("a: !!set {x, y}\n", "the YAML tag !!set is not supported"),
        ("a: &x [*x]\n", "the alias *x refers to an anchor that is not defined before it"),
        ("a: {b: 1, b: 2}\n", "duplicate key (first at line 1)"),
        (": value\n", "YAML syntax error"),
        ("a: 1\n---\nb: 2\n", "more than one YAML document"),
    ],
)
def test_malformed_yaml(tmp_path, text, expected):
    fails_quickly(write_bytes(tmp_path, text.encode()), expected)


def test_dates_stay_strings(tmp_path):
    path = write_bytes(tmp_path, (LOCAL_MOCK.lstrip("\n") + "execution:\n  output_dir: 2024-01-01\n").encode())
    assert load_one(str(path)).config["execution"]["output_dir"] == "2024-01-01"


def test_huge_override_and_many_overrides(tmp_path):
    fails_quickly(SEED, "must be >= 0", ["deployment.lepton_config.min_replicas=-1"] * 200)
    fails_quickly(SEED, "the value is not valid YAML", ["deployment.port=" + "[" * 10_000])


printable = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(
    junk=st.one_of(printable, st.binary(max_size=300).map(lambda b: b.decode("latin-1"))), position=st.integers(0, 2000)
)
def test_random_edits_of_the_seed_never_crash(tmp_path, junk, position):
    text = SEED.read_text()
    position %= len(text)
    path = tmp_path / "fuzz.yaml"
    path.write_bytes((text[:position] + junk + text[position:]).encode("utf-8", "surrogatepass"))
    started = time.monotonic()
    try:
        load_configs([str(path)])
    except ConfigError as err:
        assert err.problems and "Traceback" not in str(err)
    assert time.monotonic() - started < HANG_LIMIT_S


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(override=st.text(max_size=80))
def test_random_overrides_never_crash(override):
    try:
        load_configs([str(SEED)], [override])
    except ConfigError as err:
        assert err.problems


# Keys that may hold dots, or be nothing but dots: legal YAML, and a dotted key path cannot tell them
# from nesting. Values include interpolations that do not parse, point nowhere or at other keys.
DOTTED_KEYS = st.text("ab._", min_size=1, max_size=5)
HOSTILE_VALUES = st.one_of(
    st.sampled_from(["v", "${oops", "${a.b}", "${deployment.port}", "???", "\\${lit}", "x${oops}", "${.a}"]),
    st.integers(-1, 1),
    st.none(),
)
PLAIN_VALUES = st.one_of(st.text("xy. ", max_size=4), st.integers(-1, 1), st.booleans(), st.none())


def _trees(leaves):
    return st.recursive(
        leaves,
        lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(DOTTED_KEYS, inner, max_size=3)),
        max_leaves=8,
    )


def _config_with(place: str, tree: dict, interpolated: bool) -> str:
    config = yaml.safe_load(LOCAL_MOCK)
    config["evaluation"] = {"tasks": [{"name": "nimctl.smoke", "params": {}}]}
    # an interpolation elsewhere makes OmegaConf merge the file, not the plain-Python merge
    config["execution"] = {"output_dir": "results/${deployment.type}" if interpolated else "results/plain"}
    holder = keypath.get(config, place)
    if isinstance(holder, dict):
        holder.update(tree)
    else:
        keypath.set_path(config, place, tree)
    return json.dumps(config)  # JSON is YAML, and writes any key as it is


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    place=st.sampled_from(
        ["deployment.env_vars", "evaluation.nemo_evaluator_config", "evaluation.tasks.0.params", "execution", "h"]
    ),
    tree=st.dictionaries(DOTTED_KEYS, _trees(HOSTILE_VALUES), min_size=1, max_size=4),
    interpolated=st.booleans(),
    overrides=st.sampled_from([(), ("deployment.env_vars.a=1",), ("deployment.env_vars.a.b=${oops",)]),
)
def test_random_keys_with_dots_never_crash(tmp_path, place, tree, interpolated, overrides):
    path = tmp_path / "dotted.yaml"
    path.write_text(_config_with(place, tree, interpolated), encoding="utf-8")
    started = time.monotonic()
    try:
        load_configs([str(path)], list(overrides))
    except ConfigError as err:
        assert err.problems and "Traceback" not in str(err)
        assert all(p.file == str(path) for p in err.problems)
    assert time.monotonic() - started < HANG_LIMIT_S


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=st.dictionaries(DOTTED_KEYS, _trees(PLAIN_VALUES), max_size=4), interpolated=st.booleans())
def test_random_keys_with_dots_keep_their_values(tmp_path, tree, interpolated):
    path = tmp_path / "dotted.yaml"
    path.write_text(_config_with("evaluation.nemo_evaluator_config", tree, interpolated), encoding="utf-8")
    assert load_one(str(path)).config["evaluation"].get("nemo_evaluator_config", {}) == tree
