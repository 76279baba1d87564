"""${a.b}, ${oc.env:NAME[,default]}, ${nimctl.python:}, ??? and their failures."""

from __future__ import annotations

import sys
import time

from tests.support.configs import LOCAL_MOCK, errors_of, load_one, write


def test_key_interpolation_and_the_python_resolver(tmp_path):
    path = write(
        tmp_path,
        LOCAL_MOCK,
        """
        deployment:
          served_model_name: org/model
        execution:
          output_dir: results/${deployment.served_model_name}/${deployment.type}
        """,
    )
    config = load_one(path).config
    assert config["execution"]["output_dir"] == "results/org/model/mock"
    assert config["deployment"]["command"][0] == sys.executable
    assert config["deployment"]["command"][:3] == [sys.executable, "-m", "nimctl.offline.mock_server"]


def test_env_interpolation_with_and_without_default(tmp_path, monkeypatch):
    monkeypatch.setenv("NIMCTL_TEST_OUT", "/data/out")
    monkeypatch.delenv("NIMCTL_TEST_UNSET", raising=False)
    path = write(
        tmp_path,
        LOCAL_MOCK,
        """
        execution:
          output_dir: ${oc.env:NIMCTL_TEST_OUT}
        deployment:
          served_model_name: ${oc.env:NIMCTL_TEST_UNSET,fallback-model}
          lepton_config:
            envs:
              EMPTY_DEFAULT: "${oc.env:NIMCTL_TEST_UNSET,}"
        """,
    )
    config = load_one(path).config
    assert config["execution"]["output_dir"] == "/data/out"
    assert config["deployment"]["served_model_name"] == "fallback-model"
    assert config["deployment"]["lepton_config"]["envs"]["EMPTY_DEFAULT"] == ""


def test_unset_env_variable_is_an_error_naming_it(tmp_path, monkeypatch):
    monkeypatch.delenv("NIMCTL_TEST_UNSET", raising=False)
    path = write(tmp_path, LOCAL_MOCK, "execution:\n  output_dir: ${oc.env:NIMCTL_TEST_UNSET}\n")
    [error] = errors_of(path)
    assert (error.key_path, error.line, error.column) == ("execution.output_dir", 6, 3)
    assert error.message == "cannot resolve the interpolation: environment variable NIMCTL_TEST_UNSET is not set"
    assert "${oc.env:NAME,default}" in error.hint


def test_env_values_are_strings_and_oc_decode_types_them(tmp_path, monkeypatch):
    monkeypatch.setenv("NIMCTL_TEST_PORT", "9000")
    path = write(tmp_path, LOCAL_MOCK, "deployment:\n  port: ${oc.env:NIMCTL_TEST_PORT}\n")
    [error] = errors_of(path)
    assert error.key_path == "deployment.port" and "oc.decode" in error.hint
    path = write(tmp_path, LOCAL_MOCK, "deployment:\n  port: ${oc.decode:${oc.env:NIMCTL_TEST_PORT}}\n")
    assert load_one(path).config["deployment"]["port"] == 9000


def test_escaped_interpolation_stays_literal(tmp_path):
    path = write(tmp_path, LOCAL_MOCK, "execution:\n  output_dir: 'price-\\${x}'\n")
    assert load_one(path).config["execution"]["output_dir"] == "price-${x}"


def test_reference_to_an_unknown_key_is_reported_once_where_written(tmp_path):
    path = write(tmp_path, LOCAL_MOCK, "deployment:\n  served_model_name: ${deployment.model}\n")
    [error] = errors_of(path)  # not again at the mock group's command, which refers to it
    assert (error.key_path, error.line) == ("deployment.served_model_name", 6)
    assert "Interpolation key 'deployment.model' not found" in error.message


def test_reference_to_an_unset_required_value_reports_only_the_unset_value(tmp_path):
    path = write(
        tmp_path,
        """
        defaults:
          - execution: local
          - deployment: vllm
        deployment:
          served_model_name: m
        execution:
          output_dir: out/${deployment.checkpoint_path}
        """,
    )
    assert [e.key_path for e in errors_of(path)] == ["deployment.checkpoint_path"]


def test_unknown_resolver_and_bad_grammar(tmp_path):
    path = write(tmp_path, LOCAL_MOCK, "execution:\n  output_dir: ${nope:x}\n  destroy_after: ${oops\n")
    errors = {e.key_path: e for e in errors_of(path)}
    assert "Unsupported interpolation type nope" in errors["execution.output_dir"].message
    assert errors["execution.destroy_after"].message.startswith("invalid interpolation")
    assert errors["execution.destroy_after"].line == 7


def test_interpolation_cycles_are_errors_not_hangs(tmp_path):
    path = write(
        tmp_path,
        LOCAL_MOCK,
        """
        execution:
          output_dir: ${deployment.served_model_name}
        deployment:
          served_model_name: ${execution.output_dir}
        """,
    )
    started = time.monotonic()
    errors = errors_of(path)
    assert time.monotonic() - started < 60  # guards a hang, not speed
    assert {"execution.output_dir", "deployment.served_model_name"} & {e.key_path for e in errors}


def test_exponential_interpolation_is_refused_before_resolving(tmp_path):
    lines = ["a0: '" + "x" * 1000 + "'"] + [
        f"a{i}: ${{a{i - 1}}}${{a{i - 1}}}${{a{i - 1}}}${{a{i - 1}}}" for i in range(1, 30)
    ]
    path = write(tmp_path, LOCAL_MOCK, "\n".join(lines) + "\n")
    started = time.monotonic()
    errors = errors_of(path)
    assert time.monotonic() - started < 60  # guards a hang, not speed
    assert any("interpolations expand this config to more than" in e.message for e in errors)


def test_a_broken_interpolation_in_a_secret_value_is_reported_without_its_text(tmp_path):
    path = write(tmp_path, LOCAL_MOCK, "deployment:\n  lepton_config:\n    envs:\n      HF_TOKEN: hf_s3cr3t${oops\n")
    [error] = errors_of(path)
    assert error.key_path == "deployment.lepton_config.envs.HF_TOKEN" and error.message == "invalid interpolation"
    assert "s3cr3t" not in error.render()
