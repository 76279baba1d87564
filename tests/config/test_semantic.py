"""Checks beyond the schema: cross-field rules, Lepton names/paths, secret references, platform
fit, and warnings for keys nimctl accepts but does not act on."""

from __future__ import annotations

import pytest

from nimctl.config.rules import lepton_name_problem, mount_path_problem, sanitize_name
from tests.support.configs import LOCAL_MOCK, SEED, errors_of, load_one, problems_of, seed_with, write

ENVS_BLOCK = '    envs:\n      HF_TOKEN:\n        value_from:\n          secret_name_ref: "HUGGING_FACE_HUB_TOKEN"\n'


def only_error(path: str, overrides=()):
    errors = errors_of(path, overrides)
    assert len(errors) == 1, [e.render() for e in errors]
    return errors[0]


def test_min_replicas_above_max_replicas(tmp_path):
    error = only_error(seed_with(tmp_path, "    min_replicas: 1", "    min_replicas: 4"))
    assert (error.key_path, error.line) == ("deployment.lepton_config.min_replicas", 16)
    assert error.message == "min_replicas (4) is greater than max_replicas (3)"


def test_equal_replicas_and_zero_minimum_are_fine():
    load_one(str(SEED), ["deployment.lepton_config.min_replicas=3"])
    load_one(str(SEED), ["deployment.lepton_config.min_replicas=0"])


@pytest.mark.parametrize(
    "name, problem",
    [
        ("a" * 37, "is 37 characters long; Lepton allows at most 36"),
        ("9lives", "must start with a lowercase letter"),
        ("has_underscore", "must start with a lowercase letter"),
        ("ends-", "must not end with '-'"),
        ("made-by-lepton", "must not end with 'by-lepton'"),
        ("", "must not be empty"),
    ],
)
def test_lepton_name_rules(name, problem):
    assert problem in lepton_name_problem(name)


def test_valid_names_and_sanitizing():
    assert lepton_name_problem("a" * 36) is None
    assert lepton_name_problem("llama-3-1-8b") is None
    assert sanitize_name("Llama 3.1 (8B) eval!") == "llama-3-1-8b-eval"
    assert sanitize_name("__") == "stack"
    long = sanitize_name("x" * 50 + "-y")
    assert len(long) <= 36 and lepton_name_problem(long) is None


def test_endpoint_name_rule_applies_to_the_config(tmp_path):
    error = only_error(seed_with(tmp_path, "endpoint_name: llama-3-1-8b", "endpoint_name: llama.3"))
    assert error.key_path == "deployment.lepton_config.endpoint_name" and error.line == 14


@pytest.mark.parametrize(
    "name, message",
    [
        ("LEPTON_JOB_NAME", "LEPTON_JOB_NAME is reserved by Lepton"),
        ("2FA", "env var name must not start with a digit"),
        ("MY VAR", "env var name may hold only letters, digits, '.', '_' and '-'"),
        ("ÜBER", "env var name may hold only letters"),
    ],
)
@pytest.mark.parametrize("place", ["deployment", "tasks", "task"])
def test_env_name_rules_everywhere_env_vars_are_written(tmp_path, name, message, place):
    if place == "deployment":
        block = f"deployment:\n  lepton_config:\n    envs:\n      '{name}': x\n"
        key_path = f"deployment.lepton_config.envs.{name}"
    elif place == "tasks":
        block = f"execution:\n  lepton_platform:\n    tasks:\n      env_vars:\n        '{name}': x\n"
        key_path = f"execution.lepton_platform.tasks.env_vars.{name}"
    else:
        block = f"evaluation:\n  tasks:\n    - name: nimctl.smoke\n      env_vars:\n        '{name}': x\n"
        key_path = f"evaluation.tasks.0.env_vars.{name}"
    error = only_error(write(tmp_path, LOCAL_MOCK, block))
    assert error.key_path == key_path and message in error.message
    assert error.line is not None


def test_env_value_from_must_hold_secret_name_ref(tmp_path):
    path = seed_with(tmp_path, 'secret_name_ref: "HUGGING_FACE_HUB_TOKEN"', "secret_ref: HUGGING_FACE_HUB_TOKEN")
    messages = {e.key_path: e.message for e in errors_of(path)}
    base = "deployment.lepton_config.envs.HF_TOKEN.value_from"
    assert messages == {
        base: "value_from must hold secret_name_ref",
        f"{base}.secret_ref": "value_from must hold secret_name_ref, not secret_ref",
    }


def test_api_token_value_from_must_hold_token_name_ref(tmp_path):
    path = seed_with(
        tmp_path, '      - value_from:\n          token_name_ref: "ENDPOINT_API_KEY"', "      - value_from: {}"
    )
    error = only_error(path)
    assert error.key_path == "deployment.lepton_config.api_tokens.0.value_from"
    assert error.message == "value_from must hold token_name_ref"


def test_an_empty_api_token_mapping_is_rejected(tmp_path):
    path = seed_with(tmp_path, '      - value_from:\n          token_name_ref: "ENDPOINT_API_KEY"', "      - {}")
    assert only_error(path).message == "must not be an empty mapping"


@pytest.mark.parametrize(
    "mount_path, ok",
    [
        ("/", False),
        ("/etc", False),
        ("/usr/", False),
        ("//var", False),
        ("/opt", False),
        ("/proc/sys", False),
        ("/var/data", True),
        ("/opt/nim/.cache", True),
        ("/workspace", True),
        ("relative/path", False),
    ],
)
def test_mount_path_rules(mount_path, ok):
    assert (mount_path_problem(mount_path) is None) == ok


def test_task_mount_rules_and_default_from(tmp_path):
    path = seed_with(
        tmp_path,
        "execution:\n  output_dir: lepton_nim_llama_3_1_8b_results\n",
        """execution:
  output_dir: lepton_nim_llama_3_1_8b_results
  lepton_platform:
    tasks:
      mounts:
        - path: /shared/eval
          mount_path: /workspace
        - from: node-local
          path: /scratch
          mount_path: /sys
""",
    )
    error = only_error(path)
    assert error.key_path == "execution.lepton_platform.tasks.mounts.1.mount_path"
    assert "/sys is a system directory" in error.message
    path = seed_with(
        tmp_path,
        "execution:\n  output_dir: lepton_nim_llama_3_1_8b_results\n",
        """execution:
  output_dir: lepton_nim_llama_3_1_8b_results
  lepton_platform:
    tasks:
      mounts:
        - path: /shared/eval
          mount_path: /workspace
""",
        name="ok.yaml",
    )
    mounts = load_one(path).config["execution"]["lepton_platform"]["tasks"]["mounts"]
    assert mounts == [{"path": "/shared/eval", "mount_path": "/workspace", "from": "node-nfs:lepton-shared-fs"}]


def test_local_execution_needs_a_command_and_port_auto_needs_the_placeholder(tmp_path):
    base = "defaults:\n  - execution: local\n  - deployment: nim\n"
    nim = "deployment:\n  image: nvcr.io/nim/x:1\n  served_model_name: x\n"
    error = only_error(write(tmp_path, base, nim))
    assert error.key_path == "deployment.command" and "deployment: mock" in error.hint
    load_one(write(tmp_path, base, nim + "  command: serve --port 8000\n", name="with-command.yaml"))
    error = only_error(write(tmp_path, base, nim + "  port: auto\n  command: [serve]\n", name="auto.yaml"))
    assert error.key_path == "deployment.port" and "{port}" in error.message


def test_deployment_none_needs_a_url(tmp_path):
    base = "defaults:\n  - execution: local\n  - deployment: none\n"
    assert only_error(write(tmp_path, base)).key_path == "target.api_endpoint.url"
    loaded = load_one(
        write(
            tmp_path,
            base,
            "target:\n  api_endpoint:\n    url: http://127.0.0.1:8000\n    model_id: m\n",
            name="ok.yaml",
        )
    )
    assert loaded.warnings == []


def test_lepton_rules_for_port_shape_and_mock(tmp_path):
    error = only_error(seed_with(tmp_path, "    resource_shape: gpu.1xh200\n", ""))
    assert error.key_path == "deployment.lepton_config.resource_shape"
    error = only_error(str(SEED), ["deployment.port=auto"])
    assert error.key_path == "deployment.port" and "(from override -o deployment.port)" in error.message
    path = write(tmp_path, "defaults:\n  - execution: lepton/default\n  - deployment: mock\n", name="mock.yaml")
    error = only_error(path)
    assert error.key_path == "deployment.type" and (error.line, error.column) == (3, 5)


def test_duplicate_task_names(tmp_path):
    path = write(
        tmp_path,
        LOCAL_MOCK,
        "evaluation:\n  tasks:\n    - name: nimctl.smoke\n    - name: nimctl.perf\n    - name: nimctl.smoke\n",
    )
    error = only_error(path)
    assert (error.key_path, error.line) == ("evaluation.tasks.2.name", 9)


def test_explicit_stack_name_rules(tmp_path):
    error = only_error(write(tmp_path, "stack: Bad.Name\n", LOCAL_MOCK))
    assert (error.key_path, error.line) == ("stack", 1)


# -- warnings -------------------------------------------------------------------------------------


def warnings_of(path: str, overrides=()) -> dict[str, str]:
    return {w.key_path: w.message for w in load_one(path, overrides).warnings}


def test_literal_secret_looking_env_values_warn_and_suggest_value_from(tmp_path):
    path = seed_with(
        tmp_path,
        ENVS_BLOCK,
        ENVS_BLOCK + "      NGC_API_KEY: nvapi-literal\n      LOG_LEVEL: debug\n      MY_PASSWORD: ''\n",
    )
    [warning] = load_one(path).warnings
    assert warning.key_path == "deployment.lepton_config.envs.NGC_API_KEY" and warning.line == 27
    assert warning.message == "NGC_API_KEY looks like a credential but its value is written literally"
    assert "value_from: {secret_name_ref:" in warning.hint
    assert "nvapi-literal" not in warning.render()


def test_literal_api_token_warns(tmp_path):
    path = seed_with(
        tmp_path,
        '      - value_from:\n          token_name_ref: "ENDPOINT_API_KEY"',
        '      - value: "UNIQUE_ENDPOINT_TOKEN"\n      - plain-token-string',
    )
    warnings = warnings_of(path)
    assert set(warnings) == {"deployment.lepton_config.api_tokens.0.value", "deployment.lepton_config.api_tokens.1"}
    assert all("written literally" in m for m in warnings.values())


@pytest.mark.parametrize(
    "old, new, key_path, says",
    [
        (
            "    max_replicas: 3\n",
            "    max_replicas: 3\n    auto_scaler:\n      scale_down:\n        scale_from_zero: true\n",
            "deployment.lepton_config.auto_scaler.scale_down.scale_from_zero",
            "min_replicas: 0 is how to scale to zero",
        ),
        (
            "  output_dir: lepton_nim_llama_3_1_8b_results\n",
            "  output_dir: lepton_nim_llama_3_1_8b_results\n  env_var_names: [HF_TOKEN]\n",
            "execution.env_var_names",
            "execution.lepton_platform.tasks.env_vars",
        ),
        (
            "  served_model_name: meta/llama-3.1-8b-instruct\n",
            "  served_model_name: meta/llama-3.1-8b-instruct\n  checkpoint_path: /models/llama\n",
            "deployment.checkpoint_path",
            "ignored for deployment type nim",
        ),
        (
            "evaluation:",
            "target:\n  api_endpoint:\n    url: https://elsewhere.example.com\nevaluation:",
            "target.api_endpoint.url",
            "the eval tasks use the deployed endpoint's URL",
        ),
        (
            "  output_dir: lepton_nim_llama_3_1_8b_results\n",
            "  output_dir: lepton_nim_llama_3_1_8b_results\n  local:\n    readiness_timeout: 10\n",
            "execution.local",
            "ignored with execution type lepton",
        ),
    ],
)
def test_accepted_but_unused_keys_warn_with_what_nimctl_does(tmp_path, old, new, key_path, says):
    warnings = warnings_of(seed_with(tmp_path, old, new))
    assert list(warnings) == [key_path]
    assert warnings[key_path].startswith("ignored") and says in warnings[key_path]


def test_warnings_come_from_overrides_too_but_never_from_bundled_defaults(tmp_path):
    assert load_one(str(SEED)).warnings == []
    warnings = warnings_of(str(SEED), ["deployment.lepton_config.auto_scaler.scale_down.scale_from_zero=false"])
    assert list(warnings) == ["deployment.lepton_config.auto_scaler.scale_down.scale_from_zero"]


def test_deployment_none_warns_about_server_settings(tmp_path):
    path = write(
        tmp_path,
        "defaults:\n  - execution: local\n  - deployment: none\n",
        "deployment:\n  image: some/image:1\ntarget:\n  api_endpoint:\n    url: http://127.0.0.1:1\n",
    )
    assert warnings_of(path) == {"deployment.image": "ignored with deployment type none: nothing is deployed"}


def test_warnings_are_returned_not_raised_but_travel_with_errors(tmp_path):
    path = seed_with(tmp_path, ENVS_BLOCK, ENVS_BLOCK + "      API_TOKEN: abc\n      LEPTON_JOB_NAME: x\n")
    problems = problems_of(path)
    assert [p.severity for p in problems] == ["error", "warning"]


def test_env_values_and_argv_items_are_normalized_to_strings(tmp_path):
    path = write(
        tmp_path,
        LOCAL_MOCK,
        """
        deployment:
          command: [serve, --port, "{port}", --workers, 2, --debug, true]
          lepton_config:
            envs:
              WORKERS: 4
              DEBUG: false
              RATIO: 0.5
        """,
    )
    deployment = load_one(path).config["deployment"]
    assert deployment["command"] == ["serve", "--port", "{port}", "--workers", "2", "--debug", "true"]
    assert deployment["lepton_config"]["envs"] == {"WORKERS": "4", "DEBUG": "false", "RATIO": "0.5"}
