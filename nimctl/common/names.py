"""Free text → the pieces of names nimctl derives from it.

``safe_component(text)`` keeps ``[A-Za-z0-9._-]`` and replaces each run of other characters
(``/``, spaces, ...), so the result is one file-system path component (callers still strip
leading dots and supply a fallback for an empty result). ``slugify(text)`` is lowercase letters,
digits and single hyphens: the base of endpoint, job and stack names.
"""

from __future__ import annotations

import re

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_component(text: str, replacement: str = "_") -> str:
    return _UNSAFE.sub(replacement, text)


def slugify(text: str) -> str:
    """Lowercase letters, digits and single hyphens."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]+", "-", text.lower())).strip("-")
