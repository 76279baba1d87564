"""Lepton job specs: fields, the endpoint token wired automatically, env layering, mounts per
invocation, rendering at apply time."""

from __future__ import annotations

import pytest
import yaml

from nimctl.common.errors import ConfigError
from nimctl.stack.builder import render_job_spec
from nimctl.stack.specs.markers import PENDING_URL
from nimctl.stack.specs.scripts import RUN_EVAL_COMMAND
from tests.support.stack_configs import build

INVOCATION = "a1b2c3d4e5f60718"
URL = "https://ws1-llama-3-1-8b.xenon.lepton.run"


def env_of(spec: dict) -> dict:
    return {e["name"]: e.get("value", e.get("value_from")) for e in spec["envs"]}


def rendered(config: dict, task: int = 0, url: str | None = URL, stack: str = "llama") -> tuple[str, dict]:
    job = build(config, stack=stack).jobs[task]
    return render_job_spec(job, invocation_id=INVOCATION, endpoint_url=url)


def test_seed_job_spec(seed: dict) -> None:
    seed["execution"]["lepton_platform"]["tasks"]["mounts"] = [
        {"from": "node-nfs:lepton-shared-fs", "path": "/shared/nimctl/", "mount_path": "/workspace"}
    ]
    seed["execution"]["lepton_platform"]["tasks"]["image_pull_secrets"] = ["lepton-nvidia-registry-secret"]
    name, spec = rendered(seed)
    assert name.startswith("eval-a1b2c3-")
    assert spec["resource_shape"] == "cpu.small"
    assert "affinity" not in spec
    assert spec["container"] == {
        "image": "nvcr.io/nvidia/eval-factory/lm-evaluation-harness:26.03",
        "command": list(RUN_EVAL_COMMAND),
    }
    assert (spec["completions"], spec["parallelism"], spec["shared_memory_size"]) == (1, 1, 1024)
    assert spec["ttl_seconds_after_finished"] > 600
    assert spec["mounts"] == [
        {"from": "node-nfs:lepton-shared-fs", "path": f"/shared/nimctl/{INVOCATION}", "mount_path": "/workspace"}
    ]
    assert spec["image_pull_secrets"] == ["lepton-nvidia-registry-secret"]
    env = env_of(spec)
    assert env["NIMCTL_ENDPOINT_URL"] == URL
    assert env["NIMCTL_MODEL_ID"] == "meta/llama-3.1-8b-instruct"
    assert env["NIMCTL_API_KEY_ENV"] == "API_KEY"
    assert env["NIMCTL_OUTPUT_DIR"] == "/workspace/ifeval"
    assert env["NIMCTL_TASK_PARAMS"] == "{}"
    assert env["API_KEY"] == {"secret_name_ref": "ENDPOINT_API_KEY"}  # the endpoint's own token


def test_run_config_carries_target_and_task(seed: dict) -> None:
    _, spec = rendered(seed)
    document = yaml.safe_load(env_of(spec)["NIMCTL_RUN_CONFIG"])
    assert document["config"] == {"type": "ifeval", "output_dir": "/results/ifeval"}
    assert document["target"]["api_endpoint"] == {
        "url": f"{URL}/v1/chat/completions",
        "model_id": "meta/llama-3.1-8b-instruct",
        "type": "chat",
        "api_key_name": "API_KEY",
    }
    assert document["metadata"]["nimctl"]["invocation_id"] == INVOCATION


def test_template_marks_what_is_known_only_at_apply_time(seed: dict) -> None:
    seed["execution"]["lepton_platform"]["tasks"]["mounts"] = [{"path": "/ws", "mount_path": "/workspace"}]
    job = build(seed).jobs[0]
    env = env_of(job.spec_template)
    assert env["NIMCTL_ENDPOINT_URL"] == PENDING_URL
    assert yaml.safe_load(env["NIMCTL_RUN_CONFIG"])["target"]["api_endpoint"]["url"] == PENDING_URL
    assert job.spec_template["mounts"] == [
        {"path": "/ws/(invocation id)", "from": "node-nfs:lepton-shared-fs", "mount_path": "/workspace"}
    ]


def test_render_does_not_touch_the_template(seed: dict) -> None:
    job = build(seed).jobs[0]
    before = repr(job.spec_template)
    render_job_spec(job, invocation_id=INVOCATION, endpoint_url=URL)
    assert repr(job.spec_template) == before


def test_endpoint_url_with_v1_suffix_is_reduced_to_the_base(seed: dict) -> None:
    _, spec = rendered(seed, url=URL + "/v1/")
    assert env_of(spec)["NIMCTL_ENDPOINT_URL"] == URL


def test_literal_endpoint_token_reaches_the_job_as_its_key(seed: dict) -> None:
    seed["deployment"]["lepton_config"]["api_tokens"] = [{"value": "s3cr3t-token"}]
    seed["target"] = {"api_endpoint": {"api_key_name": "NIM_ENDPOINT_TOKEN"}}
    _, spec = rendered(seed)
    env = env_of(spec)
    assert env["NIM_ENDPOINT_TOKEN"] == "s3cr3t-token"
    assert env["NIMCTL_API_KEY_ENV"] == "NIM_ENDPOINT_TOKEN"
    assert yaml.safe_load(env["NIMCTL_RUN_CONFIG"])["target"]["api_endpoint"]["api_key_name"] == "NIM_ENDPOINT_TOKEN"


def test_custom_key_name_gets_the_referenced_secret(seed: dict) -> None:
    seed["target"] = {"api_endpoint": {"api_key_name": "MY_KEY"}}
    env = env_of(rendered(seed)[1])
    assert env["MY_KEY"] == {"secret_name_ref": "ENDPOINT_API_KEY"}
    assert "API_KEY" not in env


def test_no_endpoint_token_means_no_key_variable(seed: dict) -> None:
    del seed["deployment"]["lepton_config"]["api_tokens"]
    job = build(seed).jobs[0]
    env = env_of(render_job_spec(job, invocation_id=INVOCATION, endpoint_url=URL)[1])
    assert "API_KEY" not in env
    endpoint = yaml.safe_load(env["NIMCTL_RUN_CONFIG"])["target"]["api_endpoint"]
    assert "api_key" not in endpoint and "api_key_name" not in endpoint
    assert build(seed).endpoint.probe_token is None


def test_env_layers_task_wins_over_execution_wide(seed: dict) -> None:
    seed["execution"]["lepton_platform"]["tasks"]["env_vars"] = {
        "HF_TOKEN": {"value_from": {"secret_name_ref": "HF"}},
        "LOG_LEVEL": "info",
        "RETRIES": 3,
    }
    seed["evaluation"]["tasks"][0]["env_vars"] = {"LOG_LEVEL": "debug", "FLAG": False}
    env = env_of(rendered(seed)[1])
    assert env["HF_TOKEN"] == {"secret_name_ref": "HF"}
    assert (env["LOG_LEVEL"], env["RETRIES"], env["FLAG"]) == ("debug", "3", "false")


def test_user_can_point_the_key_variable_elsewhere(seed: dict) -> None:
    seed["evaluation"]["tasks"][0]["env_vars"] = {"API_KEY": {"value_from": {"secret_name_ref": "OTHER"}}}
    assert env_of(rendered(seed)[1])["API_KEY"] == {"secret_name_ref": "OTHER"}


def test_shape_node_group_timeout_and_dataset(seed: dict) -> None:
    seed["execution"]["evaluation_tasks"] = {"resource_shape": "gpu.small", "timeout": 7200}
    seed["execution"]["lepton_platform"]["tasks"]["node_group"] = "ng-eval"
    seed["evaluation"]["tasks"][0]["dataset_dir"] = "/datasets-on-nfs/ifeval"
    _, spec = rendered(seed)
    assert spec["resource_shape"] == "gpu.small"
    assert spec["affinity"] == {"allowed_dedicated_node_groups": ["ng-eval"]}
    env = env_of(spec)
    assert env["NIMCTL_TASK_TIMEOUT_S"] == "7200"
    assert env["NEMO_EVALUATOR_DATASET_DIR"] == "/datasets"
    assert {"path": "/datasets-on-nfs/ifeval", "from": "node-nfs:lepton-shared-fs", "mount_path": "/datasets"} in spec[
        "mounts"
    ]


def test_nemo_evaluator_config_task_merges_over_global(seed: dict) -> None:
    seed["evaluation"]["nemo_evaluator_config"] = {"config": {"params": {"parallelism": 8, "limit_samples": 10}}}
    seed["evaluation"]["tasks"] = [
        {"name": "gsm8k", "nemo_evaluator_config": {"config": {"params": {"limit_samples": 200}}}},
        {
            "name": "lm-evaluation-harness.ifeval",
            "nemo_evaluator_config": {"target": {"api_endpoint": {"url": "http://elsewhere/v1/chat/completions"}}},
        },
    ]
    stack = build(seed, stack="llama")
    gsm8k = yaml.safe_load(
        env_of(render_job_spec(stack.jobs[0], invocation_id=INVOCATION, endpoint_url=URL)[1])["NIMCTL_RUN_CONFIG"]
    )
    assert gsm8k["config"]["params"] == {"parallelism": 8, "limit_samples": 200}
    assert gsm8k["config"]["type"] == "gsm8k"
    assert gsm8k["target"]["api_endpoint"]["type"] == "completions"
    assert gsm8k["target"]["api_endpoint"]["url"] == f"{URL}/v1/completions"
    ifeval = yaml.safe_load(
        env_of(render_job_spec(stack.jobs[1], invocation_id=INVOCATION, endpoint_url=URL)[1])["NIMCTL_RUN_CONFIG"]
    )
    assert ifeval["target"]["api_endpoint"]["url"] == "http://elsewhere/v1/chat/completions"  # user's wins


def test_container_override_and_unlisted_task(seed: dict) -> None:
    seed["evaluation"]["tasks"] = [
        {"name": "ifeval", "container": "nvcr.io/nvidia/eval-factory/lm-evaluation-harness:25.11"},
        {"name": "myharness.my_task", "container": "registry.example/evals:1", "endpoint_type": "completions"},
    ]
    stack = build(seed)
    assert stack.jobs[0].spec_template["container"]["image"].endswith(":25.11")
    assert stack.jobs[0].resolved_task == "lm-evaluation-harness.ifeval"
    custom = stack.jobs[1]
    assert custom.spec_template["container"]["image"] == "registry.example/evals:1"
    assert yaml.safe_load(env_of(custom.spec_template)["NIMCTL_RUN_CONFIG"])["config"]["type"] == "my_task"
    assert any("not in nimctl's task mapping" in n for n in custom.notes)


def test_command_task_runs_its_argv_as_arguments_of_the_constant_script(seed: dict) -> None:
    # The argv items are the script's "$@": run as given, never parsed by a shell.
    seed["evaluation"]["tasks"] = [{"name": "probe", "container": "python:3.11", "command": "python -c 'print(1)'"}]
    job = build(seed).jobs[0]
    assert job.spec_template["container"] == {
        "image": "python:3.11",
        "command": [*RUN_EVAL_COMMAND, "python", "-c", "print(1)"],
    }
    assert job.resolved_task == "command"
    assert "NIMCTL_RUN_CONFIG" not in env_of(job.spec_template)


def test_builtin_on_lepton_runs_in_the_given_image(seed: dict) -> None:
    seed["evaluation"]["tasks"] = [
        {"name": "nimctl.smoke", "container": "registry.example/nimctl:0.1", "params": {"max_tokens": 8}}
    ]
    job = build(seed).jobs[0]
    assert job.spec_template["container"]["command"] == [
        *RUN_EVAL_COMMAND,
        "python",
        "-m",
        "nimctl.builtin_tasks.smoke",
    ]
    assert env_of(job.spec_template)["NIMCTL_TASK_PARAMS"] == '{"max_tokens": 8}'


@pytest.mark.parametrize(
    ("task", "key", "text"),
    [
        ({"name": "nimctl.smoke"}, "evaluation.tasks.0.container", "needs a container image"),
        ({"name": "probe", "command": ["true"]}, "evaluation.tasks.0.container", "needs a container image"),
        ({"name": "ifevl"}, "evaluation.tasks.0.name", "did you mean ifeval"),
        ({"name": "mmlu"}, "evaluation.tasks.0.name", "lm-evaluation-harness, simple_evals"),
    ],
)
def test_task_errors_are_located(seed: dict, task: dict, key: str, text: str) -> None:
    seed["evaluation"]["tasks"] = [task]
    with pytest.raises(ConfigError) as caught:
        build(seed)
    problem = caught.value.problems[0]
    assert problem.key_path == key
    assert text in problem.message + (problem.hint or "")


def test_duplicate_task_in_a_stack_is_an_error(seed: dict) -> None:
    seed["evaluation"]["tasks"] = [{"name": "gsm8k"}, {"name": "ifeval"}, {"name": "gsm8k"}]
    with pytest.raises(ConfigError) as caught:
        build(seed)
    assert [p.key_path for p in caught.value.problems] == ["evaluation.tasks.2.name"]
    assert "evaluation.tasks.0" in caught.value.problems[0].message


def test_deployment_none_targets_the_fixed_url(seed: dict) -> None:
    seed["deployment"] = {"type": "none"}
    seed["target"] = {
        "api_endpoint": {
            "url": "https://api.example.com/v1/chat/completions",
            "model_id": "org/model",
            "api_key_name": "NGC_API_KEY",
        }
    }
    seed["execution"]["lepton_platform"]["tasks"]["env_vars"] = {
        "NGC_API_KEY": {"value_from": {"secret_name_ref": "NGC"}}
    }
    job = build(seed).jobs[0]
    assert job.endpoint is None and job.model_id == "org/model"
    _, spec = render_job_spec(job, invocation_id=INVOCATION, endpoint_url=None)
    env = env_of(spec)
    assert env["NIMCTL_ENDPOINT_URL"] == "https://api.example.com"
    document = yaml.safe_load(env["NIMCTL_RUN_CONFIG"])["target"]["api_endpoint"]
    assert document["url"] == "https://api.example.com/v1/chat/completions"
    assert document["api_key_name"] == "NGC_API_KEY" and "api_key" not in document
    assert env["NGC_API_KEY"] == {"secret_name_ref": "NGC"}


def test_render_needs_a_url_for_a_managed_endpoint(seed: dict) -> None:
    with pytest.raises(ValueError, match="endpoint URL"):
        render_job_spec(build(seed).jobs[0], invocation_id=INVOCATION, endpoint_url=None)


def test_vlm_tasks_call_the_chat_completions_path(seed: dict) -> None:
    seed["evaluation"]["tasks"] = [{"name": "vlmevalkit.ocrbench"}]
    _, spec = rendered(seed)
    endpoint = yaml.safe_load(env_of(spec)["NIMCTL_RUN_CONFIG"])["target"]["api_endpoint"]
    assert (endpoint["type"], endpoint["url"]) == ("vlm", f"{URL}/v1/chat/completions")
