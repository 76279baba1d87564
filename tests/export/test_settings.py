"""export.<dest> settings: the launcher's keys and defaults, validation, -o overrides."""

from __future__ import annotations

import pytest

from nimctl.common.errors import NimctlError
from nimctl.export.settings import Destination, check_auto_export, check_export_block, resolve, tracking_uri

# The launcher 0.2.6's own templates (resources/config_templates/export/*.yaml), filled in.
LAUNCHER_MLFLOW = {
    "tracking_uri": "http://127.0.0.1:5000",
    "experiment_name": "evals",
    "description": "",
    "log_logs": True,
    "log_config_params": True,
    "tags": {},
}
LAUNCHER_WANDB = {"project": "evals", "entity": "team", "log_logs": True, "tags": []}


def test_launcher_templates_are_accepted() -> None:
    problems = check_export_block({"mlflow": LAUNCHER_MLFLOW, "wandb": LAUNCHER_WANDB, "local": {"format": "csv"}})
    assert [p for p in problems if p.severity == "error"] == []
    # log_logs is the launcher's deprecated copy_logs; nimctl says it does not act on it
    assert {p.key_path for p in problems} == {"export.mlflow.log_logs", "export.wandb.log_logs"}


def test_unknown_key_is_named_with_a_suggestion() -> None:
    (problem,) = check_export_block({"mlflow": {"experiment": "x"}})
    assert problem.key_path == "export.mlflow.experiment"
    assert "did you mean experiment_name" in (problem.hint or "")


@pytest.mark.parametrize(
    ("block", "path", "text"),
    [
        ({"local": {"format": "xml"}}, "export.local.format", "json, csv"),
        ({"mlflow": {"tags": ["a"]}}, "export.mlflow.tags", "mapping"),
        ({"wandb": {"tags": "a"}}, "export.wandb.tags", "list of strings"),
        ({"mlflow": {"skip_existing": "yes"}}, "export.mlflow.skip_existing", "true or false"),
        ({"gsheets": {"spreadsheet_id": "x"}}, "export.gsheets", "not supported"),
        ({"s3": {}}, "export.s3", "unknown export destination"),
    ],
)
def test_wrong_values_are_refused(block, path, text) -> None:
    problems = [p for p in check_export_block(block) if p.severity == "error"]
    assert [p.key_path for p in problems] == [path]
    assert text in problems[0].message + (problems[0].hint or "")


def test_auto_export_needs_the_destination_settings() -> None:
    problems = check_auto_export({"destinations": ["wandb"]}, {"wandb": {"project": "p"}})
    assert [p.key_path for p in problems] == ["export.wandb.entity"]
    assert check_auto_export({"destinations": ["mlflow"]}, None) == []  # tracking_uri may come from the env
    assert [p.key_path for p in check_auto_export({"destinations": ["sheets"]}, {})] == [
        "execution.auto_export.destinations.0"
    ]


def test_defaults_overrides_and_removal(monkeypatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    settings, notes = resolve(
        Destination.MLFLOW,
        {"tracking_uri": "sqlite:///m.db", "tags": {"team": "a"}, "run_name": "x"},
        [
            "export.mlflow.tags.owner=me",
            "export.mlflow.skip_existing=true",
            "~export.mlflow.run_name",
            "export.wandb.entity=ignored",
        ],
    )
    assert settings["tags"] == {"team": "a", "owner": "me"}
    assert settings["skip_existing"] is True
    assert settings["run_name"] is None
    assert settings["experiment_name"] == "nemo-evaluator-launcher"  # the launcher's default
    assert settings["log_config_params"] is True
    assert settings["copy_artifacts"] is True and settings["only_required"] is True
    assert notes == ["-o export.wandb.entity=ignored: for another destination; ignored"]


def test_overrides_leave_the_config_block_alone() -> None:
    block = {"tracking_uri": "sqlite:///m.db", "tags": {"team": "a"}}
    resolve(Destination.MLFLOW, block, ["export.mlflow.tags.round=2"])
    assert block == {"tracking_uri": "sqlite:///m.db", "tags": {"team": "a"}}


def test_an_override_steps_into_a_list_by_index_as_omegaconf_does() -> None:
    block = {"project": "p", "entity": "e", "tags": ["a", "b"]}
    settings, _ = resolve(Destination.WANDB, block, ["export.wandb.tags.1=c"])
    assert settings["tags"] == ["a", "c"]
    assert block["tags"] == ["a", "b"]
    with pytest.raises(NimctlError, match="export.wandb.tags"):  # no such item: not a list any more
        resolve(Destination.WANDB, block, ["export.wandb.tags.2=c"])


def test_deprecated_launcher_names_feed_the_current_ones() -> None:
    settings, notes = resolve(Destination.LOCAL, {"log_artifacts": False})
    assert settings["copy_artifacts"] is False


def test_non_export_override_is_an_error() -> None:
    with pytest.raises(NimctlError, match="not an export setting"):
        resolve(Destination.LOCAL, {}, ["deployment.port=1"])


def test_required_settings(monkeypatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(NimctlError) as err:
        resolve(Destination.WANDB, {"project": "p"})
    assert "export.wandb.entity: is required" in err.value.message
    with pytest.raises(NimctlError, match="MLFLOW_TRACKING_URI"):
        resolve(Destination.MLFLOW, {})


def test_tracking_uri_follows_the_launcher_rule(monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000/")
    assert tracking_uri(None) == "http://127.0.0.1:5000"
    monkeypatch.setenv("TEAM_MLFLOW", "sqlite:///team.db")
    assert tracking_uri("TEAM_MLFLOW") == "sqlite:///team.db"  # no :// → the name of a variable
    assert tracking_uri("sqlite:///x.db") == "sqlite:///x.db"
