"""A config's export: section (the launcher's, unchanged) is validated where it is written, and
the stack carries the redacted config the exports log."""

from __future__ import annotations

from nimctl.stack.builder import build_stacks
from tests.support.configs import errors_of, load_one, write

CONFIG = """
defaults:
  - execution: local
  - deployment: mock
  - _self_
deployment:
  env_vars:
    HF_TOKEN: hf_not_a_real_token
export:
  mlflow:
    tracking_uri: sqlite:///mlflow.db
    experiment_name: nightly
    log_config_params: true
    tags: {team: evals}
  wandb:
    entity: team
    project: nightly
    log_mode: multi_task
evaluation:
  tasks:
    - name: nimctl.smoke
"""


def test_launcher_export_section_is_accepted_and_kept_redacted(tmp_path) -> None:
    [stack] = build_stacks([load_one(write(tmp_path, CONFIG))])
    assert stack.config["export"]["mlflow"]["experiment_name"] == "nightly"
    assert stack.config["deployment"]["env_vars"]["HF_TOKEN"] == "(sensitive)"
    assert "hf_not_a_real_token" not in repr(stack.config)


def test_wrong_export_keys_are_located(tmp_path) -> None:
    path = write(
        tmp_path, CONFIG.replace("experiment_name: nightly", "experiment: nightly").replace("multi_task", "all")
    )
    errors = {e.key_path: e for e in errors_of(path)}
    assert set(errors) == {"export.mlflow.experiment", "export.wandb.log_mode"}
    assert errors["export.mlflow.experiment"].line == 11
    assert "experiment_name" in errors["export.mlflow.experiment"].hint
