"""Local jobs: a process per job, its output in ``<output_dir>/job.log``, its end read from the
exit file the runner writes (succeeded, failed, stopped).

``LocalJobs`` is the job part of ``LocalProvider``, on ``LocalProcesses``.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

from nimctl.common.checkpoints import checkpoint
from nimctl.providers.base import JobInfo, JobState, Rejected
from nimctl.providers.local.network import free_port
from nimctl.providers.local.proc import boot_id, starter
from nimctl.providers.local.processes import LocalProcesses, ending
from nimctl.providers.local.registry import read_json, unlink, write_json
from nimctl.providers.local.specs import check_command, check_env, check_name, env_from, mask_secrets

ADAPTER_PORT_ENV = "ADAPTER_PORT"  # where nemo-evaluator's adapter proxy listens (see submit_job)


class LocalJobs(LocalProcesses):
    """The job methods of ``base.Provider`` on this machine."""

    def submit_job(self, name: str, spec: dict[str, Any]) -> JobInfo:
        check_name("job", name)
        if not isinstance(spec, dict):
            raise Rejected(f"local job {name}: the spec must be a mapping", resource=name)
        cwd = spec.get("cwd")
        if cwd is not None and not Path(cwd).is_dir():
            raise Rejected(f"local job {name}: working directory {cwd} does not exist", resource=name)
        env = {**check_env("job", name, spec.get("env")), **env_from("job", name, spec)}
        command = check_command("job", name, spec.get("command"), cwd, env)
        if ADAPTER_PORT_ENV not in env and ADAPTER_PORT_ENV not in os.environ:
            # Jobs on a real platform each have their own network; here they share this machine's.
            # nemo-evaluator's adapter proxy takes the first free port from 3825, and two harness
            # jobs started together can both pick it and mix requests: each job gets a port of its
            # own from the kernel's ephemeral range instead.
            env[ADAPTER_PORT_ENV] = str(free_port("127.0.0.1"))
        output_dir = spec.get("output_dir")
        if not isinstance(output_dir, str) or not output_dir:
            raise Rejected(f"local job {name}: 'output_dir' is required", resource=name)
        out = Path(output_dir)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise Rejected(f"local job {name}: cannot create output directory {out}: {err}", resource=name) from err
        job_id = uuid.uuid4().hex
        record: dict[str, Any] = {
            "kind": "job",
            "id": job_id,
            "name": name,
            "run_id": job_id,
            "pid": None,
            "pgid": None,
            "start_time": None,
            "boot_id": boot_id(),
            "spec": mask_secrets(spec),
            "created_at": time.time(),
            "log": str(out / "job.log"),
            "output_dir": str(out),
            "starter": starter(),
        }
        write_json(self._job_path(job_id), record)
        checkpoint("local:recorded-before-start:job")
        header = f"---- nimctl: job {name} ({job_id}) started at {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
        try:
            pid, start = self._start(
                command,
                env=env,
                log_path=out / "job.log",
                exit_path=self._job_exit_path(job_id),
                run_id=job_id,
                cwd=cwd,
                header=header,
                truncate=True,
            )
        except Rejected as err:
            unlink(self._job_path(job_id))
            raise Rejected(f"local job {name}: {err.message}", resource=name) from err
        checkpoint("local:started-before-recorded:job")
        record.update(pid=pid, pgid=pid, start_time=start)
        write_json(self._job_path(job_id), record)
        return self._job_info(record)

    def get_job(self, job_id: str) -> JobInfo:
        self._reap()
        return self._job_info(self._job_record(job_id))

    def _job_records(self) -> list[dict[str, Any]]:
        records = []
        for path in sorted((self.root / "jobs").glob("*.json")):
            record = read_json(path)
            if record is not None:
                records.append(record)
        return records

    def find_jobs(self, name: str) -> list[JobInfo]:
        self._reap()
        return [self._job_info(r) for r in self._job_records() if r.get("name") == name]

    def list_jobs(self) -> list[JobInfo]:
        self._reap()
        return [self._job_info(r) for r in self._job_records()]

    def _job_info(self, record: dict[str, Any]) -> JobInfo:
        job_id = str(record["id"])
        running = self._process_running(record)
        # Read the exit file after the liveness check: the runner writes it before it exits,
        # so a process seen gone has its exit file in place by now.
        exit_info = self._exit_info(self._job_exit_path(job_id), record.get("run_id"))
        stopped = record.get("stop_requested_at") is not None
        extra: dict[str, Any] = {key: record.get(key) for key in ("pid", "start_time", "log", "output_dir")}
        finished_at = None
        if exit_info is not None:
            code = exit_info.get("exit_code")
            extra["exit_code"] = code
            finished_at = exit_info.get("ended_at")
            if code == 0:
                state, word = JobState.SUCCEEDED, "Completed (exit code 0)"
            elif stopped:
                state, word = JobState.STOPPED, f"Stopped ({ending(exit_info)})"
            else:
                state, word = JobState.FAILED, f"Failed ({ending(exit_info)})"
        elif record.get("pid") is None:
            state, word = (JobState.PENDING, "Starting") if running else (JobState.FAILED, "Never started")
        elif running:
            state, word = (JobState.STOPPED, "Stopping") if stopped else (JobState.RUNNING, "Running")
        elif stopped:
            state, word = JobState.STOPPED, "Stopped"
            finished_at = record.get("stopped_at")
        else:
            state, word = JobState.FAILED, f"Failed ({ending(None)})"
        return JobInfo(
            id=job_id,
            name=str(record.get("name")),
            state=state,
            platform_state=word,
            spec=record.get("spec") or {},
            created_at=record.get("created_at"),
            finished_at=finished_at,
            extra=extra,
        )

    def stop_job(self, job_id: str) -> None:
        record = self._job_record(job_id)
        if self._job_info(record).state.terminal:
            return
        record["stop_requested_at"] = time.time()
        write_json(self._job_path(job_id), record)
        self._terminate(record, f"local job {record.get('name')} ({job_id})")
        record["stopped_at"] = time.time()
        write_json(self._job_path(job_id), record)

    def delete_job(self, job_id: str) -> None:
        record = self._job_record(job_id)
        self._terminate(record, f"local job {record.get('name')} ({job_id})")
        unlink(self._job_path(job_id))
        unlink(self._job_exit_path(job_id))
