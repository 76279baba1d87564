"""Compose a config the way Hydra does: the ``defaults`` list, bundled groups, ``-o`` overrides,
then OmegaConf interpolation.

Takes one parsed user file (``SourceDoc``) and the ``-o`` overrides; gives a ``Composition``: the
composed, interpolated config (None when it cannot be composed), its layers as ``Source``s for
locating keys, and every problem found on the way (returned, not raised). The steps are modules
of their own: ``defaults_list`` (which groups), ``merge`` (the layers), ``overrides`` (``-o``),
``interpolate`` (``${...}`` and ``???``), with problems placed by ``sources.Reporter``.

Merge rules (OmegaConf's): mappings deep-merge, lists and scalars replace, ``???`` marks a value
that must be set. ``_self_`` in the defaults list says where the user's own file is merged
(at the end when absent).

A file without a ``defaults`` list (or whose list leaves a group out) is composed with the
groups its own ``execution.type`` / ``deployment.type`` name, placed first, so a file that only
says ``deployment: {type: vllm, ...}`` still gets the vllm defaults. A group neither listed nor
named by a type is an error: nimctl does not guess where a config should run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nimctl.common.errors import ConfigProblem
from nimctl.config.defaults_list import Entry, group_doc, implied_groups, read_defaults, unsupported_executor
from nimctl.config.interpolate import interpolated_paths, resolve
from nimctl.config.lazy_omegaconf import oc
from nimctl.config.merge import merge_layers, plain_merge
from nimctl.config.overrides import apply_override
from nimctl.config.sources import Reporter, Source
from nimctl.config.yaml_source import SourceDoc, YamlProblems

if TYPE_CHECKING:
    from omegaconf import DictConfig


@dataclass
class Composition:
    config: dict[str, Any] | None
    sources: list[Source]
    problems: list[ConfigProblem]
    reported: set[str]  # key paths already reported (schema errors at or under them are noise)
    interpolated: set[str]  # key paths whose value came from an interpolation
    groups: dict[str, str]  # group name -> option composed, e.g. {"deployment": "nim"}
    group_entries: dict[str, str] = field(default_factory=dict)  # "deployment/nim" -> "defaults.1.deployment"


def compose(doc: SourceDoc, overrides: list[str] | tuple[str, ...] = ()) -> Composition:
    """Compose and interpolate one parsed user file. Problems are returned, not raised."""
    report = Reporter(doc)
    if unsupported_executor(doc, report):
        return Composition(None, [], report.problems, report.reported, set(), {})
    entries, mentioned = read_defaults(doc, report)
    entries = implied_groups(doc, mentioned, report) + entries
    if not any(e.kind == "self" for e in entries):
        entries.append(Entry("self"))

    user_data = {k: v for k, v in doc.data.items() if k != "defaults"}
    layers: list[tuple[Source, dict[str, Any]]] = []
    chosen: dict[str, str] = {}
    entry_paths: dict[str, str] = {}
    for entry in entries:
        if entry.kind == "self":
            layers.append((Source(doc.file, dict(doc.marks), "user"), user_data))
            continue
        try:
            bundled = group_doc(entry.group, entry.option)
        except YamlProblems as err:  # a broken bundled file is a bug in nimctl; still no traceback
            report.problems.extend(err.problems)
            continue
        marks = {f"{entry.group}.{k}": v for k, v in bundled.marks.items()}
        marks[entry.group] = (1, 1)
        layers.append(
            (
                Source(bundled.file, marks, "group", group=f"{entry.group}/{entry.option}"),
                {entry.group: bundled.data},
            )
        )
        chosen[entry.group] = entry.option
        entry_paths[f"{entry.group}/{entry.option}"] = entry.at

    sources = [source for source, _data in layers]
    merged: DictConfig | None = None
    plain = plain_merge([data for _source, data in layers])
    if plain is None:  # interpolations, or a list over a mapping: OmegaConf merges (and reports)
        merged = merge_layers(layers, report)
        plain = oc().to_container(merged, resolve=False)
    for text in overrides:
        source = apply_override(plain, text, report)
        if source is not None:
            sources.append(source)
    if len(sources) > len(layers):
        merged = None  # the overrides changed the plain copy: build the OmegaConf tree again from it

    interpolated: set[str] = set()
    interpolated_paths(plain, (), interpolated)
    config = resolve(plain, merged, sources, report)
    return Composition(config, sources, report.problems, report.reported, interpolated, chosen, entry_paths)
