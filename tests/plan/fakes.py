"""An in-memory platform for the planner's unit tests: it implements the Provider protocol's read
side and counts calls. (Real providers are exercised in test_refresh_live.py.)"""

from __future__ import annotations

from nimctl.providers.base import EndpointInfo, JobInfo, NotFound, Transient


class MemoryPlatform:
    def __init__(self, name: str = "lepton") -> None:
        self.name = name
        self.endpoints: dict[str, EndpointInfo] = {}
        self.jobs: dict[str, JobInfo] = {}
        self.calls: list[str] = []
        self.fail_with: Exception | None = None

    def _call(self, what: str) -> None:
        self.calls.append(what)
        if self.fail_with is not None:
            raise self.fail_with

    def list_endpoints(self) -> list[EndpointInfo]:
        self._call("list_endpoints")
        return sorted(self.endpoints.values(), key=lambda e: e.name)

    def list_jobs(self) -> list[JobInfo]:
        self._call("list_jobs")
        return sorted(self.jobs.values(), key=lambda j: j.id)

    def get_endpoint(self, name: str) -> EndpointInfo:
        self._call("get_endpoint")
        if name not in self.endpoints:
            raise NotFound(f"endpoint {name} not found", resource=name)
        return self.endpoints[name]

    def get_job(self, job_id: str) -> JobInfo:
        self._call("get_job")
        if job_id not in self.jobs:
            raise NotFound(f"job {job_id} not found", resource=job_id)
        return self.jobs[job_id]

    def find_jobs(self, name: str) -> list[JobInfo]:
        self._call("find_jobs")
        return [j for j in self.jobs.values() if j.name == name]

    def add_endpoint(self, info: EndpointInfo) -> None:
        self.endpoints[info.name] = info

    def add_job(self, info: JobInfo) -> None:
        self.jobs[info.id] = info


def transient(platform: str = "lepton") -> Transient:
    return Transient(f"{platform}: 503 Service Unavailable after 5 attempts", resource="the endpoints")
