"""The ``defaults`` list of a user file: which bundled group options it is composed with.

Takes a parsed user file (``SourceDoc``) and its ``Reporter``. Gives:

- ``read_defaults`` — the list's valid entries (``Entry``: ``_self_`` or a group and option, with
  the key path that chose it), and every group the list mentions;
- ``implied_groups`` — entries for groups the list leaves out, taken from the file's own
  ``execution.type`` / ``deployment.type``; a group neither listed nor typed is reported;
- ``unsupported_executor`` — whether the file is written for an executor nimctl does not run
  (Slurm), reported as one problem;
- ``group_doc`` — a bundled group option's file, parsed once.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import lru_cache

from nimctl.config.bundled import GROUP_NAMES, available_groups, group_file
from nimctl.config.sources import Reporter
from nimctl.config.yaml_source import SourceDoc, parse_yaml, read_file_text

# execution.type → the group that holds its defaults (when the file names only the type)
_TYPE_TO_OPTION = {"execution": {"lepton": "lepton/default"}, "deployment": {}}

# Executors the launcher has and nimctl does not run: a config for one is refused with one
# clear problem (composing it against nimctl's groups would only give a cascade of unknown keys).
UNSUPPORTED_EXECUTORS = {"slurm": "Slurm"}


@lru_cache(maxsize=32)
def group_doc(group: str, option: str) -> SourceDoc:
    path = group_file(group, option)
    return parse_yaml(read_file_text(str(path)), str(path))


@dataclass
class Entry:
    kind: str  # "self" | "group"
    group: str = ""
    option: str = ""
    at: str = ""  # key path in the user's file that chose it, e.g. "defaults.1.deployment"


def _did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


def read_defaults(doc: SourceDoc, report: Reporter) -> tuple[list[Entry], set[str]]:
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
    entries: list[Entry] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        path = f"defaults.{index}"
        if item == "_self_":
            if any(e.kind == "self" for e in entries):
                report.add(path, "_self_ is listed twice", hint="keep one `- _self_` entry")
            entries.append(Entry("self"))
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
        entries.append(Entry("group", group, option, f"{path}.{key}"))
    return entries, mentioned


def implied_groups(doc: SourceDoc, mentioned: set[str], report: Reporter) -> list[Entry]:
    """Groups the defaults list does not name, taken from the file's own ``<group>.type``."""
    implied: list[Entry] = []
    groups = available_groups()
    for group in GROUP_NAMES:
        if group in mentioned:  # chosen, or already reported as a bad entry
            continue
        section = doc.data.get(group)
        declared = section.get("type") if isinstance(section, dict) else None
        if isinstance(declared, str):
            option = _TYPE_TO_OPTION[group].get(declared, declared)
            if option in groups[group]:
                implied.append(Entry("group", group, option, f"{group}.type"))
            continue  # an unknown type is reported by the schema (enum with close matches)
        examples = "local, or lepton/default" if group == "execution" else "nim, vllm, sglang, none or mock"
        report.add(
            group,
            f"no {group} chosen: the defaults list has no `{group}:` entry and {group}.type is not set",
            hint=f"add `- {group}: <option>` to defaults ({examples}), or set {group}.type",
            at="defaults" if "defaults" in doc.data else group,
        )
    return implied


def supported_executors() -> list[str]:
    """The executors nimctl runs: the first part of each bundled execution option."""
    return sorted({option.split("/")[0] for option in available_groups()["execution"]})


def unsupported_executor(doc: SourceDoc, report: Reporter) -> bool:
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
