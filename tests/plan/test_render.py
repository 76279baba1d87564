"""Text rendering (golden files), the --json document (against its schema), colour, and secrets."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest

from nimctl.plan.render import render_json, render_json_text, render_text
from tests.support.plans import PLANTED, SCENARIOS

GOLDEN = Path(__file__).parent / "golden"
SCHEMA = Path(__file__).resolve().parents[2] / "nimctl" / "schemas" / "nimctl-plan.schema.json"
UPDATE = os.environ.get("NIMCTL_UPDATE_GOLDEN") == "1"  # regenerate: NIMCTL_UPDATE_GOLDEN=1 pytest tests/plan


@pytest.fixture(autouse=True)
def _no_color_env(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_text_matches_golden(name):
    text = render_text(SCENARIOS[name](), color=False) + "\n"
    path = GOLDEN / f"{name}.txt"
    if UPDATE:
        path.write_text(text)
    assert text == path.read_text(), f"rendering changed; review, then regenerate with NIMCTL_UPDATE_GOLDEN=1 ({path})"


def test_golden_texts_show_the_terraform_markers():
    update = render_text(SCENARIOS["update_replace_delete"](), color=False)
    assert '  ~ endpoint "llama-ep" {' in update
    assert '-/+ endpoint "qwen-ep" {' in update
    assert '  - endpoint "old-ep" {' in update
    assert "resource_requirement.max_replicas = 3 -> 5" in update
    assert "# forces replacement" in update
    assert "api_tokens[0].value               = (sensitive) -> (sensitive)" in update
    assert update.endswith("Plan: 0 to add, 1 to change, 1 to replace, 2 to destroy, 1 jobs to run.")
    drift = render_text(SCENARIOS["drift_and_pending"](), color=False)
    assert "Changed outside nimctl:" in drift and "An interrupted run left unfinished operations:" in drift
    assert "endpoint.qwen-ep has been deleted outside nimctl" in drift
    assert "(known after apply)" in render_text(SCENARIOS["create"](), color=False)
    assert render_text(SCENARIOS["no_changes"](), color=False).endswith(
        "No changes. The platform matches the configuration."
    )


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_json_is_one_document_valid_against_the_schema(name, validator):
    text = render_json_text(SCENARIOS[name]())
    document = json.loads(text)  # exactly one JSON value (json.loads rejects trailing data)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)
    assert document["format_version"] == "1.0"


def test_seed_example_json_has_the_exact_spec(validator, tmp_path):
    from nimctl.cli.context import load_stacks
    from nimctl.cli.ui import UI
    from nimctl.plan.actions import make_plan
    from nimctl.state.model import State

    seed = Path(__file__).resolve().parents[2] / "examples" / "lepton_nim_seed_example.yaml"
    (stack,) = load_stacks([str(seed)], [], UI(quiet=True))
    state = State()
    document = render_json(make_plan([stack], state, None, salt=state.lineage))
    assert not list(validator.iter_errors(document))
    endpoint = document["resource_changes"][0]
    assert (endpoint["address"], endpoint["actions"]) == ("endpoint.llama-3-1-8b", ["create"])
    assert endpoint["after"]["spec"] == stack.endpoint.spec  # no literal secret here: sent as is
    job = document["resource_changes"][1]
    assert (job["address"], job["actions"], job["name"]) == ("job.llama-3-1-8b.ifeval", ["create"], None)
    assert job["after"]["spec"]["container"]["image"].startswith("nvcr.io/nvidia/eval-factory/")


def test_colour_only_when_asked():
    plan = SCENARIOS["update_replace_delete"]()
    assert "\x1b[" in render_text(plan, color=True)
    assert "\x1b[" not in render_text(plan, color=False)
    assert "\x1b[" not in render_text(plan)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_planted_secret_never_printed(name):
    plan = SCENARIOS[name]()
    for text in (
        render_text(plan, color=False),
        render_text(plan, color=True),
        render_json_text(plan),
        json.dumps(plan.to_dict()),
        repr(plan),
    ):
        assert PLANTED not in text


def _longest_script_line(plan) -> str:
    """The longest line of the multi-line strings every job spec holds (the runner script)."""
    from nimctl.plan.canonical import flatten, normalise
    from nimctl.plan.render import _yaml_mapping

    jobs = [c for c in plan.resource_changes if c.type == "job"]
    scripts = [
        {
            v
            for _, v in flatten(normalise(c.after["spec"]))
            if isinstance(v, str) and "\n" in v and _yaml_mapping(v) is None
        }
        for c in jobs
    ]
    (script,) = set.intersection(*scripts)
    return max(script.split("\n"), key=len).strip()


def test_five_task_plan_shows_the_shared_script_once_and_each_job_short():
    plan = SCENARIOS["five_tasks"]()
    short, full = render_text(plan, color=False), render_text(plan, color=False, verbose=True)
    line = _longest_script_line(plan)
    assert short.count(line) == 1 and full.count(line) == 5
    assert len(short.splitlines()) < len(full.splitlines()) / 2
    assert '+ job "llama-3-1-8b-multi.*" {' in short and "the 5 jobs of stack llama-3-1-8b-multi" in short
    assert "*" not in "".join(line for line in full.splitlines() if line.lstrip().startswith("+ job"))
    for job in (c for c in plan.resource_changes if c.type == "job"):
        block = short.split(f'+ job "{job.address.split(".", 1)[1]}" {{', 1)[1].split("\n    }", 1)[0]
        assert job.after["spec"]["container"]["image"] in block  # what differs is in the job's own block
        assert len(block.splitlines()) < 20


def test_grouping_loses_no_field():
    from nimctl.plan.render import _job_groups, _rows, _spec_rows

    plan = SCENARIOS["five_tasks"]("evaluation.tasks.1.env_vars.EXTRA_FLAG=x1")
    jobs = [c for c in plan.resource_changes if c.type == "job"]
    groups = _job_groups(jobs)
    assert len({id(g) for g in groups.values()}) == 1 and set(groups) == {j.address for j in jobs}
    for job in jobs:
        group = groups[job.address]
        own = {r.key for r in _rows(job, shared=group.shared)}
        whole = {r.key for r in _spec_rows(job.after["spec"], documents=True)}
        assert whole <= own | group.shared and not (own & group.shared)
    text = render_text(plan, color=False)
    gsm8k = text.split('+ job "llama-3-1-8b-multi.gsm8k" {', 1)[1].split("\n    }", 1)[0]
    assert "envs[EXTRA_FLAG].value" in gsm8k and text.count("EXTRA_FLAG") == 1  # an env only one job has
