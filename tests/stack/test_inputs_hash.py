"""The inputs hash: stable under key order, changed by what changes results, and only by that."""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.stack_configs import build, local_mock_config, seed_config


def shuffled(node: Any, rng: random.Random) -> Any:
    """The same data with every mapping's keys in another order (lists keep theirs)."""
    if isinstance(node, dict):
        keys = list(node)
        rng.shuffle(keys)
        return {k: shuffled(node[k], rng) for k in keys}
    if isinstance(node, list):
        return [shuffled(v, rng) for v in node]
    return node


def rich_config() -> dict:
    config = seed_config()
    config["deployment"]["lepton_config"]["envs"].update({"A": "1", "B": "2", "NIM_X": "y"})
    config["evaluation"]["nemo_evaluator_config"] = {"config": {"params": {"parallelism": 4, "extra": {"a": 1}}}}
    config["evaluation"]["tasks"] = [
        {
            "name": "ifeval",
            "env_vars": {"X": "1", "Y": "2"},
            "nemo_evaluator_config": {"config": {"params": {"limit_samples": 5, "temperature": 0}}},
        },
        {"name": "gsm8k"},
    ]
    config["execution"]["lepton_platform"]["tasks"]["env_vars"] = {
        "P": "1",
        "Q": {"value_from": {"secret_name_ref": "S"}},
    }
    return config


def hashes(config: dict) -> list[str]:
    return [job.inputs_hash for job in build(config).jobs]


BASE = hashes(rich_config())


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32))
def test_key_order_never_changes_the_hash(seed: int) -> None:
    assert hashes(shuffled(rich_config(), random.Random(seed))) == BASE


def test_hash_is_sha256_hex_and_differs_per_task() -> None:
    assert all(len(h) == 64 and int(h, 16) >= 0 for h in BASE)
    assert BASE[0] != BASE[1]


def edit(path: str, value: Any) -> Callable[[dict], None]:
    def apply(config: dict) -> None:
        node = config
        *parents, last = path.split(".")
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        node[last] = value

    return apply


MODEL_AFFECTING = {
    "image": edit("deployment.image", "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.9.0"),
    "served name": edit("deployment.served_model_name", "meta/other"),
    "server command": edit("deployment.command", ["/opt/nim/start_server.sh", "--max-len", "4096"]),
    "endpoint env": edit("deployment.lepton_config.envs.NIM_X", "z"),
    "endpoint env source": edit("deployment.lepton_config.envs.HF_TOKEN", {"value_from": {"secret_name_ref": "OTHER"}}),
    "global params": edit("evaluation.nemo_evaluator_config.config.params.parallelism", 8),
    "task params": edit("evaluation.tasks.0.nemo_evaluator_config.config.params.limit_samples", 6),
    "task env": edit("evaluation.tasks.0.env_vars.X", "2"),
    "shared env": edit("execution.lepton_platform.tasks.env_vars.P", "2"),
    "container": edit("evaluation.tasks.0.container", "nvcr.io/nvidia/eval-factory/lm-evaluation-harness:25.11"),
    "endpoint type": edit("evaluation.tasks.0.endpoint_type", "completions"),
    "api key name": edit("target.api_endpoint.api_key_name", "OTHER_API_KEY"),
}

NOT_MODEL_AFFECTING = {
    "replicas": edit("deployment.lepton_config.max_replicas", 8),
    "min replicas": edit("deployment.lepton_config.min_replicas", 0),
    "autoscaler": edit("deployment.lepton_config.auto_scaler", {"scale_down": {"no_traffic_timeout": 60}}),
    "endpoint name": edit("deployment.lepton_config.endpoint_name", "renamed"),
    "gpu shape": edit("deployment.lepton_config.resource_shape", "gpu.8xh200"),
    "readiness timeout": edit("execution.lepton_platform.deployment.endpoint_readiness_timeout", 60),
    "job shape": edit("execution.evaluation_tasks.resource_shape", "cpu.large"),
    "output dir": edit("execution.output_dir", "elsewhere"),
    "cache mount": edit("deployment.lepton_config.mounts.cache_path", "/other/cache"),
    "token source": edit("deployment.lepton_config.api_tokens", [{"value_from": {"token_name_ref": "OTHER"}}]),
    "token literal": edit("deployment.lepton_config.api_tokens", [{"value": "a-literal-token"}]),
    "pull secrets": edit("execution.lepton_platform.tasks.image_pull_secrets", ["regcred"]),
}


@pytest.mark.parametrize("name", sorted(MODEL_AFFECTING))
def test_model_affecting_edits_change_the_hash(name: str) -> None:
    config = rich_config()
    MODEL_AFFECTING[name](config)
    assert hashes(config)[0] != BASE[0]


@pytest.mark.parametrize("name", sorted(NOT_MODEL_AFFECTING))
def test_other_edits_keep_the_hash(name: str) -> None:
    config = rich_config()
    NOT_MODEL_AFFECTING[name](config)
    assert hashes(config) == BASE


def test_editing_one_task_leaves_the_other_alone() -> None:
    config = rich_config()
    MODEL_AFFECTING["task params"](config)
    changed = hashes(config)
    assert changed[0] != BASE[0] and changed[1] == BASE[1]


def test_literal_secret_env_values_are_not_hashed() -> None:
    first, second = rich_config(), rich_config()
    first["evaluation"]["tasks"][0]["env_vars"]["HF_TOKEN"] = "hf_aaaa"
    second["evaluation"]["tasks"][0]["env_vars"]["HF_TOKEN"] = "hf_bbbb"
    assert hashes(first) == hashes(second)


def test_local_hash_does_not_depend_on_the_python_path(monkeypatch: pytest.MonkeyPatch) -> None:
    here = local_mock_config()
    monkeypatch.setattr("sys.executable", "/elsewhere/venv/bin/python")
    there = local_mock_config()  # the mock group's command starts with sys.executable
    assert there["deployment"]["command"][0] == "/elsewhere/venv/bin/python" != here["deployment"]["command"][0]
    elsewhere = hashes(there)
    monkeypatch.undo()
    assert hashes(here) == elsewhere
    moved = copy.deepcopy(here)
    moved["deployment"]["command"][2] = "nimctl.other_server"
    assert hashes(moved) != hashes(here)
