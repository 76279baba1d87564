"""Durations as users write them (``90``, ``90s``, ``30m``, ``6h``, ``2d``, ``1h30m``) → seconds,
and seconds → short text: a bound as set (``6h``, ``1h30m``, ``45s``: ``format_duration``), or an
age in one rounded-down unit (``5 min``, ``3 d``: ``format_age``).

One rule for every duration nimctl reads: ``deployment.lepton_config.max_lifetime``,
``nimctl gc --older-than``. A bare number is seconds.
"""

from __future__ import annotations

import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
_WHOLE = re.compile(r"^(?:\s*\d+(?:\.\d+)?\s*[smhd])+\s*$")
DURATION_HINT = "write a number of seconds or e.g. 90s, 30m, 6h, 2d, 1h30m"


def parse_duration(value: object) -> float | None:
    """Seconds, or None when ``value`` is not a duration (negative, empty, unknown unit, a bool)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if value >= 0 else None
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    if not _WHOLE.match(text):
        return None
    return float(sum(float(number) * _UNITS[unit] for number, unit in _PART.findall(text)))


def format_duration(seconds: float) -> str:
    """``21600`` → ``6h``, ``5400`` → ``1h30m``, ``45`` → ``45s`` (rounded to whole seconds)."""
    total = int(round(seconds))
    if total <= 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts[:2])  # two units are precise enough for a bound


def format_age(seconds: float) -> str:
    """How long ago, roughly: ``75`` → ``75 s``, ``3000`` → ``50 min``, ``7200`` → ``2 h``, ``2 d``."""
    if seconds < 90:
        return f"{int(seconds)} s"
    if seconds < 90 * 60:
        return f"{int(seconds // 60)} min"
    if seconds < 36 * 3600:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} d"
