"""Who holds a state lock: ``LockInfo`` ({lock_id, pid, host, user, command, started_at}).

Both backends' locks give one (the file lock's ``<state>.lock.info``, PostgreSQL's holder row),
and ``LockedError`` carries the holder's. Imports nothing from nimctl, so the errors and the
locks can both depend on it.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class LockInfo:
    lock_id: str
    pid: int
    host: str
    user: str
    command: str
    started_at: str  # ISO 8601, UTC

    @classmethod
    def for_this_process(cls, command: str) -> LockInfo:
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return cls(
            lock_id=uuid.uuid4().hex,
            pid=os.getpid(),
            host=socket.gethostname(),
            user=current_user(),
            command=command,
            started_at=started,
        )

    def describe(self) -> str:
        return (
            f"pid {self.pid} on {self.host} (user {self.user}), command {self.command!r}, "
            f"since {self.started_at}, lock id {self.lock_id}"
        )

    def on_this_host(self) -> bool:
        return self.host == socket.gethostname()


def current_user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return os.environ.get("USER") or str(os.getuid())
