"""The examples through the real loader (nimctl.config.loader.load_configs) into stacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nimctl.common.errors import ConfigError
from nimctl.common.secrets import redact_spec
from nimctl.config.loader import load_configs
from nimctl.stack.builder import build_stacks, redact_stack_dict, render_job_spec
from nimctl.stack.resources import Stack
from tests.support.stack_configs import EXPECTED_SPEC

SEED = "examples/lepton_nim_seed_example.yaml"


def load(*paths: str, overrides: tuple[str, ...] = ()) -> list[Stack]:
    return build_stacks(load_configs(list(paths), overrides))


def test_seed_example_is_the_seed_documents_complete_example_verbatim() -> None:
    seed = Path("/work/shared/seed/nim-deployment.md")
    if not seed.exists():
        pytest.skip("seed document not available")
    text = seed.read_text()
    block = text[text.index("## Complete Example") :]
    block = block[block.index("```yaml\n") + len("```yaml\n") :]
    assert Path(SEED).read_text() == block[: block.index("```")]


def test_seed_example_builds_the_expected_endpoint_spec() -> None:
    [stack] = load(SEED)
    assert stack.name == "llama-3-1-8b" and stack.platform == "lepton"
    assert stack.output_dir == "lepton_nim_llama_3_1_8b_results"
    assert stack.endpoint.spec == EXPECTED_SPEC
    [job] = stack.jobs
    assert job.address == "job.llama-3-1-8b.ifeval"
    assert job.resolved_task == "lm-evaluation-harness.ifeval"
    assert job.notes[0].startswith("ifeval resolved to lm-evaluation-harness.ifeval")
    assert {"name": "API_KEY", "value_from": {"secret_name_ref": "ENDPOINT_API_KEY"}} in job.spec_template["envs"]
    assert stack.warnings == ()


def test_overrides_flow_into_the_spec() -> None:
    [stack] = load(
        SEED,
        overrides=("deployment.lepton_config.max_replicas=5", "execution.lepton_platform.deployment.node_group=ng-abc"),
    )
    requirement = stack.endpoint.spec["resource_requirement"]
    assert requirement["max_replicas"] == 5
    assert requirement["affinity"] == {"allowed_dedicated_node_groups": ["ng-abc"]}


def test_every_example_builds() -> None:
    stacks = load("examples")
    by_name = {s.name: s for s in stacks}
    assert set(by_name) == {
        "llama-3-1-8b",
        "llama-3-1-8b-autoscale",
        "llama-3-1-8b-literal",
        "llama-3-1-8b-multi",
        "local-quickstart",
        "local-real-model",
        "local-vllm",
    }
    assert len(by_name["llama-3-1-8b-multi"].jobs) == 5
    assert by_name["llama-3-1-8b-autoscale"].endpoint.spec["auto_scaler"] == {
        "scale_down": {"no_traffic_timeout": 3600, "not_ready_timeout": 3600},
        "target_gpu_utilization_percentage": 0,
        "target_throughput": {"qpm": 2.5},
    }
    quick = by_name["local-quickstart"]
    assert quick.platform == "local" and quick.endpoint.spec["port"] is None
    assert [j.resolved_task for j in quick.jobs] == ["nimctl.smoke", "nimctl.perf"]
    vllm = by_name["local-vllm"].endpoint
    assert vllm.spec["command"][:2] == ["vllm", "serve"] and "{port}" in vllm.spec["command"]
    assert vllm.readiness_timeout_s == 900.0
    multi = by_name["llama-3-1-8b-multi"]
    for job in multi.jobs:
        _, spec = render_job_spec(job, invocation_id="0123456789abcdef", endpoint_url="https://e.example")
        assert spec["mounts"][0]["path"] == "/nimctl-workspace/0123456789abcdef"
        assert {"name": "HF_TOKEN", "value_from": {"secret_name_ref": "HUGGING_FACE_HUB_TOKEN"}} in spec["envs"]


def test_literal_token_example_never_shows_its_token() -> None:
    [stack] = load("examples/lepton_literal_token.yaml")
    token = "replace-with-a-long-random-endpoint-token"
    assert stack.endpoint.spec["api_tokens"] == [{"value": token}]
    assert token not in json.dumps(redact_stack_dict(stack, "salt"))
    _, spec = render_job_spec(stack.jobs[0], invocation_id="0123456789abcdef", endpoint_url="https://e.example")
    assert {"name": "API_KEY", "value": token} in spec["envs"]
    assert token not in json.dumps(redact_spec(spec, "salt"))


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_unknown_task_is_located_in_the_file(tmp_path: Path) -> None:
    text = Path(SEED).read_text().replace("- name: ifeval", "- name: ifevl")
    path = write(tmp_path, "typo.yaml", text)
    with pytest.raises(ConfigError) as caught:
        load(path)
    [problem] = caught.value.problems
    line = text.splitlines().index("    - name: ifevl") + 1
    assert (problem.file, problem.key_path, problem.line) == (path, "evaluation.tasks.0.name", line)
    assert "did you mean ifeval" in problem.render()


def test_ambiguous_task_is_located_and_lists_harnesses(tmp_path: Path) -> None:
    path = write(tmp_path, "amb.yaml", Path(SEED).read_text().replace("- name: ifeval", "- name: mmlu"))
    with pytest.raises(ConfigError) as caught:
        load(path)
    rendered = caught.value.problems[0].render()
    assert "lm-evaluation-harness, simple_evals" in rendered
    assert "lm-evaluation-harness.mmlu" in rendered and caught.value.problems[0].line is not None


def test_two_files_with_one_endpoint_name(tmp_path: Path) -> None:
    text = Path(SEED).read_text()
    first = write(tmp_path, "a.yaml", "stack: team-a\n" + text)
    second = write(tmp_path, "b.yaml", "stack: team-b\n" + text)
    with pytest.raises(ConfigError) as caught:
        load(first, second)
    [problem] = caught.value.problems
    assert problem.file == second and problem.key_path == "deployment.lepton_config.endpoint_name"
    assert problem.line == text.splitlines().index("    endpoint_name: llama-3-1-8b") + 2  # +1 for `stack:`


def test_two_stacks_sharing_tasks_get_distinct_job_names(tmp_path: Path) -> None:
    text = Path(SEED).read_text()
    first = write(tmp_path, "a.yaml", "stack: team-a\n" + text)
    second = write(
        tmp_path, "b.yaml", "stack: team-b\n" + text.replace("endpoint_name: llama-3-1-8b", "endpoint_name: llama-b")
    )
    from nimctl.stack.builder import job_name

    stacks = load(first, second)
    names = {job_name(s.jobs[0], "0123456789abcdef") for s in stacks}
    assert len(names) == 2
