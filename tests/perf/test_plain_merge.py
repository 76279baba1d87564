"""The OmegaConf-free merge used for configs without interpolation gives exactly what OmegaConf's
merge gives (the slow path stays the reference)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from nimctl.config.merge import plain_merge

KEYS = st.sampled_from(["a", "b", "c", "image", "tasks", "lepton_config"])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False, width=32),
    st.sampled_from(["x", "", "???", "yes", "1"]),
)
TREES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=12,
)
LAYERS = st.lists(st.dictionaries(KEYS, TREES, max_size=4), min_size=1, max_size=4)


def omegaconf_merge(layers: list[dict[str, Any]]) -> Any:
    try:
        merged = OmegaConf.merge(OmegaConf.create({}), *[OmegaConf.create(layer) for layer in layers])
    except Exception:
        return None  # OmegaConf refuses (a list over a mapping or the reverse)
    return OmegaConf.to_container(merged, resolve=True, throw_on_missing=False)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(LAYERS)
def test_plain_merge_equals_omegaconf(layers: list[dict[str, Any]]) -> None:
    expected = omegaconf_merge(layers)
    got = plain_merge(layers)
    if got is None:  # the fast path declined: only when OmegaConf would have to report a conflict
        assert expected is None
        return
    assert expected is not None
    assert list(got.items()) == list(expected.items())  # values and key order
    assert repr(got) == repr(expected)  # nested order too


def test_plain_merge_leaves_layers_untouched() -> None:
    base = {"deployment": {"image": "???", "endpoints": {"chat": "/v1/chat"}}}
    user = {"deployment": {"image": "nim:1", "endpoints": {"health": "/h"}}}
    merged = plain_merge([base, user])
    assert merged == {"deployment": {"image": "nim:1", "endpoints": {"chat": "/v1/chat", "health": "/h"}}}
    merged["deployment"]["endpoints"]["chat"] = "changed"
    assert base == {"deployment": {"image": "???", "endpoints": {"chat": "/v1/chat"}}}


def test_interpolation_or_odd_keys_take_the_omegaconf_path() -> None:
    assert plain_merge([{"a": "${b}"}]) is None
    assert plain_merge([{"a": [{"b": "x-${oc.env:HOME}"}]}]) is None
    assert plain_merge([{1: "x"}]) is None
