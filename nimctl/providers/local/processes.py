"""Starting, stopping and watching the processes of local records.

``LocalProcesses`` (on ``LocalRegistry``) starts a command detached through the runner, stops a
record's process group (SIGTERM, SIGKILL after the grace period, confirmed gone, never a reused
pid), says whether a record's process is running (recovering the pid of a start cut short), and
reads how it ended from its exit file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from nimctl.providers.base import ProviderError, Rejected, Transient
from nimctl.providers.local.proc import RUNNER, boot_id, find_runner, group_members, is_running, proc_stat
from nimctl.providers.local.registry import LocalRegistry, read_json, unlink, write_json
from nimctl.providers.local.specs import process_env

DEFAULT_GRACE_S = 10.0
ENV_GRACE = "NIMCTL_LOCAL_GRACE_S"
KILL_CONFIRM_S = 5.0  # after SIGKILL, how long to wait for the group to disappear
NEVER_STARTED_S = 30.0  # a record without a pid this old belongs to a start that crashed


class LocalProcesses(LocalRegistry):
    """The processes of the registry's records: start, stop, liveness, how they ended."""

    def __init__(self, state_dir: str | Path, *, grace_period: float | None = None) -> None:
        super().__init__(state_dir)
        if grace_period is None:
            grace_period = float(os.environ.get(ENV_GRACE) or DEFAULT_GRACE_S)
        self.grace_period = grace_period
        # Processes this object started: polling them reaps them, so a dead child of a
        # long-lived nimctl process does not linger as a zombie.
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def _reap(self) -> None:
        for pid, child in list(self._children.items()):
            if child.poll() is not None:
                del self._children[pid]

    # -- starting and stopping processes -----------------------------------------------------------

    def _start(
        self,
        command: list[str],
        *,
        env: dict[str, str],
        log_path: Path,
        exit_path: Path,
        run_id: str,
        cwd: str | None,
        header: str,
        truncate: bool,
    ) -> tuple[int, int | None]:
        """Start ``command`` detached through the runner; (pid, start time) of the runner."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        unlink(exit_path)
        full_env = process_env(env)
        argv = [sys.executable, "-I", RUNNER, "--exit-file", str(exit_path), "--run-id", run_id, "--", *command]
        with open(log_path, "wb" if truncate else "ab") as log:
            log.write(header.encode())
            log.flush()
            try:
                child = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    env=full_env,
                    cwd=cwd,
                    close_fds=True,
                )
            except OSError as err:
                raise Rejected(f"cannot start {command[0]!r}: {err}") from err
        self._children[child.pid] = child
        stat = proc_stat(child.pid)
        return child.pid, stat.start_time if stat else None

    def _terminate(self, record: dict[str, Any], what: str) -> None:
        """Stop the record's process group: SIGTERM, SIGKILL after the grace period, confirm gone.

        A pid that exists but is not the recorded process (other start time or boot) was reused:
        it is never signalled. When the recorded leader is gone but members of its group are
        left, the group id cannot have been reused (the kernel keeps a pid while a group uses it).
        """
        if record.get("pid") is None:
            self._recover_pid(record)
        pid = record.get("pid")
        if pid is None or record.get("boot_id") != boot_id():
            return
        stat = proc_stat(pid)
        if stat is not None and stat.start_time != record.get("start_time"):
            return
        pgid = int(record.get("pgid") or pid)
        if not self._signal_group(pgid, signal.SIGTERM):
            return
        if self._wait_group_gone(pgid, self.grace_period):
            return
        self._signal_group(pgid, signal.SIGKILL)
        if not self._wait_group_gone(pgid, KILL_CONFIRM_S):
            raise Transient(
                f"{what}: processes {group_members(pgid)} are still running after SIGKILL",
                resource=record.get("name"),
                hint="check them with `ps`, then retry",
            )

    def _signal_group(self, pgid: int, sig: signal.Signals) -> bool:
        """Signal the group if it has live members; False when nothing was left to signal."""
        if not group_members(pgid):
            return False
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return False
        except PermissionError as err:
            raise Rejected(f"not allowed to signal process group {pgid}: {err}") from err
        return True

    def _wait_group_gone(self, pgid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            self._reap()
            if not group_members(pgid):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    # -- liveness and endings ----------------------------------------------------------------------

    def _process_running(self, record: dict[str, Any]) -> bool:
        if record.get("pid") is None:  # being started right now, or a start that crashed
            if self._recover_pid(record):
                return True
            starter = record.get("starter") or {}
            if starter and not is_running(starter.get("pid"), starter.get("start_time"), record.get("boot_id")):
                return False  # the starter died before starting anything
            return time.time() - float(record.get("created_at") or 0) < NEVER_STARTED_S
        return is_running(record.get("pid"), record.get("start_time"), record.get("boot_id"))

    def _recover_pid(self, record: dict[str, Any]) -> bool:
        """A record without a pid whose runner is alive: the start was cut short (kill -9) after
        the process began but before its pid was recorded. Record it now, so it can be stopped."""
        found = find_runner(str(record.get("run_id")))
        if found is None:
            return False
        record.update(pid=found[0], pgid=found[0], start_time=found[1])
        path = (
            self._endpoint_path(str(record["name"]))
            if record.get("kind") == "endpoint"
            else self._job_path(str(record["id"]))
        )
        if path.exists():
            write_json(path, record)
        return True

    def _exit_info(self, path: Path, run_id: str | None) -> dict[str, Any] | None:
        try:
            info = read_json(path)
        except ProviderError:
            return None
        return info if info is not None and info.get("run_id") == run_id else None


def ending(exit_info: dict[str, Any] | None) -> str:
    """How a process ended: "exit code 1", "signal 9" or "exit code unknown"."""
    if exit_info is None:
        return "exit code unknown"
    if exit_info.get("signal"):
        return f"signal {exit_info['signal']}"
    return f"exit code {exit_info.get('exit_code')}"


def exited_word(exit_info: dict[str, Any] | None) -> str:
    return f"Exited ({ending(exit_info)})"
