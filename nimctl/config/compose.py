"""Compose a config the way Hydra does: the ``defaults`` list, bundled groups, ``-o`` overrides,
then OmegaConf interpolation.

Merge rules (OmegaConf's): mappings deep-merge, lists and scalars replace, ``???`` marks a value
that must be set. ``_self_`` in the defaults list says where the user's own file is merged
(at the end when absent).

A file without a ``defaults`` list (or whose list leaves a group out) is composed with the
groups its own ``execution.type`` / ``deployment.type`` name, placed first, so a file that only
says ``deployment: {type: vllm, ...}`` still gets the vllm defaults. A group neither listed nor
named by a type is an error: nimctl does not guess where a config should run.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import re
import sys
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from nimctl.common import keypath
from nimctl.common.errors import ConfigProblem
from nimctl.common.secrets import copy_tree, is_secret_name
from nimctl.config.bundled import GROUP_NAMES, available_groups, group_file
from nimctl.config.yaml_source import (
    MAX_NODES,
    SourceDoc,
    YamlProblems,
    parse_yaml,
    parse_yaml_value,
    path_str,
    read_file_text,
)

if TYPE_CHECKING:
    from omegaconf import DictConfig

# execution.type → the group that holds its defaults (when the file names only the type)
_TYPE_TO_OPTION = {"execution": {"lepton": "lepton/default"}, "deployment": {}}
MAX_RESOLVED_CHARS = 4 * 1024 * 1024  # what interpolation may expand a config to
_MAX_RESOLVE_DEPTH = 200
_OVERRIDE_SEGMENT = re.compile(r"^[A-Za-z0-9_-]+$")


_omegaconf: Any = None


def _oc() -> Any:
    """The OmegaConf class, imported on first need with nimctl's resolvers registered. A config
    without any ``${...}`` is composed without it (see ``_plain_merge``): importing OmegaConf
    costs ~50 ms of every start-up and its merge ~7 ms per file."""
    global _omegaconf
    if _omegaconf is None:
        from omegaconf import OmegaConf

        register = getattr(OmegaConf, "register_resolver", None) or OmegaConf.register_new_resolver
        if not OmegaConf.has_resolver("nimctl.python"):
            register("nimctl.python", lambda: sys.executable)
        if not OmegaConf.has_resolver("select_not_null"):
            # The launcher's resolver (its vllm/sglang groups use it): the value at a key path,
            # or the default when that value is null or absent.
            def select_not_null(key: str, default: Any, *, _root_: Any) -> Any:
                value = OmegaConf.select(_root_, key, default=None)
                return default if value is None else value

            register("select_not_null", select_not_null, use_cache=False)
        _omegaconf = OmegaConf
    return _omegaconf


@dataclass
class Source:
    """One layer of a composed config, for finding where a key path was written."""

    label: str  # the file path, or "<override -o key.path>"
    marks: dict[str, tuple[int, int]] = field(default_factory=dict)  # key path -> (line, column)
    kind: str = "user"  # "user" | "group" | "override"
    override_path: str | None = None  # overrides cover this path and everything under it
    group: str | None = None  # e.g. "deployment/nim"

    def find(self, key_path: str) -> tuple[int | None, int | None] | None:
        if self.kind == "override":
            root = self.override_path or ""
            if key_path == root or key_path.startswith(root + "."):
                return (None, None)
            return None
        return self.marks.get(key_path)


@dataclass
class Composition:
    config: dict[str, Any] | None
    sources: list[Source]
    problems: list[ConfigProblem]
    reported: set[str]  # key paths already reported (schema errors at or under them are noise)
    interpolated: set[str]  # key paths whose value came from an interpolation
    groups: dict[str, str]  # group name -> option composed, e.g. {"deployment": "nim"}
    group_entries: dict[str, str] = field(default_factory=dict)  # "deployment/nim" -> "defaults.1.deployment"


# -- bundled groups -------------------------------------------------------------------------------


@lru_cache(maxsize=32)
def _group_doc(group: str, option: str) -> SourceDoc:
    path = group_file(group, option)
    return parse_yaml(read_file_text(str(path)), str(path))


@lru_cache(maxsize=32)
def _group_layer(group: str, option: str) -> DictConfig:
    """A bundled group as an OmegaConf layer, built once: merging deep-copies what it takes from it."""
    return _oc().create({group: _group_doc(group, option).data})


# -- the defaults list ----------------------------------------------------------------------------


@dataclass
class _Entry:
    kind: str  # "self" | "group"
    group: str = ""
    option: str = ""
    at: str = ""  # key path in the user's file that chose it, e.g. "defaults.1.deployment"


def _did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


class _Reporter:
    """Collects problems of one user file, placing each at its line where the file has it."""

    def __init__(self, doc: SourceDoc) -> None:
        self.doc = doc
        self.problems: list[ConfigProblem] = []
        self.reported: set[str] = set()

    def where(self, key_path: str) -> tuple[int | None, int | None]:
        for candidate in keypath.lineage(key_path):
            mark = self.doc.marks.get(candidate)
            if mark:
                return mark
        return (None, None)

    def add(
        self, key_path: str, message: str, hint: str | None = None, *, at: str | None = None, severity: str = "error"
    ) -> None:
        line, column = self.where(at if at is not None else key_path)
        self.problems.append(ConfigProblem(self.doc.file, key_path, message, line, column, hint, severity))
        if severity == "error":
            self.reported.add(key_path)


def _read_defaults(doc: SourceDoc, report: _Reporter) -> tuple[list[_Entry], set[str]]:
    """The defaults list's valid entries, and every group the list mentions (valid or not)."""
    raw = doc.data.get("defaults")
    mentioned: set[str] = set()
    if raw is None:
        return [], mentioned
    if not isinstance(raw, list):
        report.add(
            "defaults",
            "must be a list, e.g. [execution: local, deployment: mock, _self_]",
            hint="write one `- group: option` entry per line",
        )
        return [], set(GROUP_NAMES)
    groups = available_groups()
    entries: list[_Entry] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        path = f"defaults.{index}"
        if item == "_self_":
            if any(e.kind == "self" for e in entries):
                report.add(path, "_self_ is listed twice", hint="keep one `- _self_` entry")
            entries.append(_Entry("self"))
            continue
        if not (isinstance(item, dict) and len(item) == 1):
            shown = item if isinstance(item, str) and len(item) < 60 else type(item).__name__
            report.add(
                path,
                f"unsupported defaults entry {shown!r}",
                hint="entries are `- execution: <option>`, `- deployment: <option>` or `- _self_`",
            )
            continue
        ((key, option),) = item.items()
        group = key.split()[-1] if key.startswith(("override ", "optional ")) else key
        mentioned.add(group)
        if group not in GROUP_NAMES:
            mentioned.update(difflib.get_close_matches(group, GROUP_NAMES, n=1, cutoff=0.6))
            report.add(
                f"{path}.{key}",
                f"unknown config group {group!r}{_did_you_mean(group, GROUP_NAMES)}",
                hint=f"config groups: {', '.join(GROUP_NAMES)}",
            )
            continue
        if option is None:  # Hydra's "no option for this group": its type must then be set in the file
            mentioned.discard(group)
            seen.add(group)
            continue
        if not isinstance(option, str):
            report.add(f"{path}.{key}", f"the {group} option must be a name such as {groups[group][0]}")
            continue
        if option not in groups[group]:
            report.add(
                f"{path}.{key}",
                f"unknown {group} group {option!r}{_did_you_mean(option, groups[group])}",
                hint=f"available {group} groups: {', '.join(groups[group])}",
            )
            continue
        if group in seen:
            report.add(f"{path}.{key}", f"the {group} group is chosen twice", hint="keep one entry per group")
            continue
        seen.add(group)
        entries.append(_Entry("group", group, option, f"{path}.{key}"))
    return entries, mentioned


def _implied_groups(doc: SourceDoc, mentioned: set[str], report: _Reporter) -> list[_Entry]:
    """Groups the defaults list does not name, taken from the file's own ``<group>.type``."""
    implied: list[_Entry] = []
    groups = available_groups()
    for group in GROUP_NAMES:
        if group in mentioned:  # chosen, or already reported as a bad entry
            continue
        section = doc.data.get(group)
        declared = section.get("type") if isinstance(section, dict) else None
        if isinstance(declared, str):
            option = _TYPE_TO_OPTION[group].get(declared, declared)
            if option in groups[group]:
                implied.append(_Entry("group", group, option, f"{group}.type"))
            continue  # an unknown type is reported by the schema (enum with close matches)
        examples = "local, or lepton/default" if group == "execution" else "nim, vllm, sglang, none or mock"
        report.add(
            group,
            f"no {group} chosen: the defaults list has no `{group}:` entry and {group}.type is not set",
            hint=f"add `- {group}: <option>` to defaults ({examples}), or set {group}.type",
            at="defaults" if "defaults" in doc.data else group,
        )
    return implied


# -- composition ----------------------------------------------------------------------------------


# Executors the launcher has and nimctl does not run: a config for one is refused with one
# clear problem (composing it against nimctl's groups would only give a cascade of unknown keys).
UNSUPPORTED_EXECUTORS = {"slurm": "Slurm"}


def supported_executors() -> list[str]:
    """The executors nimctl runs: the first part of each bundled execution option."""
    return sorted({option.split("/")[0] for option in available_groups()["execution"]})


def _unsupported_executor(doc: SourceDoc, report: _Reporter) -> bool:
    """Report a config written for an executor nimctl does not run (True when it is one)."""
    chosen: list[tuple[str, str]] = []  # (executor, key path that chose it)
    raw = doc.data.get("defaults")
    for index, item in enumerate(raw if isinstance(raw, list) else []):
        if isinstance(item, dict) and len(item) == 1:
            ((key, option),) = item.items()
            if isinstance(key, str) and key.split()[-1] == "execution" and isinstance(option, str):
                chosen.append((option.split("/")[0], f"defaults.{index}.{key}"))
    section = doc.data.get("execution")
    if isinstance(section, dict) and isinstance(section.get("type"), str):
        chosen.append((section["type"], "execution.type"))
    for executor, at in chosen:
        label = UNSUPPORTED_EXECUTORS.get(executor)
        if label is None:
            continue
        runs = " and ".join(f"execution: {o}" for o in available_groups()["execution"])
        report.add(
            at,
            f"{label} is not supported by nimctl: it runs stacks on Lepton and on this machine ({runs}); "
            f"this config was not checked further",
            hint=f"run it with nemo-evaluator-launcher, or rewrite its execution section for "
            f"{' or '.join(supported_executors())}",
        )
        return True
    return False


def compose(doc: SourceDoc, overrides: list[str] | tuple[str, ...] = ()) -> Composition:
    """Compose and interpolate one parsed user file. Problems are returned, not raised."""
    report = _Reporter(doc)
    if _unsupported_executor(doc, report):
        return Composition(None, [], report.problems, report.reported, set(), {})
    entries, mentioned = _read_defaults(doc, report)
    entries = _implied_groups(doc, mentioned, report) + entries
    if not any(e.kind == "self" for e in entries):
        entries.append(_Entry("self"))

    user_data = {k: v for k, v in doc.data.items() if k != "defaults"}
    layers: list[tuple[Source, dict[str, Any]]] = []
    chosen: dict[str, str] = {}
    entry_paths: dict[str, str] = {}
    for entry in entries:
        if entry.kind == "self":
            layers.append((Source(doc.file, dict(doc.marks), "user"), user_data))
            continue
        try:
            group_doc = _group_doc(entry.group, entry.option)
        except YamlProblems as err:  # a broken bundled file is a bug in nimctl; still no traceback
            report.problems.extend(err.problems)
            continue
        marks = {f"{entry.group}.{k}": v for k, v in group_doc.marks.items()}
        marks[entry.group] = (1, 1)
        layers.append(
            (
                Source(group_doc.file, marks, "group", group=f"{entry.group}/{entry.option}"),
                {entry.group: group_doc.data},
            )
        )
        chosen[entry.group] = entry.option
        entry_paths[f"{entry.group}/{entry.option}"] = entry.at

    sources = [source for source, _data in layers]
    merged: DictConfig | None = None
    plain = _plain_merge([data for _source, data in layers])
    if plain is None:  # interpolations, or a list over a mapping: OmegaConf merges (and reports)
        merged = _merge_layers(layers, report)
        plain = _oc().to_container(merged, resolve=False)
    for text in overrides:
        source = _apply_override(plain, text, report)
        if source is not None:
            sources.append(source)
    if len(sources) > len(layers):
        merged = None  # the overrides changed the plain copy: build the OmegaConf tree again from it

    interpolated: set[str] = set()
    _interpolated_paths(plain, (), interpolated)
    config = _resolve(plain, merged, sources, report)
    return Composition(config, sources, report.problems, report.reported, interpolated, chosen, entry_paths)


def _interpolated_paths(data: Any, path: tuple[str | int, ...], found: set[str]) -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            _interpolated_paths(value, (*path, key), found)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            _interpolated_paths(value, (*path, index), found)
    elif isinstance(data, str) and "${" in data:
        found.add(path_str(path))


def _bad_interpolations(data: Any, path: tuple[str | int, ...], found: list[tuple[str, str]]) -> None:
    """Strings whose ``${...}`` does not parse, as (key path, error)."""
    if isinstance(data, dict):
        for key, value in data.items():
            _bad_interpolations(value, (*path, key), found)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            _bad_interpolations(value, (*path, index), found)
    elif isinstance(data, str) and "${" in data:
        try:
            _oc().create({"v": data})
        except Exception as err:
            found.append((path_str(path), str(err).splitlines()[0]))


def _may_hold_secret(key_path: str) -> bool:
    """Whether a value at this path may be a credential (its text must not appear in messages)."""
    parts = key_path.split(".")
    return any(p in ("envs", "env_vars", "api_tokens") for p in parts) or is_secret_name(parts[-1])


def _to_omegaconf(data: dict[str, Any], source: Source, report: _Reporter) -> DictConfig:
    bad: list[tuple[str, str]] = []
    _bad_interpolations(data, (), bad)
    if bad:
        data = copy.deepcopy(data)
        for key_path, error in bad:
            detail = "" if _may_hold_secret(key_path) else f": {error}"
            _report_at_source(
                report,
                source,
                key_path,
                f"invalid interpolation{detail}",
                "write ${key.path}, ${oc.env:NAME} or ${oc.env:NAME,default}; escape a literal as \\${...}",
            )
            keypath.set_path(data, key_path, None)
    return _oc().create(data)


def _report_at_source(report: _Reporter, source: Source, key_path: str, message: str, hint: str | None = None) -> None:
    if source.kind == "user":
        report.add(key_path, message, hint)
    elif source.kind == "group":
        line = source.marks.get(key_path, (None, None))[0]
        where = f" (bundled group {source.group}" + (f", line {line})" if line else ")")
        report.add(key_path, message + where, hint)
    else:
        report.add(key_path, f"{message} (from {source.label})", hint)


def _container_conflicts(base: Any, over: Any, path: tuple[str, ...], found: list[str]) -> None:
    """Key paths where ``over`` puts a mapping over a list or the reverse (OmegaConf cannot merge)."""
    if not (isinstance(base, dict) and isinstance(over, dict)):
        return
    for key, value in over.items():
        if key not in base:
            continue
        old = base[key]
        if (isinstance(old, dict) and isinstance(value, list)) or (isinstance(old, list) and isinstance(value, dict)):
            found.append(path_str((*path, key)))
        else:
            _container_conflicts(old, value, (*path, key), found)


MISSING = "???"


def _has_interpolation(node: Any) -> bool:
    if isinstance(node, dict):
        return any(_has_interpolation(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_interpolation(v) for v in node)
    return isinstance(node, str) and "${" in node


def _plain_tree(node: Any) -> bool:
    """Only str-keyed mappings, lists and YAML scalars, with no ``${...}`` anywhere."""
    if isinstance(node, dict):
        return all(isinstance(k, str) and _plain_tree(v) for k, v in node.items())
    if isinstance(node, list):
        return all(_plain_tree(v) for v in node)
    if isinstance(node, str):
        return "${" not in node
    return node is None or isinstance(node, (bool, int, float))


def _plain_merge(layers: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The layers merged with OmegaConf's rules, in plain Python, or None when OmegaConf must do it
    (an interpolation anywhere, a key that is not a string, or a list over a mapping or the reverse,
    which OmegaConf refuses and ``_merge_layers`` reports). Rules, as ``OmegaConf.merge`` applies
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


def _merge_layers(layers: list[tuple[Source, dict[str, Any]]], report: _Reporter) -> DictConfig:
    """Merge the layers in order with OmegaConf (unresolved)."""
    created = [
        _group_layer(*source.group.split("/", 1)) if source.group else _to_omegaconf(data, source, report)
        for source, data in layers
    ]
    try:
        # merge() copies what it takes from each layer: the cached group layers stay untouched
        return _oc().merge(_oc().create({}), *created)  # type: ignore[no-any-return]
    except Exception:  # a list over a mapping or the reverse: drop the offending keys, say so
        pass
    merged = _oc().create({})
    for (source, data), layer in zip(layers, created, strict=True):
        try:
            merged = _oc().merge(merged, layer)
            continue
        except Exception:
            pass
        conflicts: list[str] = []
        _container_conflicts(_oc().to_container(merged, resolve=False), data, (), conflicts)
        trimmed = copy.deepcopy(data)
        for key_path in conflicts:
            kind = "a list" if isinstance(keypath.get(data, key_path), list) else "a mapping"
            _report_at_source(
                report,
                source,
                key_path,
                f"must not be {kind} here (the defaults hold {'a mapping' if kind == 'a list' else 'a list'})",
            )
            keypath.pop(trimmed, key_path)
        try:
            merged = _oc().merge(merged, _to_omegaconf(trimmed, source, report))
        except Exception as err:
            report.add("", f"cannot merge this file over its defaults ({type(err).__name__})")
    return merged


def _reference_target(data: Any, reference: str) -> Any:
    """What ``${reference}`` points at, found as OmegaConf finds it (not ``keypath.get``: a list
    item may be addressed from the end, ``${x.-1}``, and the expansion estimate must count it).
    Raises KeyError, IndexError, ValueError or TypeError when it points at nothing."""
    node = data
    for part in reference.split(".") if reference else []:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


# -- overrides ------------------------------------------------------------------------------------


def _apply_override(config: dict[str, Any], text: str, report: _Reporter) -> Source | None:
    """Apply one ``key.path=value`` to the plain merged config; a Source for locating it, or None."""
    hint = "write -o key.path=value, e.g. -o deployment.port=9000"
    if "=" not in text:
        shown = text if len(text) <= 80 else text[:77] + "..."
        report.add("", f"override {shown!r} has no '='", hint)
        return None
    key, _, raw = text.partition("=")  # the value may be a secret: messages show only the key
    key = key.strip().lstrip("+")
    parts = key.split(".")
    if not key or not all(_OVERRIDE_SEGMENT.match(p) for p in parts):
        shown = key if len(key) <= 80 else key[:77] + "..."
        report.add("", f"override -o {shown}=...: {shown!r} is not a key path", hint)
        return None
    label = f"<override -o {key}>"
    try:
        value = parse_yaml_value(raw, label) if raw.strip() else ""
    except YamlProblems as err:
        report.add(
            key,
            f"-o {key}: the value is not valid YAML ({err.problems[0].message})",
            "quote the value, e.g. -o 'key=\"text: with colon\"'",
        )
        return None
    node: Any = config
    for depth, part in enumerate(parts[:-1]):
        here = ".".join(parts[: depth + 1])
        if isinstance(node, dict):
            if not isinstance(node.get(part), (dict, list)):
                if part in node and node[part] is not None:
                    report.add(key, f"-o {key}: {here} is a single value, not a mapping", f"override {here} itself")
                    return None
                node[part] = {}
            node = node[part]
        elif isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                report.add(
                    key,
                    f"-o {key}: {here} is not an item of the list (it has {len(node)})",
                    "list items are addressed by index from 0, e.g. evaluation.tasks.0.name",
                )
                return None
            node = node[int(part)]
    last = parts[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            report.add(
                key,
                f"-o {key}: {last} is not an item of the list (it has {len(node)})",
                "list items are addressed by index from 0; to replace the whole list, override its key",
            )
            return None
        node[int(last)] = value
    else:
        node[last] = value
    return Source(label, kind="override", override_path=key)


# -- interpolation --------------------------------------------------------------------------------

_REFERENCE = re.compile(r"\$\{([A-Za-z0-9_.\-\[\]]*)\}")


def _expansion_size(config: dict[str, Any]) -> int:
    """An upper estimate of the resolved config's size in characters, without resolving it.

    Interpolations can reference each other so that a small file expands exponentially
    (``b: ${a}${a}``, ``c: ${b}${b}``, ...); this finds that before OmegaConf tries.
    """
    memo: dict[str, int] = {}
    active: set[str] = set()

    def size_of(node: Any, key_path: str) -> int:
        if key_path in memo:
            return memo[key_path]
        if key_path in active:
            return 0  # a cycle; OmegaConf reports it
        active.add(key_path)
        total = 0
        if isinstance(node, dict):
            total = sum(len(str(k)) + size_of(v, f"{key_path}.{k}" if key_path else str(k)) for k, v in node.items())
        elif isinstance(node, list):
            total = sum(1 + size_of(v, f"{key_path}.{i}" if key_path else str(i)) for i, v in enumerate(node))
        elif isinstance(node, str) and "${" in node:
            total = len(node)
            for reference in _REFERENCE.findall(node):
                target = reference.replace("[", ".").replace("]", "")
                if target.startswith("."):
                    continue  # relative references are rare; their size is counted where they point
                with contextlib.suppress(KeyError, IndexError, ValueError, TypeError):
                    total += size_of(_reference_target(config, target), target)
                if total > MAX_RESOLVED_CHARS:
                    break
        else:
            total = len(str(node))
        active.discard(key_path)
        memo[key_path] = total
        return total

    return size_of(config, "")


def _resolve(
    plain: dict[str, Any], merged: DictConfig | None, sources: list[Source], report: _Reporter
) -> dict[str, Any] | None:
    if merged is None and not _has_interpolation(plain):
        # Nothing to interpolate (nothing can expand either): OmegaConf would return the tree as is.
        return _drop_missing(plain, (), sources, report)  # type: ignore[no-any-return]
    if _expansion_size(plain) > MAX_RESOLVED_CHARS:
        report.add(
            "",
            f"interpolations expand this config to more than {MAX_RESOLVED_CHARS // (1024 * 1024)} MiB; "
            "refusing to resolve them",
            "remove the ${...} references that repeat each other",
        )
        return None
    try:
        cfg = merged if merged is not None else _oc().create(plain)
    except Exception as err:
        report.add("", f"cannot compose the config ({type(err).__name__}: {str(err).splitlines()[0]})")
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # OmegaConf warns about `${oc.env:X,}`; the value is still right
        try:  # the common case: everything resolves; only "???" values are left to report
            resolved = _oc().to_container(cfg, resolve=True, throw_on_missing=False)
        except Exception:  # some interpolation fails: walk node by node to say which, and why
            resolved = None
        if resolved is not None:
            return _drop_missing(resolved, (), sources, report)  # type: ignore[arg-type]
        walk = _Walk(plain, sources, report)
        result = walk.node(cfg, ())
        walk.report_failures()
        return result  # type: ignore[no-any-return]


def _drop_missing(node: Any, path: tuple[str | int, ...], sources: list[Source], report: _Reporter) -> Any:
    """``node`` without its unset ("???") values, each reported."""
    if isinstance(node, dict):
        result = {}
        for key, value in node.items():
            if value == "???":
                _report_missing(path_str((*path, key)), sources, report)
            else:
                result[key] = _drop_missing(value, (*path, key), sources, report)
        return result
    if isinstance(node, list):
        items = []
        for index, value in enumerate(node):
            if value == "???":
                _report_missing(path_str((*path, index)), sources, report)
                value = None
            items.append(_drop_missing(value, (*path, index), sources, report))
        return items
    return node


_SKIP = object()


class _Walk:
    """Resolves node by node, to say which interpolations fail and why.

    A value whose interpolation fails only because what it refers to failed (or is unset) is
    not reported again: the user sees the root cause once.
    """

    def __init__(self, plain: dict[str, Any], sources: list[Source], report: _Reporter) -> None:
        self.plain = plain
        self.sources = sources
        self.report = report
        self.budget = MAX_NODES * 5
        self.failures: list[tuple[str, Exception]] = []
        self.broken: set[str] = set()  # failed or unset key paths

    def node(self, node: Any, path: tuple[str | int, ...]) -> Any:
        if len(path) > _MAX_RESOLVE_DEPTH or self.budget <= 0:
            if self.budget > -1:
                self.report.add(
                    path_str(path),
                    "interpolations refer to each other in a loop or expand too far",
                    "check the ${...} references in this value",
                )
            self.budget = -1
            return None
        self.budget -= 1
        from omegaconf import DictConfig, ListConfig

        if isinstance(node, DictConfig):
            result: dict[str, Any] = {}
            for key in list(node.keys()):
                value = self.child(node, key, (*path, str(key)))
                if value is not _SKIP:
                    result[str(key)] = value
            return result
        if isinstance(node, ListConfig):
            items: list[Any] = []
            for index in range(len(node)):
                value = self.child(node, index, (*path, index))
                items.append(None if value is _SKIP else value)
            return items
        return node

    def child(self, parent: Any, key: Any, path: tuple[str | int, ...]) -> Any:
        key_path = path_str(path)
        if _oc().is_missing(parent, key):
            _report_missing(key_path, self.sources, self.report)
            self.broken.add(key_path)
            return _SKIP
        try:
            value = parent[key]
        except RecursionError:
            self.report.add(key_path, "interpolations refer to each other in a loop")
            self.broken.add(key_path)
            return _SKIP
        except Exception as err:
            self.failures.append((key_path, err))
            self.broken.add(key_path)
            return _SKIP
        return self.node(value, path)

    def _targets(self, key_path: str) -> list[str]:
        raw = keypath.get(self.plain, key_path)
        if not isinstance(raw, str):
            return []
        return [r.replace("[", ".").replace("]", "") for r in _REFERENCE.findall(raw)]

    def _refers_to(self, key_path: str, paths: set[str]) -> bool:
        return any(
            t == p or t.startswith(p + ".") or p.startswith(t + ".")
            for t in self._targets(key_path)
            for p in paths
            if p != key_path
        )

    def report_failures(self) -> None:
        """Report root causes; a failure caused by another reported one (or an unset value) is not
        repeated. Failures that only refer to each other (a cycle) are all reported."""
        failed = {key_path for key_path, _err in self.failures}
        unset = self.broken - failed
        roots = {k for k in failed if not self._refers_to(k, self.broken)}
        for key_path, err in self.failures:
            consequence = key_path not in roots and self._refers_to(key_path, roots | unset)
            if type(err).__name__ == "InterpolationToMissingValueError" or consequence:
                self.report.reported.add(key_path)  # its root cause is reported where it is
            else:
                _report_interpolation_error(key_path, err, self.sources, self.report)


def _source_of(key_path: str, sources: list[Source]) -> Source | None:
    for source in reversed(sources):
        if source.find(key_path) is not None:
            return source
    return None


def _report_missing(key_path: str, sources: list[Source], report: _Reporter) -> None:
    source = _source_of(key_path, sources)
    origin = f" (the {source.group} group requires it)" if source and source.group else ""
    report.add(
        key_path, f"is required but not set{origin}", f"set {key_path} in this file, or pass -o {key_path}=VALUE"
    )


def _report_interpolation_error(key_path: str, err: Exception, sources: list[Source], report: _Reporter) -> None:
    name = type(err).__name__
    detail = str(err).splitlines()[0] if str(err) else name
    hint = "write ${key.path}, ${oc.env:NAME} or ${oc.env:NAME,default}"
    if "Environment variable" in detail and "not found" in detail:
        variable = re.search(r"Environment variable '([^']*)'", detail)
        detail = f"environment variable {variable.group(1) if variable else ''} is not set"
        hint = "export it, or give a default: ${oc.env:NAME,default}"
    elif name == "InterpolationKeyError":
        hint = "the referenced key does not exist; check its spelling and full path from the top"
    elif name == "UnsupportedInterpolationType":
        hint = "known resolvers: oc.env, oc.decode, nimctl.python (and the other oc.* ones)"
    source = _source_of(key_path, sources)
    message = f"cannot resolve the interpolation: {detail}"
    if source is None or source.kind == "user":
        report.add(key_path, message, hint)
    else:
        _report_at_source(report, source, key_path, message, hint)
