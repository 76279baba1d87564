"""Composed configs for the stack tests, as plain dicts shaped like what
``nimctl.config.loader.load_configs`` produces from the bundled groups (``seed_config``: the
seed's Complete Example; ``local_mock_config``; ``lepton_execution``), ``Loaded``, a
loaded-config stand-in, ``build``, which runs the real ``build_stacks`` on one of them, and
``EXPECTED_SPEC``, the Lepton deployment spec the seed's endpoint builds to."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from nimctl.stack.builder import build_stacks
from nimctl.stack.resources import Stack

NIM_ENDPOINTS = {
    "chat": "/v1/chat/completions",
    "completions": "/v1/completions",
    "health": "/v1/health/ready",
    "embedding": "/v1/embeddings",
    "ranking": "/v1/ranking",
}


@dataclass
class Loaded:
    """The fields of nimctl.config.loaded.LoadedConfig that build_stacks reads."""

    path: str
    stack_name: str
    config: dict[str, Any]
    warnings: list[Any] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)

    def locate(self, key_path: str) -> tuple[str, int | None, int | None]:
        return self.path, self.lines.get(key_path), 1 if key_path in self.lines else None


def lepton_execution() -> dict[str, Any]:
    return {
        "type": "lepton",
        "output_dir": "results",
        "destroy_after": False,
        "evaluation_tasks": {"resource_shape": "cpu.small"},
        "lepton_platform": {
            "deployment": {
                "endpoint_readiness_timeout": 1200,
                "platform_defaults": {"health": {"readiness": {}, "liveness": {}}, "log": {"enable_collection": True}},
            },
            "tasks": {"env_vars": {}, "mounts": [], "image_pull_secrets": []},
        },
    }


def seed_config() -> dict[str, Any]:
    """The seed document's Complete Example, composed with execution lepton/default + deployment nim."""
    execution = lepton_execution()
    execution["output_dir"] = "lepton_nim_llama_3_1_8b_results"
    return {
        "execution": execution,
        "deployment": {
            "type": "nim",
            "image": "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.8.6",
            "served_model_name": "meta/llama-3.1-8b-instruct",
            "port": 8000,
            "endpoints": dict(NIM_ENDPOINTS),
            "lepton_config": {
                "endpoint_name": "llama-3-1-8b",
                "resource_shape": "gpu.1xh200",
                "min_replicas": 1,
                "max_replicas": 3,
                "api_tokens": [{"value_from": {"token_name_ref": "ENDPOINT_API_KEY"}}],
                "envs": {"HF_TOKEN": {"value_from": {"secret_name_ref": "HUGGING_FACE_HUB_TOKEN"}}},
                "mounts": {"enabled": True, "cache_path": "/path/to/model/cache", "mount_path": "/opt/nim/.cache"},
            },
        },
        "evaluation": {"tasks": [{"name": "ifeval"}]},
    }


def local_mock_config() -> dict[str, Any]:
    import sys

    return {
        "execution": {
            "type": "local",
            "output_dir": "results",
            "destroy_after": False,
            "local": {"readiness_timeout": 300},
        },
        "deployment": {
            "type": "mock",
            "served_model_name": "mock-model",
            "port": "auto",
            "endpoints": {
                "chat": "/v1/chat/completions",
                "completions": "/v1/completions",
                "health": "/v1/health/ready",
            },
            "command": [
                sys.executable,
                "-m",
                "nimctl.offline.mock_server",
                "--port",
                "{port}",
                "--served-model-name",
                "mock-model",
            ],
        },
        "evaluation": {"tasks": [{"name": "nimctl.smoke", "params": {"max_tokens": 8}}, {"name": "nimctl.perf"}]},
    }


def build(config: dict[str, Any], stack: str = "demo", path: str = "demo.yaml") -> Stack:
    return build_stacks([Loaded(path, stack, copy.deepcopy(config))])[0]


# The seed's endpoint as a Lepton deployment spec, in the layers' order (what the stack tests and
# the examples' tests compare with).
EXPECTED_SPEC = {
    "health": {"readiness": {}, "liveness": {}},
    "log": {"enable_collection": True},
    "container": {"image": "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.8.6", "ports": [{"container_port": 8000}]},
    "resource_requirement": {"resource_shape": "gpu.1xh200", "min_replicas": 1, "max_replicas": 3},
    # nimctl's platform-side bound (nimctl.stack.lifetime): Lepton's API applies none of its own
    "auto_scaler": {"scale_down": {"no_traffic_timeout": 3600, "not_ready_timeout": 3600}},
    "envs": [
        {"name": "HF_TOKEN", "value_from": {"secret_name_ref": "HUGGING_FACE_HUB_TOKEN"}},
        {"name": "SERVED_MODEL_NAME", "value": "meta/llama-3.1-8b-instruct"},
        {"name": "NIM_MODEL_NAME", "value": "meta/llama-3.1-8b-instruct"},
        {"name": "MODEL_PORT", "value": "8000"},
    ],
    "mounts": [{"path": "/path/to/model/cache", "from": "node-nfs:lepton-shared-fs", "mount_path": "/opt/nim/.cache"}],
    "api_tokens": [{"value_from": {"token_name_ref": "ENDPOINT_API_KEY"}}],
}
