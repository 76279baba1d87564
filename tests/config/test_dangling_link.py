"""A directory given to -f that names a config it cannot read (a dangling symlink) is refused:
skipping it would leave a stack out of the apply without a word."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nimctl.common.errors import ConfigError
from nimctl.config.loader import expand_paths


def test_a_dangling_yaml_link_in_a_directory_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("x: 1\n")
    os.symlink(tmp_path / "missing.yaml", tmp_path / "b.yaml")
    with pytest.raises(ConfigError) as caught:
        expand_paths([str(tmp_path)])
    assert "b.yaml" in str(caught.value) and "does not exist" in str(caught.value)
