"""A short stable hash, the piece of the names nimctl derives for endpoints and jobs that tells
apart names whose slugs (``nimctl.common.names.slugify``) collide. What a valid name is lives in
``nimctl.config.rules`` (``lepton_name_problem``)."""

from __future__ import annotations

import hashlib


def short_hash(*parts: str, length: int = 6) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:length]
