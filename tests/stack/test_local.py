"""Local specs: the endpoint process and job processes the local provider starts."""

from __future__ import annotations

import json
import os
import sys

import pytest

from nimctl.common.errors import ConfigError
from nimctl.stack.builder import render_job_spec
from nimctl.stack.specs.scripts import RUN_EVAL_COMMAND
from nimctl.stack.specs.task_plan import DEFAULT_TASK_TIMEOUT_S
from tests.support.stack_configs import build, local_mock_config

INVOCATION = "feedfacecafe0001"


def test_mock_endpoint_spec() -> None:
    endpoint = build(local_mock_config(), stack="quick").endpoint
    assert endpoint.platform == "local" and endpoint.name == "quick"
    assert endpoint.spec == {
        "command": [
            sys.executable,
            "-m",
            "nimctl.offline.mock_server",
            "--port",
            "{port}",
            "--served-model-name",
            "mock-model",
        ],
        "port": None,
        "host": "127.0.0.1",
        "env": {
            "SERVED_MODEL_NAME": "mock-model",
            "NIM_MODEL_NAME": "mock-model",
            "NIM_SERVED_MODEL_NAME": "mock-model",
        },
        "health_path": "/v1/health/ready",
    }
    assert endpoint.readiness_timeout_s == 300.0
    assert endpoint.readiness_timeout_key == "execution.local.readiness_timeout"
    assert endpoint.probe_token is None


def test_the_model_probe_sends_the_key_the_jobs_send() -> None:
    # No endpoint token, but target.api_endpoint.api_key_name names the variable the jobs read:
    # a server that checks keys must get it from the readiness probe too.
    config = local_mock_config()
    config["target"] = {"api_endpoint": {"api_key_name": "SMOLLM_API_KEY"}}
    token = build(config, stack="quick").endpoint.probe_token
    assert token is not None and (token.env_var, token.literal) == ("SMOLLM_API_KEY", None)


def test_fixed_port_and_user_envs() -> None:
    config = local_mock_config()
    config["deployment"]["port"] = 8123
    config["deployment"]["lepton_config"] = {
        "envs": {
            "LOG_LEVEL": "debug",
            "SERVED_MODEL_NAME": "override",
            "HF_TOKEN": {"value_from": {"secret_name_ref": "HF"}},
        }
    }
    spec = build(config).endpoint.spec
    assert spec["port"] == 8123
    assert spec["env"] == {
        "SERVED_MODEL_NAME": "override",
        "NIM_MODEL_NAME": "mock-model",
        "NIM_SERVED_MODEL_NAME": "mock-model",
        "MODEL_PORT": "8123",
        "NIM_SERVER_PORT": "8123",
        "LOG_LEVEL": "debug",
    }
    assert spec["env_from"] == {"HF_TOKEN": "HF"}  # read from nimctl's environment at start


def test_builtin_jobs(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    stack = build(local_mock_config(), stack="quick")
    smoke, perf = stack.jobs
    assert (smoke.resolved_task, perf.resolved_task) == ("nimctl.smoke", "nimctl.perf")
    assert smoke.endpoint == "quick" and smoke.platform == "local"
    name, spec = render_job_spec(smoke, invocation_id=INVOCATION, endpoint_url="http://127.0.0.1:40123")
    assert name.startswith("eval-feedfa-quick-smoke-")
    output_dir = os.path.join(str(tmp_path), "results", INVOCATION, "nimctl.smoke")
    assert spec == {
        "command": [*RUN_EVAL_COMMAND, sys.executable, "-m", "nimctl.builtin_tasks.smoke"],
        "env": {
            "NIMCTL_ENDPOINT_URL": "http://127.0.0.1:40123",
            "NIMCTL_MODEL_ID": "mock-model",
            "NIMCTL_API_KEY_ENV": "API_KEY",
            "NIMCTL_OUTPUT_DIR": output_dir,
            "NIMCTL_TASK_PARAMS": json.dumps({"max_tokens": 8}),
            "NIMCTL_TASK_TIMEOUT_S": str(DEFAULT_TASK_TIMEOUT_S),
        },
        "output_dir": output_dir,
    }
    assert (
        render_job_spec(perf, invocation_id=INVOCATION, endpoint_url="http://127.0.0.1:40123")[1]["command"][-1]
        == "nimctl.builtin_tasks.perf"
    )


def test_command_task_and_secret_env(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = local_mock_config()
    config["evaluation"]["tasks"] = [
        {
            "name": "my check",
            "command": "python -c 'print(42)'",
            "env_vars": {"TOKEN_FOR_X": {"value_from": {"secret_name_ref": "X_TOKEN"}}, "MODE": "fast"},
        }
    ]
    job = build(config).jobs[0]
    _, spec = render_job_spec(job, invocation_id=INVOCATION, endpoint_url="http://127.0.0.1:1")
    assert spec["command"] == [*RUN_EVAL_COMMAND, "python", "-c", "print(42)"]
    assert spec["env"]["MODE"] == "fast" and "TOKEN_FOR_X" not in spec["env"]
    assert spec["env_from"] == {"TOKEN_FOR_X": "X_TOKEN"}
    assert spec["output_dir"].endswith(f"/results/{INVOCATION}/my_check")


def test_harness_task_runs_the_evaluator_locally_and_says_so() -> None:
    config = local_mock_config()
    config["evaluation"]["tasks"] = [{"name": "gsm8k"}]
    job = build(config).jobs[0]
    assert job.spec_template["command"][:2] == ["/bin/sh", "-c"]
    assert any("nemo-evaluator" in note for note in job.notes)


@pytest.mark.parametrize(
    ("deployment", "key"),
    [
        ({"type": "nim", "image": "nvcr.io/nim/x:1", "served_model_name": "m"}, "deployment.command"),
        ({"type": "sglang", "served_model_name": "m", "command": None}, "deployment.checkpoint_path"),
    ],
)
def test_local_servers_need_a_command(deployment: dict, key: str) -> None:
    config = local_mock_config()
    config["deployment"] = deployment
    with pytest.raises(ConfigError) as caught:
        build(config)
    assert key in [p.key_path for p in caught.value.problems]


def test_local_vllm_without_command_is_derived_with_the_port_placeholder() -> None:
    config = local_mock_config()
    config["deployment"] = {
        "type": "vllm",
        "checkpoint_path": "Qwen/Qwen2.5-0.5B-Instruct",
        "served_model_name": "qwen",
        "port": "auto",
        "endpoints": {"health": "/health"},
    }
    spec = build(config).endpoint.spec
    assert spec["command"][:3] == ["vllm", "serve", "Qwen/Qwen2.5-0.5B-Instruct"]
    assert "--port={port}" in spec["command"]
    assert spec["health_path"] == "/health"
