"""The ownership marker: encodings, parsing back, and that the planner never sees it."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from nimctl.common.secrets import SECRET_ENV_NAME
from nimctl.config.rules import env_name_problem
from nimctl.plan.refresh import redacted_live_spec
from nimctl.stack import ownership
from nimctl.stack.ownership import Marker

LABEL_KEY = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?)?$")


def marker(**kw: str) -> Marker:
    base = dict(lineage="4f" * 16, state="file:/tmp/s/nimctl.state.json", stack="seed", invocation="78b2" * 4)
    base.update(kw)
    return Marker.new(**base)


def test_lepton_spec_round_trip_and_strip() -> None:
    spec = {"container": {"image": "x"}, "envs": [{"name": "A", "value": "1"}]}
    m = marker()
    sent = ownership.mark(spec, m, local_spec=False)
    assert spec == {"container": {"image": "x"}, "envs": [{"name": "A", "value": "1"}]}  # not mutated
    assert {e["name"] for e in sent["envs"]} >= {"A", "NIMCTL_OWNER_LINEAGE", "NIMCTL_OWNER_INVOCATION"}
    back = ownership.read(sent)
    assert back == m
    assert back.state == "file:/tmp/s/nimctl.state.json" and back.host and back.user and back.created_at
    assert ownership.strip(sent) == spec
    # marking twice replaces the marker instead of stacking a second one
    again = ownership.mark(sent, marker(invocation="1" * 16), local_spec=False)
    assert ownership.read(again).invocation == "1" * 16
    assert len(again["envs"]) == len(sent["envs"])


def test_local_spec_round_trip() -> None:
    spec = {"command": ["x"], "env": {"A": "1"}}
    m = marker()
    sent = ownership.mark(spec, m, local_spec=True)
    assert sent["env"]["NIMCTL_OWNER_STACK"] == "seed"
    assert ownership.read(sent) == m
    assert ownership.strip(sent) == spec
    assert ownership.read(ownership.mark({"command": ["x"]}, m, local_spec=True)) == m


def test_unmarked_objects_have_no_marker() -> None:
    assert ownership.read({"envs": [{"name": "A", "value": "1"}]}) is None
    assert ownership.read({}) is None and ownership.read(None) is None


@given(
    user=st.text(min_size=0, max_size=80),
    host=st.text(min_size=0, max_size=80),
    stack=st.from_regex(r"[a-z][a-z0-9-]{0,35}", fullmatch=True),
)
def test_job_labels_satisfy_the_label_rules(user: str, host: str, stack: str) -> None:
    m = Marker(lineage="ab" * 16, stack=stack, invocation="cd" * 8, user=user, host=host, created_at=1.0e9)
    labels = m.labels()
    assert labels["nimctl-lineage"] == "ab" * 16
    for key, value in labels.items():
        assert "/" not in key and LABEL_KEY.match(key) and len(key) <= 63
        assert LABEL_VALUE.match(value) and len(value) <= 63
    # labels alone (a job whose env was not readable) still identify the lineage
    assert ownership.read({}, labels).lineage == "ab" * 16


def test_the_planner_compares_specs_without_the_marker() -> None:
    spec = {"envs": [{"name": "A", "value": "1"}], "resource_requirement": {"min_replicas": 1}}
    live = ownership.mark(spec, marker(), local_spec=False)
    assert redacted_live_spec(live, "salt") == redacted_live_spec(spec, "salt")


def test_marker_names_are_reserved_and_not_secret() -> None:
    for name in ownership.Marker(
        lineage="x" * 32, state="s", stack="s", invocation="i", user="u", host="h", created_at=1.0, endpoint="e"
    ).env():
        assert env_name_problem(name) is not None
        assert not SECRET_ENV_NAME.search(name)


def test_describe_names_owner_lineage_invocation_and_age() -> None:
    m = Marker(lineage="4f3a" * 8, invocation="78b2" * 4, user="alice", host="ws-3", created_at=1000.0)
    text = m.describe(at=1000.0 + 2 * 3600)
    assert text == "created by alice@ws-3, state lineage 4f3a4f3a…, invocation 78b278b2…, 2 h ago"
