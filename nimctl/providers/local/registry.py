"""The local registry directory (``<state_dir>/local/``, laid out in the package docstring).

Takes the state directory; gives each record's and exit file's path, atomic JSON reads and
writes (a damaged record is a ``ProviderError`` that says which file to delete), the salted
digest of a spec, the lock that serialises endpoint creates and deletes across processes, and
the last lines of a log file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets as pysecrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nimctl.common.files import write_atomic
from nimctl.providers.base import NotFound, ProviderError
from nimctl.providers.local.specs import NAME


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomic write: a reader sees the old record or the new one, never half of one."""
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True), mode=None)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
    except ValueError as err:
        raise ProviderError(
            f"the local registry file {path} is damaged ({err})",
            hint=f"if no process belongs to it any more, delete {path}",
        ) from err
    if not isinstance(data, dict):
        raise ProviderError(
            f"the local registry file {path} is damaged (not a JSON object)",
            hint=f"if no process belongs to it any more, delete {path}",
        )
    return data


def unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def tail_lines(path: Path, limit: int, max_bytes: int = 1_000_000) -> list[str]:
    """The last ``limit`` lines of a text file (reading at most ``max_bytes`` from its end)."""
    if limit <= 0:
        return []
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - max_bytes))
            data = handle.read()
    except FileNotFoundError:
        return []
    lines = data.decode("utf-8", errors="replace").splitlines()
    if size > max_bytes and lines:
        lines = lines[1:]  # the first line read is probably cut
    return lines[-limit:]


class LocalRegistry:
    """The registry directory of one state: paths, records, the salt of spec digests, the lock."""

    def __init__(self, state_dir: str | Path) -> None:
        self.root = Path(state_dir) / "local"

    def _endpoint_path(self, name: str) -> Path:
        return self.root / "endpoints" / f"{name}.json"

    def _endpoint_exit_path(self, name: str) -> Path:
        return self.root / "endpoints" / f"{name}.exit"

    def _job_path(self, job_id: str) -> Path:
        return self.root / "jobs" / f"{job_id}.json"

    def _job_exit_path(self, job_id: str) -> Path:
        return self.root / "jobs" / f"{job_id}.exit"

    def endpoint_log_path(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"

    def _salt(self) -> str:
        path = self.root / "salt"
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError), open(path, "x") as handle:
                handle.write(pysecrets.token_hex(16))
            return path.read_text().strip()

    def _digest(self, spec: dict[str, Any]) -> str:
        canonical = json.dumps(spec, sort_keys=True, default=str, separators=(",", ":"))
        return hashlib.sha256(f"{self._salt()}\0{canonical}".encode()).hexdigest()

    @contextlib.contextmanager
    def _registry_lock(self) -> Iterator[None]:
        """Serialises endpoint creates/deletes across threads and processes (a new open file
        description per acquisition, so threads of one process exclude each other too)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _endpoint_record(self, name: str) -> dict[str, Any]:
        record = read_json(self._endpoint_path(name))
        if record is None:
            raise NotFound(f"local endpoint {name} does not exist", resource=name)
        return record

    def _job_record(self, job_id: str) -> dict[str, Any]:
        record = read_json(self._job_path(job_id)) if NAME.match(str(job_id)) else None
        if record is None:
            raise NotFound(f"local job {job_id} does not exist", resource=job_id)
        return record
