"""Small caches of verdicts that are pure functions of their input, kept in the user's cache
directory: ``$NIMCTL_CACHE_DIR``, else ``$XDG_CACHE_HOME/nimctl``, else ``~/.cache/nimctl``.

A ``DigestSet`` remembers digests of inputs that passed some expensive check (the Lepton SDK's
model check of a spec, the schema check of a state file) so the check is not repeated for the same
input. Each file carries a ``scope`` (what the verdicts depend on: an SDK version, a schema hash);
a file of another scope, or one that cannot be read, counts as empty. Nothing here is needed for
correctness: a cache that cannot be written is simply not used.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from nimctl.common.files import write_atomic


def cache_dir() -> Path:
    explicit = os.environ.get("NIMCTL_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "nimctl"


class DigestSet:
    """A bounded set of digests persisted as ``<cache dir>/<name>`` (mode 0600), newest last.

    ``salt`` is random per file and kept in it: callers key their digests with it (HMAC) when the
    digested input may hold secrets.
    """

    def __init__(self, name: str, scope: str, *, limit: int = 20000) -> None:
        self.path = cache_dir() / name
        self.scope = scope
        self.limit = limit
        self.salt = ""
        self._digests: dict[str, None] = {}  # an insertion-ordered set
        self._changed = False
        self._load()

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = None
        if (
            isinstance(data, dict)
            and data.get("scope") == self.scope
            and isinstance(data.get("salt"), str)
            and isinstance(data.get("digests"), list)
        ):
            self.salt = data["salt"]
            self._digests = dict.fromkeys(d for d in data["digests"] if isinstance(d, str))
        else:
            self.salt = secrets.token_hex(16)

    def __contains__(self, digest: str) -> bool:
        return digest in self._digests

    def __len__(self) -> int:
        return len(self._digests)

    def add(self, digest: str) -> None:
        if digest not in self._digests:
            self._digests[digest] = None
            self._changed = True

    def save(self) -> None:
        if not self._changed:
            return
        kept = list(self._digests)[-self.limit :]
        payload = json.dumps({"scope": self.scope, "salt": self.salt, "digests": kept})
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Concurrent writers: the last one wins, which is harmless. A cache needs no fsync.
            write_atomic(self.path, payload, mode=0o600, fsync=False)
            self._changed = False
        except OSError:
            pass  # a cache that cannot be written is simply not used
