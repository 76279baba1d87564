"""The seed document's Complete Example validates unchanged, composes to the expected config,
and locates its keys at the right lines; every shipped example validates."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nimctl.config.bundled import GROUPS_DIR
from nimctl.config.loader import load_configs
from tests.support.configs import REPO, SEED, load_one, seed_with

SEED_DOC = Path("/work/shared/seed/nim-deployment.md")

EXPECTED_SEED_CONFIG = {
    "execution": {
        "type": "lepton",
        "output_dir": "lepton_nim_llama_3_1_8b_results",
        "destroy_after": False,
        "evaluation_tasks": {"resource_shape": "cpu.small"},
        "lepton_platform": {
            "deployment": {
                "endpoint_readiness_timeout": 1200,
                "platform_defaults": {"health": {"readiness": {}, "liveness": {}}, "log": {"enable_collection": True}},
            },
            "tasks": {"env_vars": {}, "mounts": [], "image_pull_secrets": []},
        },
    },
    "deployment": {
        "type": "nim",
        "image": "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.8.6",
        "served_model_name": "meta/llama-3.1-8b-instruct",
        "port": 8000,
        "endpoints": {
            "chat": "/v1/chat/completions",
            "completions": "/v1/completions",
            "health": "/v1/health/ready",
            "embedding": "/v1/embeddings",
            "ranking": "/v1/ranking",
        },
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


@pytest.mark.skipif(not SEED_DOC.exists(), reason="the seed document is not on this machine")
def test_fixture_is_the_seed_documents_complete_example_verbatim():
    text = SEED_DOC.read_text(encoding="utf-8")
    block = re.search(r"## Complete Example\s+```yaml\n(.*?)```", text, re.S)
    assert block is not None
    assert SEED.read_text(encoding="utf-8") == block.group(1)


def test_seed_example_validates_with_no_warning_and_composes_as_expected():
    loaded = load_one(str(SEED))
    assert loaded.warnings == []
    assert loaded.stack_name == "llama-3-1-8b"
    assert loaded.config == EXPECTED_SEED_CONFIG


def test_seed_example_keys_are_located_in_the_users_file_or_the_bundled_group():
    loaded = load_one(str(SEED))
    assert loaded.locate("evaluation.tasks.0.name") == (str(SEED), 35, 7)
    assert loaded.locate("deployment.lepton_config.max_replicas") == (str(SEED), 17, 5)
    assert loaded.locate("deployment.lepton_config.envs.HF_TOKEN.value_from.secret_name_ref") == (str(SEED), 26, 11)
    file, line, column = loaded.locate("deployment.port")
    assert file == str(GROUPS_DIR / "deployment" / "nim.yaml")
    assert Path(file).read_text().splitlines()[line - 1].startswith("port: 8000") and column == 1
    file, line, _ = loaded.locate("execution.lepton_platform.deployment.endpoint_readiness_timeout")
    assert file.endswith("execution/lepton/default.yaml")
    assert "endpoint_readiness_timeout: 1200" in Path(file).read_text().splitlines()[line - 1]
    # a path nobody wrote is located at its nearest written parent, else the file itself
    assert loaded.locate("deployment.lepton_config.envs.HF_TOKEN.nothing") == (str(SEED), 24, 7)
    assert loaded.locate("nothing.at.all") == (str(SEED), None, None)


def test_seed_autoscaler_snippet_warns_about_scale_from_zero_and_nothing_else(tmp_path):
    path = seed_with(
        tmp_path,
        "    max_replicas: 3\n",
        """    max_replicas: 3
    auto_scaler:
      scale_down:
        no_traffic_timeout: 3600
        scale_from_zero: false
      target_gpu_utilization_percentage: 0
      target_throughput:
        qpm: 2.5
""",
    )
    loaded = load_one(path)
    assert [(w.key_path, w.line) for w in loaded.warnings] == [
        ("deployment.lepton_config.auto_scaler.scale_down.scale_from_zero", 21)
    ]
    warning = loaded.warnings[0]
    assert warning.severity == "warning"
    assert "the Lepton API has no scale_from_zero; min_replicas: 0 is how to scale to zero" in warning.message
    # accepted, not dropped: the spec builder sees the value and decides (it has no Lepton field)
    assert loaded.config["deployment"]["lepton_config"]["auto_scaler"]["scale_down"]["scale_from_zero"] is False


EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))


@pytest.mark.skipif(not EXAMPLES, reason="no examples/ yet")
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_validates(path):
    [loaded] = load_configs([str(path)])
    for warning in loaded.warnings:  # only the literal-token example is expected to warn
        assert "literal" in path.stem and "written literally" in warning.message
