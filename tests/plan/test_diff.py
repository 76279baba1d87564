"""Field diffs, drift projection, and which fields update in place."""

from __future__ import annotations

import subprocess
import sys

from nimctl.plan.actions import updatable_endpoint_fields
from nimctl.plan.diff import diff_specs, drift_fields, is_updatable
from nimctl.providers.capabilities import UPDATABLE_ENDPOINT_FIELDS_BY_PLATFORM

LEPTON = UPDATABLE_ENDPOINT_FIELDS_BY_PLATFORM["lepton"]


def test_named_lists_compare_by_name_not_position():
    old = {"envs": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}
    assert diff_specs(old, {"envs": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]}) == []
    changes = diff_specs(old, {"envs": [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}]})
    assert [(c.path, c.old, c.new, c.kind) for c in changes] == [("envs[B].value", "2", "3", "changed")]


def test_added_and_removed_fields():
    changes = diff_specs({"a": 1, "b": {"c": 2}}, {"b": {"c": 2, "d": [1]}, "e": None})
    assert [(c.path, c.kind) for c in changes] == [("a", "removed"), ("b.d", "added"), ("e", "added")]


def test_replacement_marking_follows_the_updatable_fields():
    old = {
        "resource_requirement": {"min_replicas": 1, "affinity": {"allowed_dedicated_node_groups": ["a"]}},
        "api_tokens": [{"value": "(sensitive:aaaaaaaaaaaa)"}],
        "container": {"image": "x"},
    }
    new = {
        "resource_requirement": {"min_replicas": 2, "affinity": {"allowed_dedicated_node_groups": ["b"]}},
        "api_tokens": [{"value": "(sensitive:bbbbbbbbbbbb)"}],
        "container": {"image": "y"},
    }
    marks = {c.path: c.forces_replacement for c in diff_specs(old, new, updatable=LEPTON)}
    assert marks == {
        "resource_requirement.min_replicas": False,
        "api_tokens[0].value": False,
        "resource_requirement.affinity.allowed_dedicated_node_groups[0]": True,
        "container.image": True,
    }
    assert all(c.forces_replacement for c in diff_specs(old, new, updatable=frozenset()))
    assert not any(c.forces_replacement for c in diff_specs(old, new))  # jobs: no such notion


def test_is_updatable_matches_whole_segments():
    assert is_updatable("auto_scaler.scale_down.no_traffic_timeout", LEPTON)
    assert not is_updatable("auto_scaler_extra", LEPTON)
    assert not is_updatable("resource_requirement.affinity", LEPTON)


def test_drift_ignores_server_populated_fields_and_hidden_secrets():
    applied = {
        "container": {"image": "x", "ports": [{"container_port": 8000}]},
        "api_tokens": [{"value": "(sensitive:aaaaaaaaaaaa)"}],
        "envs": [{"name": "A", "value": "1"}],
    }
    live = {
        "container": {"image": "x", "ports": [{"container_port": 8000, "protocol": "TCP"}]},
        "envs": [{"name": "A", "value": "1"}],
        "queue_config": {"priority_class": "mid"},
        "resource_requirement": {"resource_shape": "cpu.small"},
    }
    assert drift_fields(applied, live) == []
    live["envs"] = [{"name": "A", "value": "2"}, {"name": "EXTRA", "value": "x"}]
    assert [(c.path, c.old, c.new) for c in drift_fields(applied, live)] == [("envs[A].value", "1", "2")]
    live["container"] = {"ports": []}
    assert [c.path for c in drift_fields(applied, live)] == ["container.image", "container.ports[0]", "envs[A].value"]


def test_planner_mirror_equals_each_provider_constant():
    from nimctl.providers.lepton import patch as lepton
    from nimctl.providers.local import provider as local

    assert UPDATABLE_ENDPOINT_FIELDS_BY_PLATFORM["lepton"] == lepton.UPDATABLE_ENDPOINT_FIELDS
    assert UPDATABLE_ENDPOINT_FIELDS_BY_PLATFORM["local"] == local.UPDATABLE_ENDPOINT_FIELDS
    assert updatable_endpoint_fields("lepton") == lepton.UPDATABLE_ENDPOINT_FIELDS


def test_planning_without_refresh_imports_no_sdk(tmp_path):
    from nimctl.state.store import StateStore
    from tests.support.factories import stack
    from tests.support.memory import applied_state

    # applied here, by the real engine (which checks specs with the SDK); planned in a fresh process
    state, _ = applied_state(stack("a", ("ifeval",)))
    StateStore(tmp_path / "s.json").write(state)
    code = (
        "import sys\n"
        "from nimctl.plan.actions import make_plan\n"
        "from nimctl.plan.render import render_text, render_json\n"
        "from nimctl.plan.planfile import save_plan\n"
        "from nimctl.state.store import StateStore\n"
        "from tests.support.factories import stack\n"
        f"s = StateStore({str(tmp_path / 's.json')!r}).read()\n"
        "p = make_plan([stack('a', ('ifeval',), max_replicas=9)], s, None, salt=s.lineage)\n"
        "render_text(p); render_json(p)\n"
        "assert p.change('endpoint.a-ep').actions == ['update']\n"
        "heavy = ('leptonai', 'httpx', 'requests', 'rich', 'fastapi', 'uvicorn')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=__file__.rsplit("/tests/", 1)[0]
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
