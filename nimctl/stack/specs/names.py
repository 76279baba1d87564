"""Pieces of the names nimctl derives for endpoints and jobs: a slug of free text and a short
stable hash. What a valid name is lives in ``nimctl.config.rules`` (``lepton_name_problem``)."""

from __future__ import annotations

import hashlib
import re


def slugify(text: str) -> str:
    """Lowercase letters, digits and single hyphens."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]+", "-", text.lower())).strip("-")


def short_hash(*parts: str, length: int = 6) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:length]
