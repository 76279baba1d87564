"""The optional price table: resource shape → US dollars per replica-hour.

Where it comes from, first found wins:

1. ``NIMCTL_PRICES``: the path of a YAML price file;
2. the ``pricing:`` section of the user-level config file (``$NIMCTL_CONFIG``, else
   ``$XDG_CONFIG_HOME/nimctl/config.yaml``, else ``~/.config/nimctl/config.yaml``).

Both hold the same mapping: a shape to a number (``gpu.1xh200: 3.5``) or to
``{usd_per_replica_hour: 3.5, source: ..., as_of: ...}``; the reserved key ``notice`` is a text
shown next to every figure computed from the table (``examples/prices/example.yaml`` uses it to
say its values are examples). nimctl ships no price of its own: without a table, plans show
GPU-hours only. A table that cannot be read is an error (file, line, key), never a silent zero.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nimctl.common.errors import NimctlError

ENV_PRICES = "NIMCTL_PRICES"
ENV_USER_CONFIG = "NIMCTL_CONFIG"
PRICE_KEY = "usd_per_replica_hour"
HOW_TO_ADD = (
    f"to see dollars, set {ENV_PRICES} to a YAML file of shape: USD per replica-hour "
    "(see examples/prices/example.yaml), or add a pricing: section to ~/.config/nimctl/config.yaml"
)


@dataclass(frozen=True)
class PriceTable:
    source: str  # where it was read, e.g. "NIMCTL_PRICES=/path/prices.yaml"
    prices: dict[str, float] = field(default_factory=dict)  # lower-cased shape -> USD per replica-hour
    notice: str | None = None

    def price(self, shape: str | None) -> float | None:
        return self.prices.get(str(shape or "").strip().lower())

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "currency": "USD", "notice": self.notice, "prices": dict(self.prices)}


def user_config_path() -> Path:
    explicit = os.environ.get(ENV_USER_CONFIG)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "nimctl" / "config.yaml"


def load_prices() -> PriceTable | None:
    """The price table in effect, or None when none is configured."""
    explicit = os.environ.get(ENV_PRICES, "").strip()
    if explicit:
        path = Path(explicit).expanduser()
        root, lines = _read_yaml(path, f"{ENV_PRICES}={explicit}")
        return _table(root, lines, path, f"{ENV_PRICES}={path}", base_key="")
    path = user_config_path()
    if not path.is_file():
        return None
    root, lines = _read_yaml(path, str(path))
    if not isinstance(root, dict) or root.get("pricing") is None:
        return None
    return _table(root["pricing"], lines, path, f"{path} (pricing:)", base_key="pricing")


def _read_yaml(path: Path, named: str) -> tuple[Any, dict[tuple[str, ...], int]]:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise NimctlError(
            f"cannot read the price table {named}: {err.strerror or err}",
            hint=f"point {ENV_PRICES} at a readable YAML file, or unset it",
        ) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise NimctlError(
            f"{path}{where}: the price table is not valid YAML ({getattr(err, 'problem', None) or err})",
            hint="write one `shape: dollars per replica-hour` line per shape",
        ) from None
    return data, _key_lines(node)


def _key_lines(node: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], int]:
    """Line (1-based) of every mapping key, by its key path."""
    import yaml

    lines: dict[tuple[str, ...], int] = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            path = (*prefix, str(key.value))
            lines[path] = key.start_mark.line + 1
            lines.update(_key_lines(value, path))
    return lines


def _table(data: Any, lines: dict[tuple[str, ...], int], path: Path, source: str, *, base_key: str) -> PriceTable:
    base = (base_key,) if base_key else ()

    def fail(key: tuple[str, ...], message: str) -> NimctlError:
        line = lines.get((*base, *key)) or lines.get(base)
        dotted = ".".join((*base, *key)) or "(top level)"
        return NimctlError(
            f"{path}{f':{line}' if line else ''}: {dotted}: {message}",
            hint="each entry is `shape: dollars per replica-hour` (a number >= 0), e.g. gpu.1xh200: 3.5, "
            f"or `shape: {{{PRICE_KEY}: 3.5, source: ..., as_of: ...}}`",
        )

    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise fail((), "must be a mapping of resource shape to dollars per replica-hour")
    notice = data.get("notice")
    if notice is not None and not isinstance(notice, str):
        raise fail(("notice",), "must be text")
    prices: dict[str, float] = {}
    for shape, value in data.items():
        if shape == "notice":
            continue
        key = (str(shape),)
        if isinstance(value, dict):
            unknown = sorted(set(value) - {PRICE_KEY, "source", "as_of"})
            if unknown:
                raise fail(key, f"unknown key(s) {', '.join(map(str, unknown))}")
            value = value.get(PRICE_KEY)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise fail(key, f"{value!r} is not a price (dollars per replica-hour, >= 0)")
        prices[str(shape).strip().lower()] = float(value)
    return PriceTable(source=source, prices=prices, notice=notice)
