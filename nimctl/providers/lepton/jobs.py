"""Lepton jobs: submit (adopting the job an ambiguous submit created, never one job for two
submits), read, list (alive and archived), stop and delete.

``LeptonJobs`` is the job part of ``LeptonProvider``, on ``LeptonClient``'s call layer.
"""

from __future__ import annotations

import time
from typing import Any

from nimctl.providers.base import Conflict, JobInfo, NotFound
from nimctl.providers.lepton.client import LeptonClient
from nimctl.providers.lepton.failures import secret_values
from nimctl.providers.lepton.translate import (
    DELETING,
    dump,
    job_info,
    job_model,
    spec_matches,
    state_word,
    with_host_values,
)
from nimctl.providers.retry import Budget
from nimctl.providers.sdk import prepare as prepare_sdk

# How far apart the local clock and Lepton's may be when deciding whether a job of our name
# found after an ambiguous submit was created by this submit (and not by an earlier run).
JOB_ADOPTION_WINDOW_S = 300.0


class LeptonJobs(LeptonClient):
    """The job methods of ``base.Provider`` on Lepton."""

    # Job ids this provider created or adopted (created by LeptonProvider.__init__).
    _claimed_jobs: set[str]

    def submit_job(self, name: str, spec: dict[str, Any]) -> JobInfo:
        spec, host_values = with_host_values(spec, f"job {name}")
        model = job_model(name, spec)
        sent = dump(model.spec)
        secrets = secret_values(spec) + host_values
        budget = self._budget()
        started = time.time()
        while True:
            job, failure = self._attempt(lambda: self.client.job.create(model), secrets)
            if failure is None:
                return self._claim(job_info(job))  # type: ignore[arg-type]
            if failure.kind == "conflict" or (failure.kind == "transient" and failure.ambiguous):
                found = self._find_submitted(name, sent, started, budget)
                if found is not None:
                    return self._claim(found)
                if failure.kind == "conflict":
                    raise Conflict(
                        f"a job named {name} already exists in Lepton workspace "
                        f"{self.workspace} and is not the one this run submits",
                        resource=f"job {name}",
                        status=409,
                        hint=f"delete it (`lep job remove -i <id>` for the job named {name}) "
                        "or re-run with a new invocation",
                    )
            if failure.kind == "transient" and budget.wait(failure.detail, failure.retry_after):
                continue
            raise self._error(failure, action="submit", resource=f"job {name}", budget=budget)

    def _claim(self, info: JobInfo) -> JobInfo:
        with self._lock:
            self._claimed_jobs.add(info.id)
        return info

    def _find_submitted(self, name: str, sent: dict[str, Any], started: float, budget: Budget) -> JobInfo | None:
        """The job an ambiguous submit of ``name`` created, if it exists: same name, the spec we
        sent, created during this submit (allowing for clock skew), not claimed by another submit."""
        candidates = []
        for job in self._jobs_named(name, budget):
            with self._lock:
                claimed = job.id in self._claimed_jobs
            recent = job.created_at is None or job.created_at >= started - JOB_ADOPTION_WINDOW_S
            if not claimed and recent and spec_matches(sent, job.spec):
                candidates.append(job)
        return max(candidates, key=lambda j: j.created_at or 0.0) if candidates else None

    def _list_jobs(self, budget: Budget, q: str | None = None) -> list[JobInfo]:
        prepare_sdk()
        from leptonai.api.v2.types.job import LeptonJobQueryMode

        # alive_and_archive: running jobs and finished ones (also those past their TTL), so a
        # refresh learns how a job ended. The SDK pages (500 a page) until an empty page.
        jobs = self._call(
            lambda: self.client.job.list_all(job_query_mode=LeptonJobQueryMode.AliveAndArchive.value, q=q),
            action="list",
            resource="the jobs",
            budget=budget,
        )
        unique: dict[str, JobInfo] = {}
        for job in jobs:
            info = job_info(job)
            unique.setdefault(info.id, info)  # a job can show in both the alive and archive sets
        return list(unique.values())

    def _jobs_named(self, name: str, budget: Budget) -> list[JobInfo]:
        # q narrows the listing server-side (substring match); the exact match is ours.
        return [j for j in self._list_jobs(budget, q=name) if j.name == name]

    def get_job(self, job_id: str) -> JobInfo:
        job = self._call(
            lambda: self.client.job.get(job_id), action="read", resource=f"job {job_id}", budget=self._budget()
        )
        return job_info(job)

    def find_jobs(self, name: str) -> list[JobInfo]:
        return self._jobs_named(name, self._budget())

    def list_jobs(self) -> list[JobInfo]:
        return self._list_jobs(self._budget())

    def stop_job(self, job_id: str) -> None:
        budget = self._budget()
        try:
            # The SDK sends this dict as the merge patch body, as `lep job stop` does; setting
            # stopped=true twice is harmless, so it is retried like a read.
            self._call(
                lambda: self.client.job.update(job_id, {"spec": {"stopped": True}}),
                action="stop",
                resource=f"job {job_id}",
                budget=budget,
            )
        except Conflict:
            # Lepton refuses to patch a job that is being deleted: it is going away, which is
            # more than stopped.
            job = self._call(
                lambda: self.client.job.get(job_id), action="read", resource=f"job {job_id}", budget=budget
            )
            if state_word(job.status.state if job.status else None) not in (DELETING, "Deleted"):
                raise

    def delete_job(self, job_id: str) -> None:
        budget = self._budget()

        def gone_or_going() -> bool:
            try:
                job = self._call(
                    lambda: self.client.job.get(job_id), action="read", resource=f"job {job_id}", budget=budget
                )
            except NotFound:
                return True
            return state_word(job.status.state if job.status else None) in (DELETING, "Deleted", "Archived")

        self._delete(lambda: self.client.job.delete(job_id), gone_or_going, resource=f"job {job_id}", budget=budget)
