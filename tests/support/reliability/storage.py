"""A state directory on a small file system of its own, for the storage-fault cases.

``ConfinedDir`` mounts a tmpfs of a given size over a directory inside a private mount namespace
(``unshare --user --map-root-user --mount``, no privileges needed where user namespaces are
allowed) held open by a sleeping process; commands run inside it through ``nsenter``. The
tmpfs can be filled, freed and remounted read-only: real ENOSPC and EROFS, not simulated ones.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

UNSHARE, NSENTER = shutil.which("unshare"), shutil.which("nsenter")


def available() -> str | None:
    """None when confined directories work here, else why not."""
    if not UNSHARE or not NSENTER:
        return "util-linux unshare/nsenter not installed"
    probe = subprocess.run(
        [UNSHARE, "--user", "--map-root-user", "--mount", "true"], capture_output=True, text=True, check=False
    )
    return None if probe.returncode == 0 else f"user namespaces unavailable: {probe.stderr.strip()}"


class ConfinedDir:
    def __init__(self, directory: Path, size_kib: int = 512) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        ready = directory.parent / f".{directory.name}.mounted"
        script = (
            f"mount -t tmpfs -o size={size_kib}k,mode=0700 tmpfs '{directory}' && touch '{ready}' && exec sleep 3600"
        )
        self.holder = subprocess.Popen(
            [UNSHARE, "--user", "--map-root-user", "--mount", "--propagation", "private", "sh", "-c", script]
        )
        deadline = time.monotonic() + 10
        while not ready.exists():
            if self.holder.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("could not mount the confined state directory")
            time.sleep(0.02)

    def argv(self, argv: list[str]) -> list[str]:
        """``argv`` run inside the namespace (it sees the tmpfs; the network is shared)."""
        return [NSENTER, "-t", str(self.holder.pid), "-U", "-m", "--preserve-credentials", *argv]

    def sh(self, command: str) -> None:
        subprocess.run(self.argv(["sh", "-c", command]), check=True, capture_output=True)

    def fill(self) -> None:
        """Fill the file system to the last byte."""
        subprocess.run(
            self.argv(["sh", "-c", f"cat /dev/zero > '{self.directory}/.filler' 2>/dev/null; true"]), check=True
        )

    def free(self) -> None:
        self.sh(f"rm -f '{self.directory}/.filler'")

    def read_only(self, on: bool) -> None:
        self.sh(f"mount -o remount,{'ro' if on else 'rw'} '{self.directory}'")

    def path(self, name: str) -> Path:
        """A file of the confined directory, as seen from outside the namespace."""
        return Path(f"/proc/{self.holder.pid}/root") / str(self.directory / name).lstrip("/")

    def close(self) -> None:
        self.holder.kill()
        self.holder.wait(10)
