"""The launcher's own config keys, read with the launcher's meaning (or refused with a reason).

The three Lepton examples of launcher 0.2.6 are kept verbatim in tests/fixtures/launcher/."""

from __future__ import annotations

from pathlib import Path

import pytest

from nimctl.common.envref import host_marker
from nimctl.common.errors import ConfigError
from nimctl.config.loader import load_configs
from nimctl.stack.builder import build_stacks, render_job_spec
from nimctl.stack.specs.run_config import load_run_config
from nimctl.stack.specs.scripts import RUN_EVAL_COMMAND, WRAPPED_COMMAND_SCRIPT
from tests.support.configs import errors_of, load_one, problems_of, write

LAUNCHER = Path(__file__).resolve().parent.parent / "fixtures" / "launcher"
EXAMPLES = sorted(LAUNCHER.glob("*.yaml"))


@pytest.fixture(autouse=True)
def _user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USER", "tester")  # the launcher's examples interpolate ${oc.env:USER}


def stack_of(path: str, overrides: tuple[str, ...] = ()):
    [stack] = build_stacks(load_configs([path], list(overrides)))
    return stack


def env_of(spec: dict) -> dict:
    return {e["name"]: e.get("value", e.get("value_from")) for e in spec["envs"]}


LEPTON_NIM = """
defaults:
  - execution: lepton/default
  - deployment: nim
  - _self_
deployment:
  image: nvcr.io/nim/meta/llama-3.1-8b-instruct:1.8.6
  served_model_name: meta/llama-3.1-8b-instruct
  lepton_config:
    resource_shape: gpu.1xh200
"""

LEPTON_VLLM = """
defaults:
  - execution: lepton/default
  - deployment: vllm
  - _self_
deployment:
  checkpoint_path: null
  hf_model_handle: Qwen/Qwen3-0.6B
  served_model_name: qwen
  lepton_config:
    resource_shape: gpu.1xh200
"""

TASKS = """
evaluation:
  tasks:
    - name: lm-evaluation-harness.ifeval
"""


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_the_launchers_lepton_examples_validate_and_build_unchanged(example: Path) -> None:
    loaded = load_one(str(example))
    assert all(w.severity == "warning" for w in loaded.warnings)
    [stack] = build_stacks([loaded])
    assert stack.platform == "lepton" and len(stack.jobs) == 1
    job = stack.jobs[0]
    assert job.resolved_task == "lm-evaluation-harness.ifeval"
    assert {"name": "HF_TOKEN", "value_from": {"secret_name_ref": "HUGGING_FACE_HUB_TOKEN"}} in job.spec_template[
        "envs"
    ]
    # the job node group stays a name here; plan resolves it to the workspace's id
    assert job.spec_template["affinity"] == {"allowed_dedicated_node_groups": ["nv-int-multiteam-nebius-h200-01"]}


def test_the_top_level_name_names_the_stack() -> None:
    stack = stack_of(str(LAUNCHER / "lepton_vllm.yaml"))
    assert stack.name == "lepton-vllm-llama-3-1-8b-instruct"
    assert stack.endpoint.name == "llama-3-1-8b"  # endpoint_name still names the endpoint
    assert stack_of(str(LAUNCHER / "lepton_basic.yaml")).name == "lepton-none-llama-3-1-8b-instruct"


def test_tasks_api_tokens_is_accepted_with_one_line_saying_what_nimctl_does() -> None:
    warnings = {w.key_path: w.message for w in load_one(str(LAUNCHER / "lepton_nim.yaml")).warnings}
    assert "never reads it" in warnings["execution.lepton_platform.tasks.api_tokens"]


def test_a_slurm_config_is_refused_with_one_clear_first_line(tmp_path) -> None:
    path = write(
        tmp_path,
        """
        defaults:
          - execution: slurm/default
          - deployment: vllm
          - _self_
        execution:
          hostname: ???
          account: ???
          mounts:
            deployment: {/a: /b}
        deployment:
          checkpoint_path: /x
        evaluation:
          tasks:
            - name: ifeval
        """,
    )
    [problem] = problems_of(path)
    assert problem.key_path == "defaults.0.execution" and problem.line == 2
    assert problem.message.startswith("Slurm is not supported by nimctl")
    assert "execution: lepton/default" in problem.message and "execution: local" in problem.message
    typed = write(tmp_path, "execution:\n  type: slurm\n", name="typed.yaml")
    [problem] = problems_of(typed)
    assert problem.key_path == "execution.type" and "Slurm is not supported" in problem.message


def test_env_prefixes_reach_the_spec_as_literal_host_marker_and_runtime(tmp_path) -> None:
    path = write(
        tmp_path,
        LEPTON_NIM,
        """
        env_vars:
          SHARED: lit:everywhere
        execution:
          lepton_platform:
            tasks:
              env_vars:
                HF_TOKEN: host:MY_HF_TOKEN
                PLAIN: plain-text
        evaluation:
          env_vars:
            FROM_EVAL: runtime:HOSTNAME
          tasks:
            - name: nimctl.smoke
              container: python:3.11
        """,
    )
    loaded = load_one(path)
    assert loaded.warnings == []  # no "written literally" warning for host:/runtime:
    [stack] = build_stacks([loaded])
    endpoint_env = env_of(stack.endpoint.spec)
    assert endpoint_env["SHARED"] == "everywhere"  # top-level env_vars reach the server too
    [job] = stack.jobs
    env = env_of(job.spec_template)
    assert env["SHARED"] == "everywhere" and env["PLAIN"] == "plain-text"
    assert env["HF_TOKEN"] == host_marker("MY_HF_TOKEN")
    assert "FROM_EVAL" not in env and env["NIMCTL_RUNTIME_ENV"] == "FROM_EVAL=HOSTNAME"
    command = job.spec_template["container"]["command"]
    assert command[:3] == ["/bin/sh", "-c", WRAPPED_COMMAND_SCRIPT]
    # ...around the job script, which runs the built-in (time limit, results to the log)
    assert command[4:] == [*RUN_EVAL_COMMAND, "python", "-m", "nimctl.builtin_tasks.smoke"]


def test_runtime_values_resolve_from_the_environment_on_local(tmp_path) -> None:
    path = write(
        tmp_path,
        """
        defaults:
          - execution: local
          - deployment: mock
        env_vars:
          A: runtime:HOME
          B: host:SOME_VAR
        evaluation:
          tasks:
            - name: nimctl.smoke
        """,
    )
    stack = stack_of(path)
    assert stack.jobs[0].spec_template["env_from"] == {"A": "HOME", "B": "SOME_VAR"}
    assert {"A": "HOME", "B": "SOME_VAR"}.items() <= stack.endpoint.spec["env_from"].items()


def test_a_prefix_without_a_variable_name_is_an_error(tmp_path) -> None:
    path = write(tmp_path, LEPTON_NIM, TASKS, "env_vars:\n  X: host:not a name\n")
    [error] = errors_of(path)
    assert error.key_path == "env_vars.X" and "host: must be followed by an environment variable name" in error.message


def test_runtime_values_for_a_nim_server_on_lepton_are_refused(tmp_path) -> None:
    nim = LEPTON_NIM.replace("    resource_shape", "    envs:\n      X: runtime:HOSTNAME\n    resource_shape")
    with pytest.raises(ConfigError) as caught:
        stack_of(write(tmp_path, nim, TASKS))
    [problem] = caught.value.problems
    assert problem.key_path == "deployment.lepton_config.envs"
    assert "runtime: env values need a server command" in problem.message


def test_per_task_overrides_are_applied_to_that_tasks_run_config(tmp_path) -> None:
    path = write(
        tmp_path,
        LEPTON_NIM,
        """
        evaluation:
          nemo_evaluator_config:
            config:
              params:
                temperature: 0.1
                max_new_tokens: 64
          overrides:
            config.params.top_p: 0.5
          tasks:
            - name: lm-evaluation-harness.ifeval
              overrides:
                config.params.temperature: 0.6
                config.params.extra.n_samples: 3
            - name: lm-evaluation-harness.gsm8k
        """,
    )
    stack = stack_of(path)
    params = {}
    for job in stack.jobs:
        _, spec = render_job_spec(job, invocation_id="a" * 16, endpoint_url="https://ep.example")
        document = load_run_config(env_of(spec)["NIMCTL_RUN_CONFIG"])
        params[job.task] = document["config"]["params"]
    assert params["lm-evaluation-harness.ifeval"] == {
        "temperature": 0.6,
        "max_new_tokens": 64,
        "top_p": 0.5,
        "extra": {"n_samples": 3},
    }
    assert params["lm-evaluation-harness.gsm8k"] == {"temperature": 0.1, "max_new_tokens": 64, "top_p": 0.5}
    assert load_one(path).warnings == []


def test_vllm_serves_hf_model_handle_when_checkpoint_path_is_null(tmp_path) -> None:
    stack = stack_of(
        write(
            tmp_path,
            LEPTON_VLLM.replace("  served_model_name", "  gpu_memory_utilization: 0.8\n  served_model_name"),
            TASKS,
        )
    )
    command = stack.endpoint.spec["container"]["command"]
    assert command[:3] == ["vllm", "serve", "Qwen/Qwen3-0.6B"]
    assert command[-1] == "--gpu-memory-utilization=0.8"
    neither = write(tmp_path, LEPTON_VLLM.replace("  hf_model_handle: Qwen/Qwen3-0.6B\n", ""), TASKS, name="n.yaml")
    with pytest.raises(ConfigError) as caught:
        stack_of(neither)
    assert caught.value.problems[0].key_path == "deployment.checkpoint_path"


def test_deployment_pre_cmd_wraps_the_server_command_and_is_refused_for_nim(tmp_path) -> None:
    stack = stack_of(
        write(
            tmp_path,
            LEPTON_VLLM.replace("  served_model_name", "  pre_cmd: pip install foo\n  served_model_name"),
            TASKS,
        )
    )
    command = stack.endpoint.spec["container"]["command"]
    assert command[:3] == ["/bin/sh", "-c", WRAPPED_COMMAND_SCRIPT] and command[4:6] == ["vllm", "serve"]
    assert env_of(stack.endpoint.spec)["NIMCTL_SERVER_PRE_CMD"] == "pip install foo"
    [error] = errors_of(
        write(
            tmp_path,
            LEPTON_NIM.replace("  served_model_name", "  pre_cmd: echo hi\n  served_model_name"),
            TASKS,
            name="nim.yaml",
        )
    )
    assert error.key_path == "deployment.pre_cmd" and "not supported for deployment type nim" in error.message


def test_dataset_mount_path_places_the_dataset(tmp_path) -> None:
    stack = stack_of(
        write(
            tmp_path,
            LEPTON_NIM,
            """
            evaluation:
              tasks:
                - name: lm-evaluation-harness.ifeval
                  dataset_dir: /shared/data
                  dataset_mount_path: /data
            """,
        )
    )
    spec = stack.jobs[0].spec_template
    assert {"path": "/shared/data", "from": "node-nfs:lepton-shared-fs", "mount_path": "/data"} in spec["mounts"]
    assert env_of(spec)["NEMO_EVALUATOR_DATASET_DIR"] == "/data"


def test_launcher_defaults_and_unsupported_features_give_one_line_each(tmp_path) -> None:
    local = """
    defaults:
      - execution: local
      - deployment: mock
    auxiliary_deployments: {}
    export:
      mlflow:
        tracking_uri: http://127.0.0.1:5000
    execution:
      mode: sequential
      extra_docker_args: --shm-size 1g
      endpoint_readiness_timeout: 42
      mounts:
        deployment:
          /models: /checkpoint
      auto_export:
        destinations: [mlflow]
    evaluation:
      tasks:
        - name: nimctl.smoke
    """
    loaded = load_one(write(tmp_path, local))
    warnings = {w.key_path: w.message for w in loaded.warnings}
    assert set(warnings) == {
        "execution.mode",
        "execution.extra_docker_args",
        "execution.mounts",
    }
    assert warnings["execution.mounts"].startswith("not supported on local")
    [stack] = build_stacks([loaded])
    assert stack.endpoint.readiness_timeout_s == 42
    assert stack.endpoint.readiness_timeout_key == "execution.endpoint_readiness_timeout"
    judge = write(
        tmp_path,
        local.replace("auxiliary_deployments: {}", "auxiliary_deployments: {judge: {type: vllm}}"),
        name="j.yaml",
    )
    [error] = errors_of(judge)
    assert error.key_path == "auxiliary_deployments" and "not supported by nimctl" in error.message


def test_the_wrapper_script_resolves_runtime_values_and_runs_the_pre_command_in_the_container(tmp_path) -> None:
    import subprocess

    from nimctl.stack.specs.scripts import wrapped_command

    env = {
        "PATH": "/usr/bin:/bin",
        "SOURCE_VAR": "it's $(not run) `either`",
        "NIMCTL_RUNTIME_ENV": "TARGET=SOURCE_VAR\nEMPTY=UNSET_VAR",
        "NIMCTL_SERVER_PRE_CMD": f"echo pre > {tmp_path}/pre.txt",
    }
    argv = wrapped_command(["/bin/sh", "-c", 'printf "%s|%s" "$TARGET" "${EMPTY-unset}"'])
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    assert done.stdout == "it's $(not run) `either`|"
    assert (tmp_path / "pre.txt").read_text() == "pre\n"


def test_an_override_through_a_value_that_is_not_a_mapping_is_reported(tmp_path) -> None:
    path = write(
        tmp_path,
        LEPTON_NIM,
        """
        evaluation:
          nemo_evaluator_config:
            config:
              params:
                temperature: 0.1
                stop: [a, b]
          tasks:
            - name: lm-evaluation-harness.ifeval
              overrides:
                config.params.temperature.x: 1
                config.params.stop.0: c
                config..x: 2
                config.params.extra.n: 3
        """,
    )
    with pytest.raises(ConfigError) as caught:
        stack_of(path)
    messages = sorted((p.key_path, p.message) for p in caught.value.problems)
    assert messages == [
        (
            "evaluation.tasks.0.overrides.config..x",
            "'config..x' is not a dotted key path",
        ),
        (
            "evaluation.tasks.0.overrides.config.params.stop.0",
            "cannot set config.params.stop.0: config.params.stop is not a mapping in the run config",
        ),
        (
            "evaluation.tasks.0.overrides.config.params.temperature.x",
            "cannot set config.params.temperature.x: config.params.temperature is not a mapping in the run config",
        ),
    ]
