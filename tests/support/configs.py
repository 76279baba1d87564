"""Config files for the config tests (and the export tests' config checks): write one
(``write``, ``seed_with``: the seed's Complete Example with one replacement), load it
(``load_one``), get its problems (``problems_of``, ``errors_of``, ``error_text``); where the
config tests' files are (``FIXTURES``, ``SEED``, the ``BROKEN`` corpus) and ``LOCAL_MOCK``, the
defaults of a local stack with the mock deployment."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from nimctl.common.errors import ConfigError, ConfigProblem
from nimctl.config.loaded import LoadedConfig
from nimctl.config.loader import load_configs

REPO = Path(__file__).resolve().parents[2]
CONFIG_TESTS = REPO / "tests" / "config"  # the config tests' fixtures and broken corpus
FIXTURES = CONFIG_TESTS / "fixtures"
BROKEN = CONFIG_TESTS / "broken"
SEED = FIXTURES / "seed_complete_example.yaml"


def write(tmp_path: Path, *parts: str, name: str = "stack.yaml") -> str:
    """Write the parts (each dedented on its own) as one config file; its path."""
    path = tmp_path / name
    path.write_text("".join(textwrap.dedent(part).lstrip("\n") for part in parts), encoding="utf-8")
    return str(path)


def load_one(path: str, overrides: list[str] | tuple[str, ...] = ()) -> LoadedConfig:
    [loaded] = load_configs([path], list(overrides))
    return loaded


def problems_of(path: str, overrides: list[str] | tuple[str, ...] = ()) -> list[ConfigProblem]:
    """The problems of a config that must fail (the test fails if it loads)."""
    with pytest.raises(ConfigError) as caught:
        load_configs([path], list(overrides))
    return caught.value.problems


def errors_of(path: str, overrides: list[str] | tuple[str, ...] = ()) -> list[ConfigProblem]:
    return [p for p in problems_of(path, overrides) if p.severity == "error"]


def error_text(path: str, overrides: list[str] | tuple[str, ...] = ()) -> str:
    with pytest.raises(ConfigError) as caught:
        load_configs([path], list(overrides))
    return str(caught.value)


def seed_with(tmp_path: Path, old: str, new: str, name: str = "stack.yaml") -> str:
    """The seed's Complete Example with one text replacement (which must apply)."""
    text = SEED.read_text(encoding="utf-8")
    assert old in text, old
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return str(path)


LOCAL_MOCK = """
defaults:
  - execution: local
  - deployment: mock
  - _self_
"""
