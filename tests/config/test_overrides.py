"""``-o key.path=value`` overrides: applied after composition, values typed as YAML."""

from __future__ import annotations

import pytest

from tests.support.configs import LOCAL_MOCK, SEED, errors_of, load_one, write


@pytest.fixture
def mock_config(tmp_path) -> str:
    return write(tmp_path, LOCAL_MOCK)


@pytest.mark.parametrize(
    "override, path, expected",
    [
        ("deployment.port=9000", ("deployment", "port"), 9000),
        ("execution.destroy_after=true", ("execution", "destroy_after"), True),
        ("execution.local.readiness_timeout=12.5", ("execution", "local", "readiness_timeout"), 12.5),
        ("deployment.served_model_name=org/model:v1", ("deployment", "served_model_name"), "org/model:v1"),
        ("deployment.served_model_name='123'", ("deployment", "served_model_name"), "123"),
        ("execution.output_dir=", ("execution", "output_dir"), None),  # empty → "" (then rejected below)
    ],
)
def test_override_values_are_yaml_typed(mock_config, override, path, expected):
    if expected is None:
        [error] = errors_of(mock_config, [override])
        assert error.key_path == "execution.output_dir" and "must not be empty" in error.message
        return
    node = load_one(mock_config, [override]).config
    for key in path:
        node = node[key]
    assert node == expected and type(node) is type(expected)


def test_override_lists_and_mappings(mock_config):
    config = load_one(
        mock_config, ["deployment.command=[python, -m, x, '{port}']", "evaluation.tasks=[{name: nimctl.smoke}]"]
    ).config
    assert config["deployment"]["command"] == ["python", "-m", "x", "{port}"]
    assert config["evaluation"]["tasks"] == [{"name": "nimctl.smoke"}]


def test_override_creates_missing_mappings_and_reaches_into_lists(tmp_path):
    path = write(tmp_path, LOCAL_MOCK, "evaluation:\n  tasks:\n    - name: nimctl.smoke\n")
    config = load_one(path, ["evaluation.tasks.0.params.max_tokens=4", "+stack=renamed"]).config
    assert config["evaluation"]["tasks"][0]["params"] == {"max_tokens": 4}
    assert config["stack"] == "renamed"


def test_overrides_apply_after_composition_and_before_interpolation(mock_config):
    config = load_one(mock_config, ["deployment.served_model_name=from-cli"]).config
    assert config["deployment"]["command"][-1] == "from-cli"


def test_later_overrides_win(mock_config):
    assert load_one(mock_config, ["deployment.port=1", "deployment.port=2"]).config["deployment"]["port"] == 2


def test_overridden_keys_are_located_at_the_override():
    loaded = load_one(str(SEED), ["deployment.lepton_config.max_replicas=5", "execution.evaluation_tasks.timeout=60"])
    assert loaded.locate("deployment.lepton_config.max_replicas") == (
        "<override -o deployment.lepton_config.max_replicas>",
        None,
        None,
    )
    assert loaded.locate("execution.evaluation_tasks.timeout")[0] == "<override -o execution.evaluation_tasks.timeout>"
    assert loaded.locate("deployment.lepton_config.min_replicas") == (str(SEED), 16, 5)


def test_an_override_error_names_the_override(mock_config):
    [error] = errors_of(mock_config, ["deployment.port=-3"])
    assert error.key_path == "deployment.port"
    assert "(from override -o deployment.port)" in error.message
    assert error.line is None


@pytest.mark.parametrize(
    "override, message",
    [
        ("deployment.port", "override 'deployment.port' has no '='"),
        ("deployment..port=1", "override -o deployment..port=...: 'deployment..port' is not a key path"),
        ("=1", "'' is not a key path"),
        ("deployment.port.number=1", "deployment.port is a single value, not a mapping"),
        ("evaluation.tasks.5.name=x", "is not an item of the list"),
        ("deployment.command.x=1", "x is not an item of the list"),
        ("deployment.port=[1, 2", "the value is not valid YAML"),
        ("deployment.lepton_confg.max_replicas=3", "unknown key; did you mean lepton_config?"),
    ],
)
def test_bad_overrides_are_clear_errors(tmp_path, override, message):
    path = write(tmp_path, LOCAL_MOCK, "evaluation:\n  tasks:\n    - name: nimctl.smoke\n")
    errors = errors_of(path, [override])
    assert any(message in e.message for e in errors), [e.message for e in errors]


def test_override_values_never_appear_in_messages(tmp_path):
    path = write(tmp_path, LOCAL_MOCK)
    text = "\n".join(
        p.render()
        for p in errors_of(path, ["bad..key=s3cr3t-value", "deployment.lepton_config.envs.HF_TOKEN=[s3cr3t]"])
    )
    assert "s3cr3t" not in text and "deployment.lepton_config.envs.HF_TOKEN: must be a string" in text
