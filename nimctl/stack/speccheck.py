"""The Lepton SDK's own check of built specs (``nimctl.stack.builder.check_specs_with_sdk``), run only
where it is worth its cost.

Parsing a spec in the SDK's models needs ``leptonai`` imported: 0.6-0.9 s, three times all the
rest of a no-refresh ``plan``. The check is a second line of defence (validation should already
reject whatever the SDK would), and its verdict is a pure function of the spec and the SDK
version, so:

- a spec that passed once is remembered by digest in ``<cache dir>/sdk-checked.json`` (per SDK
  version) and never checked again; local-only configs never import the SDK at all;
- ``plan`` (refreshing) and ``apply`` check every spec the cache does not vouch for, importing the
  SDK — they talk to Lepton anyway, and apply does so before any side effect;
- ``plan --refresh=false`` (the offline, instant preview) only consults the cache and says how many
  specs it left unchecked.

Digests are HMACs keyed with a random salt kept in the cache file (mode 0600), as the state's
secret fingerprints are salted: the cache holds no secret, and no digest a guessed secret can be
checked against without that file. See ``nimctl.common.usercache`` for where the file lives.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nimctl.common.usercache import DigestSet
from nimctl.stack.builder import PLACEHOLDER_INVOCATION, job_name
from nimctl.stack.resources import Stack

CACHE_FILE = "sdk-checked.json"
# Bump when check_specs_with_sdk learns a new rule: every spec is then checked again.
CHECK_VERSION = 1


@dataclass
class CheckOutcome:
    problems: list[str] = field(default_factory=list)
    checked: int = 0  # specs parsed by the SDK in this call
    remembered: int = 0  # specs the cache vouched for
    unchecked: int = 0  # specs left unchecked (cache only, not vouched for)


def sdk_version() -> str | None:
    """The installed leptonai version, read without importing leptonai (None when not installed).

    Its ``_version.py`` is read directly: ``importlib.metadata`` alone costs ~15 ms to import."""
    import importlib.util
    import re

    try:
        spec = importlib.util.find_spec("leptonai")
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.origin:
        try:
            text = Path(spec.origin).with_name("_version.py").read_text(encoding="utf-8")
        except OSError:
            text = ""
        match = re.search(r"__version__\s*=\s*(?:version\s*=\s*)?['\"]([^'\"]+)['\"]", text)
        if match:
            return match.group(1)
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("leptonai")
    except PackageNotFoundError:
        return None


def _items(stacks: Sequence[Stack]) -> list[tuple[str, Stack, Any]]:
    """(kind, stack, endpoint or job) for every Lepton spec the SDK check covers."""
    items: list[tuple[str, Stack, Any]] = []
    for stack in stacks:
        if stack.endpoint is not None and stack.endpoint.platform == "lepton":
            items.append(("endpoint", stack, stack.endpoint))
        items += [("job", stack, job) for job in stack.jobs if job.platform == "lepton"]
    return items


def _digest(kind: str, item: Any, salt: str) -> str:
    """HMAC-SHA256 keyed with the cache's random salt: like the state's secret fingerprints, a
    digest cannot be matched against guessed secrets without the salt."""
    if kind == "endpoint":
        body: dict[str, Any] = {"spec": item.spec, "lifetime_job": item.lifetime_job}
    else:
        body = {"name": job_name(item, PLACEHOLDER_INVOCATION), "spec": item.spec_template}
    text = json.dumps({"kind": kind, **body}, sort_keys=True, separators=(",", ":"), default=str)
    return hmac.new(salt.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()


def _single(kind: str, stack: Stack, item: Any) -> Stack:
    if kind == "endpoint":
        return dataclasses.replace(stack, endpoint=item, jobs=())
    return dataclasses.replace(stack, endpoint=None, jobs=(item,))


def check_lepton_specs(stacks: Sequence[Stack], *, may_import_sdk: bool) -> CheckOutcome:
    """Problems the SDK finds in the stacks' Lepton specs, checking only what is not known good.

    With ``may_import_sdk=False`` nothing is imported: specs the cache does not vouch for are
    counted in ``unchecked``.
    """
    outcome = CheckOutcome()
    items = _items(stacks)
    if not items:
        return outcome
    sdk = sdk_version()
    if sdk is None:
        outcome.unchecked = len(items)
        return outcome
    cache = DigestSet(CACHE_FILE, scope=f"leptonai {sdk}; check {CHECK_VERSION}")
    todo = []
    for kind, stack, item in items:
        digest = _digest(kind, item, cache.salt)
        if digest in cache:
            outcome.remembered += 1
        else:
            todo.append((digest, kind, stack, item))
    if not todo:
        return outcome
    if not may_import_sdk:
        outcome.unchecked = len(todo)
        return outcome
    from nimctl.providers.sdk import prepare as prepare_sdk
    from nimctl.stack.builder import check_specs_with_sdk

    prepare_sdk()  # the SDK's models without its photon client (fastapi, httpx): ~0.3 s less
    passed = 0
    for digest, kind, stack, item in todo:
        found = check_specs_with_sdk([_single(kind, stack, item)])
        outcome.checked += 1
        if found:
            outcome.problems += found
        else:
            cache.add(digest)
            passed += 1
    if passed:
        cache.save()
    return outcome


def raise_on_problems(outcome: CheckOutcome) -> None:
    if outcome.problems:
        from nimctl.common.errors import NimctlError

        raise NimctlError(
            "a built spec does not parse in the Lepton SDK's models:\n  " + "\n  ".join(outcome.problems),
            hint="this is a gap in validation; please report it with your config",
        )
