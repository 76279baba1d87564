"""``${...}`` interpolation of a composed config, and the required (``???``) values left unset.

Takes the merged plain config (and, when OmegaConf merged it, the OmegaConf tree), the
composition's ``Source`` layers and the user file's ``Reporter``. Gives ``resolve``: the config
with every interpolation resolved and every ``???`` value left out, or None when it cannot be
resolved at all; each failure is reported once, at its root cause and the layer that wrote it. A
config whose interpolations would expand past ``MAX_RESOLVED_CHARS`` is refused before OmegaConf
tries. ``interpolated_paths`` gives the key paths whose value is an interpolation.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from typing import TYPE_CHECKING, Any

from nimctl.common import keypath
from nimctl.config.lazy_omegaconf import oc
from nimctl.config.sources import Reporter, Source, report_at_source, source_of
from nimctl.config.yaml_source import MAX_NODES, Path, path_str

if TYPE_CHECKING:
    from omegaconf import DictConfig

MAX_RESOLVED_CHARS = 4 * 1024 * 1024  # what interpolation may expand a config to
_MAX_RESOLVE_DEPTH = 200


_REFERENCE = re.compile(r"\$\{([A-Za-z0-9_.\-\[\]]*)\}")


def interpolated_paths(data: Any, path: tuple[str | int, ...], found: set[str]) -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            interpolated_paths(value, (*path, key), found)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            interpolated_paths(value, (*path, index), found)
    elif isinstance(data, str) and "${" in data:
        found.add(path_str(path))


def _has_interpolation(node: Any) -> bool:
    if isinstance(node, dict):
        return any(_has_interpolation(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_interpolation(v) for v in node)
    return isinstance(node, str) and "${" in node


def _reference_target(data: Any, reference: str) -> Any:
    """What ``${reference}`` points at, found as OmegaConf finds it (not ``keypath.get``: a list
    item may be addressed from the end, ``${x.-1}``, and the expansion estimate must count it).
    Raises KeyError, IndexError, ValueError or TypeError when it points at nothing."""
    node = data
    for part in reference.split(".") if reference else []:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _expansion_size(config: dict[str, Any]) -> int:
    """An upper estimate of the resolved config's size in characters, without resolving it.

    Interpolations can reference each other so that a small file expands exponentially
    (``b: ${a}${a}``, ``c: ${b}${b}``, ...); this finds that before OmegaConf tries.
    """
    # Keyed by the parts of each node's path, not a dotted string: a key holding dots ("a.b") is
    # not the node a.b, and sharing its entry would undercount what ${a.b} expands to.
    memo: dict[tuple[str, ...], int] = {}
    active: set[tuple[str, ...]] = set()

    def size_of(node: Any, at: tuple[str, ...]) -> int:
        if at in memo:
            return memo[at]
        if at in active:
            return 0  # a cycle; OmegaConf reports it
        active.add(at)
        total = 0
        if isinstance(node, dict):
            total = sum(len(str(k)) + size_of(v, (*at, str(k))) for k, v in node.items())
        elif isinstance(node, list):
            total = sum(1 + size_of(v, (*at, str(i))) for i, v in enumerate(node))
        elif isinstance(node, str) and "${" in node:
            total = len(node)
            for reference in _REFERENCE.findall(node):
                target = reference.replace("[", ".").replace("]", "")
                if target.startswith("."):
                    continue  # relative references are rare; their size is counted where they point
                with contextlib.suppress(KeyError, IndexError, ValueError, TypeError):
                    # an interpolation's dots always separate keys (OmegaConf cannot name "a.b")
                    total += size_of(_reference_target(config, target), tuple(target.split(".")) if target else ())
                if total > MAX_RESOLVED_CHARS:
                    break
        else:
            total = len(str(node))
        active.discard(at)
        memo[at] = total
        return total

    return size_of(config, ())


def resolve(
    plain: dict[str, Any], merged: DictConfig | None, sources: list[Source], report: Reporter
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
        cfg = merged if merged is not None else oc().create(plain)
    except Exception as err:
        report.add("", f"cannot compose the config ({type(err).__name__}: {str(err).splitlines()[0]})")
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # OmegaConf warns about `${oc.env:X,}`; the value is still right
        try:  # the common case: everything resolves; only "???" values are left to report
            resolved = oc().to_container(cfg, resolve=True, throw_on_missing=False)
        except Exception:  # some interpolation fails: walk node by node to say which, and why
            resolved = None
        if resolved is not None:
            return _drop_missing(resolved, (), sources, report)  # type: ignore[arg-type]
        walk = _Walk(plain, sources, report)
        result = walk.node(cfg, ())
        walk.report_failures()
        return result  # type: ignore[no-any-return]


def _drop_missing(node: Any, path: tuple[str | int, ...], sources: list[Source], report: Reporter) -> Any:
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

    def __init__(self, plain: dict[str, Any], sources: list[Source], report: Reporter) -> None:
        self.plain = plain
        self.sources = sources
        self.report = report
        self.budget = MAX_NODES * 5
        self.failures: list[tuple[str, Path, Exception]] = []  # (key path, its parts, error)
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
        if oc().is_missing(parent, key):
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
            self.failures.append((key_path, path, err))
            self.broken.add(key_path)
            return _SKIP
        return self.node(value, path)

    def _targets(self, at: Path) -> list[str]:
        """The references in the value at ``at`` (read by its parts: a key may hold dots)."""
        raw = keypath.get(self.plain, at)
        if not isinstance(raw, str):
            return []
        return [r.replace("[", ".").replace("]", "") for r in _REFERENCE.findall(raw)]

    def _refers_to(self, key_path: str, at: Path, paths: set[str]) -> bool:
        return any(
            t == p or t.startswith(p + ".") or p.startswith(t + ".")
            for t in self._targets(at)
            for p in paths
            if p != key_path
        )

    def report_failures(self) -> None:
        """Report root causes; a failure caused by another reported one (or an unset value) is not
        repeated. Failures that only refer to each other (a cycle) are all reported."""
        failed = {key_path for key_path, _at, _err in self.failures}
        unset = self.broken - failed
        roots = {k for k, at, _err in self.failures if not self._refers_to(k, at, self.broken)}
        for key_path, at, err in self.failures:
            consequence = key_path not in roots and self._refers_to(key_path, at, roots | unset)
            if type(err).__name__ == "InterpolationToMissingValueError" or consequence:
                self.report.reported.add(key_path)  # its root cause is reported where it is
            else:
                _report_interpolation_error(key_path, err, self.sources, self.report)


def _report_missing(key_path: str, sources: list[Source], report: Reporter) -> None:
    source = source_of(key_path, sources)
    origin = f" (the {source.group} group requires it)" if source and source.group else ""
    report.add(
        key_path, f"is required but not set{origin}", f"set {key_path} in this file, or pass -o {key_path}=VALUE"
    )


def _report_interpolation_error(key_path: str, err: Exception, sources: list[Source], report: Reporter) -> None:
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
    source = source_of(key_path, sources)
    message = f"cannot resolve the interpolation: {detail}"
    if source is None or source.kind == "user":
        report.add(key_path, message, hint)
    else:
        report_at_source(report, source, key_path, message, hint)
