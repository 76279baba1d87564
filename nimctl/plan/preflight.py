"""Checks against the live Lepton workspace before a cold start: node groups, secrets, shapes,
image pull secrets and ``host:`` variables.

Takes the desired stacks and a ``Workspace`` (three listings: node groups, secret names, shape
names; each asked for once per command). Gives:

- ``resolve_node_groups``: node-group *names* in the specs (endpoint affinity, job affinity)
  replaced by their ids, in place (Lepton's affinity takes ids; the launcher and ``lep`` look names
  up the same way). Ids pass through. An unknown name is an error that lists the workspace's groups.
- ``workspace_checks``: each problem a cold start would meet minutes later, as a ``Finding`` whose
  ``Check`` says whether apply must refuse (a missing secret, a shape the workspace does not offer,
  an unset ``host:`` variable) or only warn (a private-registry image without a pull secret).

Plan shows every finding as a warning (so the whole change is still shown); apply refuses before
creating anything when one blocks.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from nimctl.common.envref import missing_host_variables
from nimctl.common.errors import NimctlError

if TYPE_CHECKING:
    from nimctl.stack.resources import Stack


@runtime_checkable
class Workspace(Protocol):
    """What the checks read from the platform (one listing each). A provider without these
    (a test double of another platform) is not checked."""

    def node_groups(self) -> dict[str, str]: ...  # name -> id

    def secret_names(self) -> set[str]: ...

    def shape_names(self) -> set[str]: ...


# Registries that need credentials to pull from (NGC's nvcr.io holds NIMs and the eval images).
PRIVATE_REGISTRIES = ("nvcr.io",)


class Check(str, Enum):
    """What a finding is about, and whether apply must stop for it."""

    NODE_GROUP = "node group"
    SECRET = "secret"
    SHAPE = "resource shape"
    HOST_ENV = "host environment variable"
    PULL_SECRET = "image pull secret"

    @property
    def blocks_apply(self) -> bool:
        return self is not Check.PULL_SECRET


@dataclass(frozen=True)
class Finding:
    check: Check
    address: str
    message: str
    hint: str

    def describe(self) -> str:
        return f"{self.address}: {self.message} ({self.hint})"


def _lepton(stacks: Iterable[Stack]) -> list[Stack]:
    return [s for s in stacks if s.platform == "lepton"]


def _specs(stack: Stack) -> Iterator[tuple[str, dict[str, Any], str]]:
    """(address, spec, kind) of a Lepton stack's endpoint and job templates."""
    if stack.endpoint is not None:
        yield stack.endpoint.address, stack.endpoint.spec, "endpoint"
    for job in stack.jobs:
        yield job.address, job.spec_template, "job"


def _affinity(spec: dict[str, Any], kind: str) -> dict[str, Any] | None:
    holder = spec.get("resource_requirement") if kind == "endpoint" else spec
    affinity = holder.get("affinity") if isinstance(holder, dict) else None
    return affinity if isinstance(affinity, dict) else None


def uses_node_groups(stacks: Iterable[Stack]) -> bool:
    return any(
        (_affinity(spec, kind) or {}).get("allowed_dedicated_node_groups")
        for stack in _lepton(stacks)
        for _, spec, kind in _specs(stack)
    )


def resolve_node_groups(stacks: Iterable[Stack], groups: dict[str, str]) -> list[Finding]:
    """Replace node-group names by ids in every Lepton spec (in place); unknown ones are findings."""
    ids = set(groups.values())
    known = ", ".join(f"{name} (id {gid})" for name, gid in sorted(groups.items())) or "none"
    findings: list[Finding] = []
    for stack in _lepton(stacks):
        for address, spec, kind in _specs(stack):
            affinity = _affinity(spec, kind)
            wanted = (affinity or {}).get("allowed_dedicated_node_groups")
            if not affinity or not isinstance(wanted, list):
                continue
            resolved = []
            for group in wanted:
                if group in ids:
                    resolved.append(group)
                elif group in groups:
                    resolved.append(groups[group])
                else:
                    resolved.append(group)
                    where = (
                        "execution.lepton_platform.deployment.node_group"
                        if kind == "endpoint"
                        else "execution.lepton_platform.tasks.node_group"
                    )
                    findings.append(
                        Finding(
                            Check.NODE_GROUP,
                            address,
                            f"node group {group!r} is neither the name nor the id of a node group of this "
                            f"workspace (node groups: {known})",
                            f"set {where} to one of them ({stack.source_file})",
                        )
                    )
            affinity["allowed_dedicated_node_groups"] = resolved
    return findings


def workspace_checks(stacks: Iterable[Stack], workspace: Workspace) -> list[Finding]:
    """Secrets, shapes, pull secrets and host: variables of the Lepton stacks."""
    lepton = _lepton(stacks)
    if not lepton:
        return []
    findings: list[Finding] = []
    secrets = workspace.secret_names()
    shapes = workspace.shape_names()
    for stack in lepton:
        for address, spec, kind in _specs(stack):
            for name, where in _secret_refs(spec):
                if name not in secrets:
                    findings.append(
                        Finding(
                            Check.SECRET,
                            address,
                            f"{where} references secret {name!r}, which the workspace does not have "
                            "(Lepton would fail its replicas: CreateContainerConfigError)",
                            f"create it (`lep secret create -n {name} -v ...`, or UI: Settings > Secrets) "
                            "or change the reference",
                        )
                    )
            shape = (
                (spec.get("resource_requirement") or {}).get("resource_shape")
                if kind == "endpoint"
                else spec.get("resource_shape")
            )
            if shape and shapes and shape not in shapes:
                findings.append(
                    Finding(
                        Check.SHAPE,
                        address,
                        f"resource shape {shape!r} is not offered by this workspace "
                        f"(offered: {', '.join(sorted(shapes))})",
                        "choose one of the offered shapes (`lep workspace shapes` lists them)",
                    )
                )
            image = str((spec.get("container") or {}).get("image") or "")
            if _private(image) and not spec.get("image_pull_secrets"):
                setting = (
                    "execution.lepton_platform.deployment.platform_defaults.image_pull_secrets"
                    if kind == "endpoint"
                    else "execution.lepton_platform.tasks.image_pull_secrets"
                )
                findings.append(
                    Finding(
                        Check.PULL_SECRET,
                        address,
                        f"image {image} is in a private registry and no image pull secret is set: "
                        "the pull will fail on the platform",
                        f"add the workspace's registry secret to {setting}",
                    )
                )
        for name, variable in missing_host_variables([spec for _, spec, _ in _specs(stack)]):
            findings.append(
                Finding(
                    Check.HOST_ENV,
                    stack.endpoint.address if stack.endpoint else f"stack {stack.name}",
                    f"{name} is host:{variable}, but {variable} is not set in this environment",
                    f"export {variable} before `nimctl apply`",
                )
            )
    return findings


def _secret_refs(spec: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for env in spec.get("envs") or []:
        ref = (env.get("value_from") or {}).get("secret_name_ref") if isinstance(env, dict) else None
        if ref:
            yield ref, f"env {env.get('name')}"
    for token in spec.get("api_tokens") or []:
        ref = (token.get("value_from") or {}).get("token_name_ref") if isinstance(token, dict) else None
        if ref:
            yield ref, "its api token"


def _private(image: str) -> bool:
    registry = image.split("/", 1)[0] if "/" in image else ""
    return registry in PRIVATE_REGISTRIES


def run_checks(stacks: list[Stack], workspace: Workspace | None) -> list[Finding]:
    """Node groups resolved (when any spec names one), then the workspace checks. No workspace
    (offline plan), no Lepton stack: nothing is checked or listed."""
    lepton = _lepton(stacks)
    if not isinstance(workspace, Workspace) or not lepton:
        return []
    findings: list[Finding] = []
    if uses_node_groups(lepton):
        findings += resolve_node_groups(lepton, workspace.node_groups())
    return findings + workspace_checks(lepton, workspace)


class PreflightError(NimctlError):
    """The workspace cannot run the stacks as written; nothing was created."""


def check_workspace(stacks: list[Stack], workspace: Workspace | None, *, applying: bool) -> list[str]:
    """Run the checks; give the warnings to show. Raises PreflightError for an unknown node group,
    and (``applying``) for every finding that would fail the cold start."""
    findings = run_checks(stacks, workspace)
    stops = [f for f in findings if f.check is Check.NODE_GROUP or (applying and f.check.blocks_apply)]
    if stops:
        lines = "\n".join(f"  - {f.describe()}" for f in stops)
        raise PreflightError(
            f"the Lepton workspace cannot run this as written ({len(stops)} problem(s)):\n{lines}",
            hint="fix these and re-run; nothing was created",
        )
    return [f.describe() for f in findings]
