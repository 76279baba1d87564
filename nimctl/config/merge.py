"""Merge a composition's layers (bundled groups, then the user's file) with OmegaConf's rules.

Takes the layers as (``Source``, plain data) in merge order and the user file's ``Reporter``.
Gives ``plain_merge`` — the merged tree in plain Python, or None when OmegaConf must merge (an
interpolation anywhere, a non-string key, a list over a mapping) — and ``merge_layers`` — the
unresolved OmegaConf merge, with each invalid ``${...}`` and each list-over-mapping conflict
reported at its layer and left out. Rules (OmegaConf's): mappings deep-merge, lists and scalars
replace, ``???`` over a set value keeps the value.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from nimctl.common import keypath
from nimctl.common.secrets import SECRET_CONTAINERS, copy_tree, is_secret_name
from nimctl.config.defaults_list import group_doc
from nimctl.config.lazy_omegaconf import oc
from nimctl.config.sources import Reporter, Source, report_at_source
from nimctl.config.yaml_source import Path, path_str

if TYPE_CHECKING:
    from omegaconf import DictConfig


@lru_cache(maxsize=32)
def _group_layer(group: str, option: str) -> DictConfig:
    """A bundled group as an OmegaConf layer, built once: merging deep-copies what it takes from it."""
    return oc().create({group: group_doc(group, option).data})


MISSING = "???"


def _plain_tree(node: Any) -> bool:
    """Only str-keyed mappings, lists and YAML scalars, with no ``${...}`` anywhere."""
    if isinstance(node, dict):
        return all(isinstance(k, str) and _plain_tree(v) for k, v in node.items())
    if isinstance(node, list):
        return all(_plain_tree(v) for v in node)
    if isinstance(node, str):
        return "${" not in node
    return node is None or isinstance(node, (bool, int, float))


def plain_merge(layers: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The layers merged with OmegaConf's rules, in plain Python, or None when OmegaConf must do it
    (an interpolation anywhere, a key that is not a string, or a list over a mapping or the reverse,
    which OmegaConf refuses and ``merge_layers`` reports). Rules, as ``OmegaConf.merge`` applies
    them: mappings merge key by key (existing keys keep their place, new ones are appended), lists
    and scalars replace, ``???`` over a set value keeps the value. The result shares no containers
    with the layers (the bundled group layers are cached)."""
    if not all(_plain_tree(layer) for layer in layers):
        return None
    merged: dict[str, Any] = {}
    for layer in layers:
        if not _merge_into(merged, layer):
            return None
    return merged


def _merge_into(base: dict[str, Any], over: dict[str, Any]) -> bool:
    for key, value in over.items():
        if key not in base:
            base[key] = copy_tree(value)
            continue
        old = base[key]
        if isinstance(old, dict) and isinstance(value, dict):
            if not _merge_into(old, value):
                return False
        elif (isinstance(old, dict) and isinstance(value, list)) or (isinstance(old, list) and isinstance(value, dict)):
            return False
        elif isinstance(value, str) and value == MISSING:
            continue
        else:
            base[key] = copy_tree(value)
    return True


def _bad_interpolations(data: Any, path: Path, found: list[tuple[Path, str]]) -> None:
    """Strings whose ``${...}`` does not parse, as (the parts of their key path, error). The parts,
    not a dotted string: a key may hold dots (``env_vars: {"a.b": ...}``) and the value is found
    again by them."""
    if isinstance(data, dict):
        for key, value in data.items():
            _bad_interpolations(value, (*path, key), found)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            _bad_interpolations(value, (*path, index), found)
    elif isinstance(data, str) and "${" in data:
        try:
            oc().create({"v": data})
        except Exception as err:
            found.append((path, str(err).splitlines()[0]))


def _may_hold_secret(path: Path) -> bool:
    """Whether a value at this path may be a credential (its text must not appear in messages).
    A key holding dots counts by each dotted piece too, as the dotted path would read."""
    pieces = [piece for part in path for piece in str(part).split(".")]
    return any(p in SECRET_CONTAINERS for p in pieces) or is_secret_name(str(path[-1]) if path else "")


def _to_omegaconf(data: dict[str, Any], source: Source, report: Reporter) -> DictConfig:
    bad: list[tuple[Path, str]] = []
    _bad_interpolations(data, (), bad)
    if bad:
        data = copy.deepcopy(data)
        for path, error in bad:
            detail = "" if _may_hold_secret(path) else f": {error}"
            report_at_source(
                report,
                source,
                path_str(path),
                f"invalid interpolation{detail}",
                "write ${key.path}, ${oc.env:NAME} or ${oc.env:NAME,default}; escape a literal as \\${...}",
            )
            keypath.set_path(data, path, None)
    return oc().create(data)


def _container_conflicts(base: Any, over: Any, path: Path, found: list[Path]) -> None:
    """Key paths (as parts: a key may hold dots) where ``over`` puts a mapping over a list or the
    reverse (OmegaConf cannot merge)."""
    if not (isinstance(base, dict) and isinstance(over, dict)):
        return
    for key, value in over.items():
        if key not in base:
            continue
        old = base[key]
        if (isinstance(old, dict) and isinstance(value, list)) or (isinstance(old, list) and isinstance(value, dict)):
            found.append((*path, key))
        else:
            _container_conflicts(old, value, (*path, key), found)


def merge_layers(layers: list[tuple[Source, dict[str, Any]]], report: Reporter) -> DictConfig:
    """Merge the layers in order with OmegaConf (unresolved)."""
    created = [
        _group_layer(*source.group.split("/", 1)) if source.group else _to_omegaconf(data, source, report)
        for source, data in layers
    ]
    try:
        # merge() copies what it takes from each layer: the cached group layers stay untouched
        return oc().merge(oc().create({}), *created)  # type: ignore[no-any-return]
    except Exception:  # a list over a mapping or the reverse: drop the offending keys, say so
        pass
    merged = oc().create({})
    for (source, data), layer in zip(layers, created, strict=True):
        try:
            merged = oc().merge(merged, layer)
            continue
        except Exception:
            pass
        conflicts: list[Path] = []
        _container_conflicts(oc().to_container(merged, resolve=False), data, (), conflicts)
        trimmed = copy.deepcopy(data)
        for path in conflicts:
            kind = "a list" if isinstance(keypath.get(data, path), list) else "a mapping"
            report_at_source(
                report,
                source,
                path_str(path),
                f"must not be {kind} here (the defaults hold {'a mapping' if kind == 'a list' else 'a list'})",
            )
            keypath.pop(trimmed, path)
        try:
            merged = oc().merge(merged, _to_omegaconf(trimmed, source, report))
        except Exception as err:
            report.add("", f"cannot merge this file over its defaults ({type(err).__name__})")
    return merged
