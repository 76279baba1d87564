"""The SDK model check runs where it is worth its cost: cached by digest, never importing leptonai
for local configs or for an offline (--refresh=false) plan."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from nimctl.common.errors import NimctlError
from nimctl.config.loader import load_configs
from nimctl.stack.builder import build_stacks
from nimctl.stack.speccheck import CACHE_FILE, check_lepton_specs, raise_on_problems

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "examples" / "lepton_nim_seed_example.yaml"
LOCAL = REPO / "examples" / "local-quickstart.yaml"
LITERAL = REPO / "examples" / "lepton_literal_token.yaml"


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("NIMCTL_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / CACHE_FILE


def stacks(*paths: Path) -> list:
    return build_stacks(load_configs([str(p) for p in paths]))


def in_fresh_process(code: str, cache_dir: Path) -> dict:
    """Run ``code`` (which sets ``result``) in a new interpreter; also report whether it imported leptonai."""
    probe = (
        f"import os, sys, json\nos.environ['NIMCTL_CACHE_DIR'] = {str(cache_dir)!r}\n{code}\n"
        "print(json.dumps({'result': result, 'leptonai': 'leptonai' in sys.modules}))"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


CHECK = (
    "from nimctl.config.loader import load_configs\nfrom nimctl.stack.builder import build_stacks\n"
    "from nimctl.stack.speccheck import check_lepton_specs\n"
    "o = check_lepton_specs(build_stacks(load_configs([{path!r}])), may_import_sdk={may})\n"
    "result = [o.checked, o.remembered, o.unchecked, o.problems]"
)


def test_seed_is_checked_once_then_remembered_without_importing_the_sdk(cache: Path) -> None:
    first = check_lepton_specs(stacks(SEED), may_import_sdk=True)
    assert (first.checked, first.remembered, first.unchecked, first.problems) == (2, 0, 0, [])
    assert cache.exists() and oct(cache.stat().st_mode & 0o777) == "0o600"
    again = in_fresh_process(CHECK.format(path=str(SEED), may=True), cache.parent)
    assert again == {"result": [0, 2, 0, []], "leptonai": False}


def test_offline_plan_counts_unchecked_specs_and_never_imports_the_sdk(cache: Path) -> None:
    offline = in_fresh_process(CHECK.format(path=str(SEED), may=False), cache.parent)
    assert offline == {"result": [0, 0, 2, []], "leptonai": False}
    assert not cache.exists()


def test_local_configs_never_import_the_sdk(cache: Path) -> None:
    local = in_fresh_process(CHECK.format(path=str(LOCAL), may=True), cache.parent)
    assert local == {"result": [0, 0, 0, []], "leptonai": False}


def test_a_spec_the_sdk_rejects_is_reported_every_time_and_never_remembered(cache: Path) -> None:
    [stack] = stacks(SEED)
    spec = {**stack.endpoint.spec, "scale_from_zero": True}
    bad = dataclasses.replace(stack, endpoint=dataclasses.replace(stack.endpoint, spec=spec))
    for round_ in range(2):
        outcome = check_lepton_specs([bad], may_import_sdk=True)
        # the job passes and is remembered after the first round; the endpoint is checked every time
        assert (outcome.checked, outcome.remembered) == ((2, 0) if round_ == 0 else (1, 1))
        assert any("scale_from_zero is not part of the Lepton API" in p for p in outcome.problems)
        with pytest.raises(NimctlError, match="does not parse in the Lepton SDK's models"):
            raise_on_problems(outcome)
    # a changed spec is a new digest: checked again
    assert check_lepton_specs(stacks(SEED), may_import_sdk=True).checked == 1


def test_the_cache_holds_digests_only_never_a_literal_token(cache: Path) -> None:
    text = LITERAL.read_text()
    assert check_lepton_specs(stacks(LITERAL), may_import_sdk=True).problems == []
    stored = cache.read_text()
    literals = [
        line.split(":", 1)[1].strip().strip("'\"")
        for line in text.splitlines()
        if line.strip().startswith("- value:") or line.strip().startswith("value:")
    ]
    assert literals and all(value not in stored for value in literals if len(value) >= 8)


def test_a_damaged_or_foreign_cache_is_ignored(cache: Path) -> None:
    cache.parent.mkdir(parents=True)
    cache.write_text("{not json")
    assert check_lepton_specs(stacks(SEED), may_import_sdk=True).checked == 2
    data = json.loads(cache.read_text())
    cache.write_text(json.dumps({**data, "scope": "leptonai 0.0.1; check 1"}))  # another SDK: its verdicts do not count
    assert check_lepton_specs(stacks(SEED), may_import_sdk=False).unchecked == 2
