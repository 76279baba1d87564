"""Lepton provider pieces that need no server: credentials, spec checks, update patches."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from leptonai.api.v2.types.deployment import LeptonDeploymentUserSpec

from nimctl.plan.diff import is_updatable
from nimctl.providers.base import Rejected
from nimctl.providers.lepton.patch import UPDATABLE_ENDPOINT_FIELDS, update_patch
from nimctl.providers.lepton.provider import LeptonProvider
from nimctl.providers.lepton.translate import spec_matches
from nimctl.providers.registry import get_provider
from nimctl.providers.retry import RetryPolicy

NO_LEPTON_ENV = {k: v for k, v in os.environ.items() if not k.startswith("LEPTON_")}


def run_isolated(code: str, tmp_path, extra_env=None) -> subprocess.CompletedProcess:
    """Run in a fresh interpreter with an empty `lep login` cache (the SDK reads it at import)."""
    env = dict(NO_LEPTON_ENV, LEPTON_CACHE_DIR=str(tmp_path / "lepton-cache"), **(extra_env or {}))
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=60
    )


CREDENTIAL_PROBE = """
    from nimctl.providers.lepton.provider import LeptonProvider
    from nimctl.providers.base import Unauthorized
    try:
        LeptonProvider().list_endpoints()
    except Unauthorized as e:
        print("MESSAGE:", e.message)
        print("HINT:", e.hint)
"""


def test_no_credentials_at_all_gives_a_login_hint(tmp_path):
    out = run_isolated(CREDENTIAL_PROBE, tmp_path)
    assert out.returncode == 0, out.stderr
    assert "no Lepton credentials found" in out.stdout
    for advice in ("lep login", "LEPTON_WORKSPACE_ID", "LEPTON_WORKSPACE_TOKEN", "nimctl emulator serve"):
        assert advice in out.stdout
    assert "Traceback" not in out.stderr


def test_workspace_without_token_gives_a_login_hint(tmp_path):
    # The SDK raises a bare TypeError here; the provider must turn it into a clear message.
    out = run_isolated(CREDENTIAL_PROBE, tmp_path, {"LEPTON_WORKSPACE_ID": "ws-missing-token"})
    assert out.returncode == 0, out.stderr
    assert "no Lepton token found for workspace ws-missing-token" in out.stdout
    assert "lep login" in out.stdout


def test_credentials_from_arguments_need_no_environment(tmp_path):
    out = run_isolated(
        """
        from nimctl.providers.lepton.provider import LeptonProvider
        c = LeptonProvider(workspace_id="ws9", token="tok", url="http://127.0.0.1:9/api/v2/workspaces/ws9/").client
        print(c.workspace_id, c.url, c.auth_token == "tok")
    """,
        tmp_path,
    )
    assert out.stdout.split() == ["ws9", "http://127.0.0.1:9/api/v2/workspaces/ws9", "True"]


def test_factory_builds_the_lepton_provider_lazily():
    provider = get_provider("lepton", state_dir="unused")
    assert isinstance(provider, LeptonProvider) and provider.name == "lepton"
    assert provider._client_obj is None  # no client (and no credential lookup) until first use
    with pytest.raises(Exception, match="unknown platform"):
        get_provider("mars", state_dir="unused")


# -- specs the SDK refuses are Rejected before any request ------------------------------------------


def offline_provider() -> LeptonProvider:
    # Never contacted: the spec is refused while building the request.
    return LeptonProvider(workspace_id="ws", token="t", url="http://127.0.0.1:9", retry=RetryPolicy(max_attempts=1))


def test_max_replicas_without_min_is_rejected_clearly():
    with pytest.raises(Rejected, match="needs both min_replicas and max_replicas"):
        offline_provider().create_endpoint("ep", {"resource_requirement": {"max_replicas": 2}})


def test_invalid_field_values_are_rejected_naming_the_field_without_the_value():
    spec = {
        "container": {"image": "x", "ports": [{"container_port": 70000}]},
        "api_tokens": [{"value": "super-secret-token"}],
    }
    with pytest.raises(Rejected) as info:
        offline_provider().create_endpoint("ep", spec)
    assert "container.ports.0.container_port" in str(info.value)
    assert "super-secret-token" not in str(info.value)


def test_invalid_job_name_is_rejected_by_the_sdk_check():
    with pytest.raises(Rejected, match="Job name"):
        offline_provider().submit_job("Bad_Name", {"container": {"image": "x", "command": ["true"]}})


# -- spec comparison (adopt vs conflict) -------------------------------------------------------------

SENT = {
    "container": {"image": "nim:1", "ports": [{"container_port": 8000}]},
    "resource_requirement": {"resource_shape": "gpu.a10", "min_replicas": 1, "max_replicas": 1},
    "envs": [{"name": "A", "value": "1"}, {"name": "B", "value_from": {"secret_name_ref": "s"}}],
    "api_tokens": [{"value": "tok"}],
}


def test_server_populated_fields_are_ignored():
    live = {
        "container": {"image": "nim:1", "ports": [{"container_port": 8000, "protocol": "TCP"}]},
        "resource_requirement": {"resource_shape": "gpu.a10", "min_replicas": 1, "max_replicas": 1, "affinity": {}},
        "envs": [{"name": "B", "value_from": {"secret_name_ref": "s"}}, {"name": "A", "value": "1"}],
        "api_tokens": [{"value": "***"}],
        "log": {"enable_collection": True},
    }
    assert spec_matches(SENT, live)


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s["container"].update(image="nim:2"),
        lambda s: s["resource_requirement"].update(max_replicas=3),
        lambda s: s["envs"].pop(),
        lambda s: s["envs"][0].update(value="2"),
        lambda s: s.pop("container"),
        lambda s: s["api_tokens"][0].update(value="other"),
    ],
)
def test_differences_in_what_we_sent_are_detected(change):
    import copy

    live = copy.deepcopy(SENT)
    change(live)
    assert not spec_matches(SENT, live)


def test_tokens_not_echoed_by_the_server_are_skipped():
    live = {k: v for k, v in SENT.items() if k != "api_tokens"}
    assert spec_matches(SENT, live)


# -- in-place updates ---------------------------------------------------------------------------------


def test_updatable_fields_match_the_planners_copy():
    capabilities = pytest.importorskip("nimctl.providers.capabilities")
    assert UPDATABLE_ENDPOINT_FIELDS == capabilities.LEPTON_UPDATABLE_ENDPOINT_FIELDS


def test_updatable_fields_exist_in_the_sdk_model():
    for path in UPDATABLE_ENDPOINT_FIELDS:
        model = LeptonDeploymentUserSpec
        for part in path.split("."):
            assert part in model.model_fields, f"{path}: {part} is not a LeptonDeploymentUserSpec field"
            annotation = model.model_fields[part].annotation
            inner = [a for a in getattr(annotation, "__args__", (annotation,)) if hasattr(a, "model_fields")]
            model = inner[0] if inner else None


@pytest.mark.parametrize(
    "path,updatable",
    [
        ("resource_requirement.min_replicas", True),
        ("resource_requirement.resource_shape", True),
        ("auto_scaler.scale_down.no_traffic_timeout", True),
        ("api_tokens.0.value", True),
        ("container.image", False),  # a new image is a new model server: replace
        ("log.enable_collection", True),
        ("auth_config.ip_allowlist.0", True),
        ("container.command", False),
        ("container.ports.0.container_port", False),
        ("envs", False),
        ("mounts.0.path", False),
        ("resource_requirement.affinity.allowed_dedicated_node_groups", False),
        ("api_tokens_extra", False),
    ],
)
def test_update_vs_replace(path, updatable):
    assert is_updatable(path, UPDATABLE_ENDPOINT_FIELDS) is updatable


def test_update_patch_carries_only_updatable_fields():
    desired = {
        **SENT,
        "container": {"image": "nim:2", "command": ["changed"], "ports": [{"container_port": 1}]},
        "auto_scaler": {"scale_down": {"no_traffic_timeout": 600}},
    }
    live = {
        **SENT,
        "container": {"image": "nim:1", "command": ["serve"], "ports": [{"container_port": 8000}]},
        "auto_scaler": {"scale_down": {"no_traffic_timeout": 60}, "target_gpu_utilization_percentage": 50},
    }
    patch = update_patch(desired, live)
    assert patch == {
        "resource_requirement": {"resource_shape": "gpu.a10", "min_replicas": 1, "max_replicas": 1},
        "auto_scaler": {"scale_down": {"no_traffic_timeout": 600}, "target_gpu_utilization_percentage": 0},
        "api_tokens": [{"value": "tok"}],
        "allow_unauthenticated_access": False,
    }
    LeptonDeploymentUserSpec(**patch)  # the SDK accepts it


def test_update_patch_never_drops_authentication_when_tokens_are_absent():
    patch = update_patch(
        {"resource_requirement": {"min_replicas": 2, "max_replicas": 4}},
        {"api_tokens": [{"value": "***"}], "resource_requirement": {"min_replicas": 1, "max_replicas": 1}},
    )
    assert patch == {"resource_requirement": {"min_replicas": 2, "max_replicas": 4}}


def test_update_patch_sends_min_and_max_together():
    patch = update_patch(
        {"resource_requirement": {"max_replicas": 4}}, {"resource_requirement": {"min_replicas": 2, "max_replicas": 3}}
    )
    assert patch["resource_requirement"] == {"min_replicas": 2, "max_replicas": 4}


def test_damaged_login_record_is_a_clear_error(tmp_path):
    cache = tmp_path / "lepton-cache"
    cache.mkdir()
    (cache / "workspace_info.yaml").write_text("workspaces: [this is: not a mapping\n")
    out = run_isolated(CREDENTIAL_PROBE, tmp_path)
    assert out.returncode == 0, out.stderr
    assert "could not read the Lepton login record" in out.stdout
    assert "lep login" in out.stdout


def test_login_record_is_used_when_nothing_else_is_given(tmp_path):
    cache = tmp_path / "lepton-cache"
    cache.mkdir()
    (cache / "workspace_info.yaml").write_text(
        "current_workspace: wsrec\nworkspaces:\n  wsrec:\n    id: wsrec\n    auth_token: rec-token\n"
        "    url: http://127.0.0.1:9/api/v2/workspaces/wsrec\n"
    )
    out = run_isolated(
        """
        from nimctl.providers.lepton.provider import LeptonProvider
        c = LeptonProvider().client
        print(c.workspace_id, c.url, c.auth_token == "rec-token")
    """,
        tmp_path,
    )
    assert out.stdout.split() == ["wsrec", "http://127.0.0.1:9/api/v2/workspaces/wsrec", "True"], out.stderr
