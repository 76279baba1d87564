"""One rule for secrets: what validation flags as a credential is what plan, the state and the
providers redact, and a secret from nimctl's environment never appears in an error message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nimctl.common.secrets import is_secret_name, redact_spec
from tests.support.cli import clean_env

CONFIG = """\
defaults:
  - execution: lepton/default
  - deployment: nim
  - _self_
execution:
  output_dir: out
deployment:
  image: nvcr.io/nim/meta/llama-3.1-8b-instruct:1.8.6
  served_model_name: meta/llama-3.1-8b-instruct
  lepton_config:
    endpoint_name: sec-test
    resource_shape: gpu.1xh200
    min_replicas: 1
    max_replicas: {max_replicas}
    envs:
      NGC_KEY: nvapi-planted-literal-5f1c
evaluation:
  tasks:
    - name: ifeval
"""
PLANTED_ENV = "sekrit-from-env-8d2e"


def _nimctl(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = clean_env(NIMCTL_STATE=str(tmp_path / "state" / "s.json"), PLANTED=PLANTED_ENV)
    return subprocess.run(
        [sys.executable, "-m", "nimctl", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("name", ["NGC_KEY", "HF_TOKEN", "OPENAI_API_KEY", "DB_PASSWORD", "AWS_SECRET_ACCESS_KEY"])
def test_credential_names_are_secret_everywhere(name: str) -> None:
    assert is_secret_name(name)
    spec = redact_spec({"envs": [{"name": name, "value": "v"}], "env": {name: "v"}}, "salt")
    assert spec["envs"][0]["value"] != "v" and spec["env"][name] != "v"


@pytest.mark.parametrize("name", ["NIMCTL_API_KEY_ENV", "api_key_name", "token_name_ref", "max_tokens", "MODEL"])
def test_names_of_secrets_are_not_secrets(name: str) -> None:
    assert not is_secret_name(name)


def test_a_literal_ngc_key_is_flagged_and_never_printed_or_stored(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(CONFIG.format(max_replicas=2))
    result = _nimctl(tmp_path, "plan", "-f", "c.yaml", "--refresh=false")
    assert result.returncode == 0, result.stderr
    assert "NGC_KEY looks like a credential" in result.stderr
    assert "(sensitive)" in result.stdout
    assert "nvapi-planted" not in result.stdout + result.stderr
    saved = _nimctl(tmp_path, "plan", "-f", "c.yaml", "--refresh=false", "--out", "p.json")
    assert saved.returncode == 0 and "nvapi-planted" not in (tmp_path / "p.json").read_text()


def test_a_secret_from_the_environment_where_a_number_belongs_is_not_echoed(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(CONFIG.format(max_replicas="${oc.env:PLANTED}"))
    for command in ("validate", "plan"):
        result = _nimctl(tmp_path, command, "-f", "c.yaml")
        assert result.returncode == 1
        assert "max_replicas: must be a whole number, not a string" in result.stderr
        assert PLANTED_ENV not in result.stdout + result.stderr
        assert "Traceback" not in result.stderr
