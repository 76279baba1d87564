"""Composition of the defaults list with the bundled groups (Hydra's rules), stack names, paths."""

from __future__ import annotations

import os

import pytest

from nimctl.common.errors import ConfigError
from nimctl.config.bundled import GROUPS_DIR, available_groups
from nimctl.config.loader import expand_paths, load_configs
from tests.support.configs import LOCAL_MOCK, SEED, errors_of, load_one, problems_of, write


def test_bundled_groups_cover_the_required_options():
    groups = available_groups()
    assert {"lepton/default", "local"} <= set(groups["execution"])
    assert {"nim", "vllm", "sglang", "none", "mock"} <= set(groups["deployment"])


def test_bundled_defaults_are_public():
    """No organisation-internal node groups, pull secrets or priority classes in the groups."""
    text = "\n".join(p.read_text() for p in GROUPS_DIR.rglob("*.yaml"))
    for internal in (
        "node_group:",
        "priority_class",
        "nv-int",
        "nvex",
        "lepton-nvidia",
        "mid-4000",
        "image_pull_secrets:\n      -",
        "secret_name_ref",
    ):
        assert internal not in text, internal


def test_lepton_group_defaults(tmp_path):
    path = write(
        tmp_path,
        """
        defaults:
          - execution: lepton/default
          - deployment: none
        target:
          api_endpoint:
            url: https://models.example.com
            model_id: some/model
        """,
    )
    execution = load_one(path).config["execution"]
    assert execution["evaluation_tasks"]["resource_shape"] == "cpu.small"
    assert execution["lepton_platform"]["deployment"]["endpoint_readiness_timeout"] == 1200
    assert execution["lepton_platform"]["tasks"]["mounts"] == []
    assert execution["output_dir"] == "results" and execution["destroy_after"] is False


def test_groups_merge_in_order_and_the_users_file_goes_last(tmp_path):
    path = write(
        tmp_path,
        LOCAL_MOCK,
        """
        deployment:
          served_model_name: my-model
          endpoints:
            health: /healthz
        """,
    )
    deployment = load_one(path).config["deployment"]
    assert deployment["served_model_name"] == "my-model"  # the user's file wins over the group
    # mappings deep-merge: the group's other endpoints stay
    assert deployment["endpoints"] == {
        "chat": "/v1/chat/completions",
        "completions": "/v1/completions",
        "health": "/healthz",
    }
    assert deployment["command"][-1] == "my-model"  # the group's interpolation sees the merged value


def test_self_first_lets_the_groups_override_the_file(tmp_path):
    path = write(
        tmp_path,
        """
        defaults:
          - _self_
          - execution: local
          - deployment: mock
        deployment:
          served_model_name: my-model
          port: 9000
        execution:
          output_dir: mine
        """,
    )
    config = load_one(path).config
    assert config["deployment"]["served_model_name"] == "mock-model"
    assert config["deployment"]["port"] == "auto"
    assert config["execution"]["output_dir"] == "results"


def test_self_absent_means_the_file_is_merged_last(tmp_path):
    path = write(
        tmp_path,
        """
        defaults:
          - execution: local
          - deployment: mock
        deployment:
          served_model_name: my-model
        """,
    )
    assert load_one(path).config["deployment"]["served_model_name"] == "my-model"


def test_lists_replace_instead_of_appending(tmp_path):
    path = write(
        tmp_path,
        LOCAL_MOCK,
        """
        deployment:
          command: [python, -m, http.server, "{port}"]
        """,
    )
    assert load_one(path).config["deployment"]["command"] == ["python", "-m", "http.server", "{port}"]


def test_without_defaults_the_types_choose_the_groups(tmp_path):
    path = write(
        tmp_path,
        """
        execution:
          type: local
        deployment:
          type: mock
        """,
    )
    config = load_one(path).config
    assert config["deployment"]["served_model_name"] == "mock-model"  # from the mock group
    assert config["execution"]["local"]["readiness_timeout"] == 300  # from the local group


def test_execution_type_lepton_chooses_lepton_default(tmp_path):
    path = write(
        tmp_path,
        """
        defaults:
          - deployment: none
        execution:
          type: lepton
        target:
          api_endpoint: {url: "https://models.example.com", model_id: m}
        """,
    )
    assert load_one(path).config["execution"]["lepton_platform"]["deployment"]["endpoint_readiness_timeout"] == 1200


def test_a_group_neither_listed_nor_typed_is_an_error(tmp_path):
    path = write(
        tmp_path,
        """
        defaults:
          - deployment: mock
        """,
    )
    [error] = errors_of(path)
    assert error.key_path == "execution"
    assert "no execution chosen" in error.message
    assert "- execution: <option>" in error.hint
    assert error.line == 1  # at the defaults list


def test_a_null_group_entry_needs_the_type_in_the_file(tmp_path):
    path = write(
        tmp_path,
        """
        defaults:
          - execution: null
          - deployment: mock
        execution:
          type: local
        """,
    )
    assert load_one(path).config["execution"]["type"] == "local"


def test_unknown_group_option_lists_the_available_ones(tmp_path):
    path = write(
        tmp_path,
        """
        defaults:
          - execution: lepton
          - deployment: mock
        """,
    )
    [error] = errors_of(path)
    assert error.key_path == "defaults.0.execution"
    assert (error.line, error.column) == (2, 5)
    assert "unknown execution group 'lepton'" in error.message
    assert "did you mean lepton/default?" in error.message
    assert error.hint == "available execution groups: " + ", ".join(available_groups()["execution"])


@pytest.mark.parametrize(
    "defaults, message",
    [
        ("defaults: local", "must be a list"),
        ("defaults:\n  - some_file", "unsupported defaults entry 'some_file'"),
        ("defaults:\n  - {execution: local, deployment: mock}", "unsupported defaults entry"),
        (
            "defaults:\n  - execution: local\n  - execution: local\n  - deployment: mock",
            "the execution group is chosen twice",
        ),
        ("defaults:\n  - execution: local\n  - deployment: mock\n  - _self_\n  - _self_", "_self_ is listed twice"),
        ("defaults:\n  - execution: 3\n  - deployment: mock", "the execution option must be a name"),
    ],
)
def test_malformed_defaults_lists(tmp_path, defaults, message):
    path = write(tmp_path, defaults + "\n")
    assert any(message in e.message for e in errors_of(path)), errors_of(path)


def test_hydra_override_prefix_in_defaults_is_accepted(tmp_path):
    path = write(
        tmp_path,
        """
        defaults:
          - override execution: local
          - deployment: mock
        """,
    )
    assert load_one(path).config["execution"]["type"] == "local"


def test_required_value_left_unset_is_an_error_naming_the_key_and_group(tmp_path):
    path = write(
        tmp_path,
        """
        defaults:
          - execution: local
          - deployment: vllm
        deployment:
          served_model_name: m
        """,
    )
    [error] = errors_of(path)
    assert error.key_path == "deployment.checkpoint_path"
    assert error.message == "is required but not set (the deployment/vllm group requires it)"
    assert error.line == 4  # the file's `deployment:` mapping, where it belongs
    assert "-o deployment.checkpoint_path=VALUE" in error.hint


def test_required_value_set_by_the_user_is_fine(tmp_path):
    path = write(
        tmp_path,
        """
        defaults:
          - execution: local
          - deployment: vllm
        deployment:
          checkpoint_path: Qwen/Qwen2.5-0.5B-Instruct
          served_model_name: qwen
        """,
    )
    command = load_one(path).config["deployment"]["command"]
    assert command.startswith("vllm serve Qwen/Qwen2.5-0.5B-Instruct --host 0.0.0.0 --port 8000 ")
    assert "--served-model-name qwen" in command


def test_a_list_written_where_the_defaults_hold_a_mapping_is_reported_not_crashed(tmp_path):
    path = write(
        tmp_path,
        LOCAL_MOCK,
        """
        deployment:
          endpoints: [/v1/chat/completions]
        """,
    )
    [error] = errors_of(path)
    assert error.key_path == "deployment.endpoints"
    assert error.line == 6
    assert "must not be a list here" in error.message


# -- stack names -----------------------------------------------------------------------------------


def test_stack_name_prefers_the_stack_key(tmp_path):
    path = write(tmp_path, "stack: my-stack\n" + LOCAL_MOCK)
    assert load_one(path).stack_name == "my-stack"


def test_stack_name_falls_back_to_the_endpoint_name_then_the_file_stem(tmp_path):
    assert load_one(str(SEED)).stack_name == "llama-3-1-8b"
    path = write(tmp_path, LOCAL_MOCK, name="My Config_v2.yaml")
    assert load_one(path).stack_name == "my-config-v2"
    path = write(tmp_path, LOCAL_MOCK, name="2024_eval.yaml")
    assert load_one(path).stack_name == "eval"


def test_two_files_with_the_same_stack_name_are_an_error(tmp_path):
    first = write(tmp_path, "stack: same\n" + LOCAL_MOCK, name="a.yaml")
    second = write(tmp_path, "stack: same\n" + LOCAL_MOCK, name="b.yaml")
    with pytest.raises(ConfigError) as caught:
        load_configs([first, second])
    [error] = caught.value.problems
    assert error.file == second and error.key_path == "stack" and error.line == 1
    assert f"stack name 'same' is also used by {first}" in error.message


# -- paths -----------------------------------------------------------------------------------------


def test_expand_paths_takes_files_and_sorted_directory_contents(tmp_path):
    (tmp_path / "b.yml").write_text("x: 1\n")
    (tmp_path / "a.yaml").write_text("x: 1\n")
    (tmp_path / "notes.txt").write_text("no")
    (tmp_path / ".hidden.yaml").write_text("x: 1\n")
    (tmp_path / "sub").mkdir()
    single = str(tmp_path / "a.yaml")
    assert expand_paths([str(tmp_path)]) == [os.path.join(tmp_path, "a.yaml"), os.path.join(tmp_path, "b.yml")]
    assert expand_paths([single, str(tmp_path)]) == [single, os.path.join(tmp_path, "b.yml")]  # no duplicates


def test_expand_paths_reports_every_missing_path(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError) as caught:
        expand_paths([str(tmp_path / "nope.yaml"), str(tmp_path / "empty")])
    messages = [(p.file, p.message) for p in caught.value.problems]
    assert messages == [
        (str(tmp_path / "nope.yaml"), "no such file or directory"),
        (str(tmp_path / "empty"), "the directory holds no .yaml or .yml files"),
    ]


def test_a_directory_gives_one_stack_per_file_and_all_errors_together(tmp_path):
    write(tmp_path, "stack: one\n" + LOCAL_MOCK, name="1.yaml")
    write(tmp_path, "stack: two\n" + LOCAL_MOCK, "deployment:\n  port: 0\n", name="2.yaml")
    write(tmp_path, "stack: three\n" + LOCAL_MOCK, "execution:\n  typo: 1\n", name="3.yaml")
    with pytest.raises(ConfigError) as caught:
        load_configs([str(tmp_path)])
    assert sorted(os.path.basename(p.file) for p in caught.value.problems) == ["2.yaml", "3.yaml"]
    assert caught.value.error_count == 2
    (tmp_path / "2.yaml").unlink()
    (tmp_path / "3.yaml").unlink()
    assert [c.stack_name for c in load_configs([str(tmp_path)])] == ["one"]


def test_loading_is_repeatable_and_bundled_layers_are_not_mutated(tmp_path):
    """A config that overrides group values must not change what the next load sees."""
    before = load_one(str(SEED)).config
    changed = write(
        tmp_path,
        LOCAL_MOCK,
        "deployment:\n  endpoints:\n    health: /other\nexecution:\n  local:\n    readiness_timeout: 5\n",
    )
    load_one(changed)
    broken = write(tmp_path, LOCAL_MOCK, "execution:\n  local:\n    readiness_timeout: -1\n", name="broken.yaml")
    problems_of(broken)
    assert load_one(str(SEED)).config == before
    assert load_one(write(tmp_path, LOCAL_MOCK, name="plain.yaml")).config["execution"]["local"] == {
        "readiness_timeout": 300
    }
