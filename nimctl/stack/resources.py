"""The typed desired resources that a validated config turns into (built by ``nimctl.stack.builder``).

These are the contract between config reading (upstream) and planning/applying (downstream):
nothing downstream re-reads YAML. Every type round-trips through plain dicts so that a saved
plan file can carry them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

PLATFORMS = ("lepton", "local")


@dataclass(frozen=True)
class ProbeToken:
    """How the readiness probe authenticates against the endpoint's OpenAI API.

    ``literal`` is set when the config holds the token value itself (a secret: never persisted,
    never printed); ``env_var`` names the environment variable that holds it when the endpoint
    uses ``token_name_ref``.
    """

    literal: str | None = None
    env_var: str | None = None

    def __repr__(self) -> str:  # never show the literal
        return f"ProbeToken(literal={'***' if self.literal else None}, env_var={self.env_var!r})"


@dataclass(frozen=True)
class DesiredEndpoint:
    stack: str
    name: str  # platform name (Lepton deployment name / local endpoint name)
    platform: str  # "lepton" | "local"
    # The exact spec the platform takes. For Lepton: LeptonDeploymentUserSpec JSON. For local:
    # {"command": [argv], "port": int|None, "env": {..}, "health_path": str, "host": "127.0.0.1"}.
    # May hold literal secret values: store/show only ``nimctl.common.secrets.redact_spec(...)``.
    spec: dict[str, Any] = field(repr=False)  # may hold literal tokens: never in a repr
    served_model_name: str = ""
    health_path: str = "/v1/health/ready"
    models_path: str = "/v1/models"
    readiness_timeout_s: float = 1200.0
    readiness_timeout_key: str = ""  # the config key that sets it (a timeout's hint names it)
    probe_token: ProbeToken | None = None
    source_file: str = ""
    # deployment.lepton_config.max_lifetime in seconds, and the spec of the scheduled job that
    # removes the endpoint when it ends (``nimctl.stack.lifetime``); None when not asked for.
    max_lifetime_s: float | None = None
    lifetime_job: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"endpoint.{self.name}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DesiredEndpoint:
        data = dict(data)
        token = data.pop("probe_token", None)
        return cls(probe_token=ProbeToken(**token) if token else None, **data)


@dataclass(frozen=True)
class DesiredJob:
    stack: str
    task: str  # the task name as the user wrote it
    resolved_task: str  # e.g. "lm-evaluation-harness.ifeval" or "nimctl.smoke"
    platform: str
    endpoint: str | None  # name of the stack's endpoint it targets; None when the target is external
    # The job spec without the per-invocation values (job name, endpoint URL), which
    # ``nimctl.stack.builder.render_job_spec`` fills in at apply time.
    spec_template: dict[str, Any] = field(repr=False)
    inputs_hash: str = ""  # task config + image/command + the endpoint's model-affecting fields
    model_id: str = ""
    api_key_env: str = "API_KEY"
    target_url: str | None = None  # fixed URL when the deployment is "none"
    name_slug: str = ""  # readable, hashed middle part of the job name (see job_name)
    source_file: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)  # e.g. "ifeval resolved to ..."
    time_limit_s: int | None = None  # the evaluation is stopped after this long
    time_limit_source: str = ""  # which key set it (file and line), or nimctl's default
    api_key_wiring: str = ""  # nimctl.stack.specs.key_wiring.KeyWiring value: how the key reaches the job
    # Lepton with a task mount: where the job's output directory is on storage ("<path>/<invocation
    # marker>/<task> on <from>"); None when the files stay in the container (or for local runs).
    results_storage: str | None = None

    @property
    def address(self) -> str:
        return f"job.{self.stack}.{self.task}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["notes"] = list(self.notes)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DesiredJob:
        data = dict(data)
        data["notes"] = tuple(data.get("notes", ()))
        return cls(**data)


@dataclass(frozen=True)
class Stack:
    """One config file's desired resources: at most one endpoint and N evaluation jobs."""

    name: str
    source_file: str
    platform: str
    endpoint: DesiredEndpoint | None
    jobs: tuple[DesiredJob, ...]
    output_dir: str
    destroy_after: bool = False
    warnings: tuple[str, ...] = field(default_factory=tuple)
    # The composed config, redacted (nimctl.common.secrets.redact_config): what exports log as the
    # run's parameters, and where their export:/execution.auto_export settings are read.
    config: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source_file": self.source_file,
            "platform": self.platform,
            "endpoint": self.endpoint.to_dict() if self.endpoint else None,
            "jobs": [j.to_dict() for j in self.jobs],
            "output_dir": self.output_dir,
            "destroy_after": self.destroy_after,
            "warnings": list(self.warnings),
            "config": self.config,
        }

    def snapshot(self) -> dict[str, Any]:
        """What an invocation records of this stack (secrets redacted): its file, its config and,
        per task, the resolved task and the model evaluated."""
        return {
            "source_file": self.source_file,
            "platform": self.platform,
            "config": self.config,
            "jobs": {j.task: {"resolved_task": j.resolved_task, "model_id": j.model_id} for j in self.jobs},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Stack:
        return cls(
            name=data["name"],
            source_file=data["source_file"],
            platform=data["platform"],
            endpoint=DesiredEndpoint.from_dict(data["endpoint"]) if data.get("endpoint") else None,
            jobs=tuple(DesiredJob.from_dict(j) for j in data["jobs"]),
            output_dir=data["output_dir"],
            destroy_after=data.get("destroy_after", False),
            warnings=tuple(data.get("warnings", ())),
            config=data.get("config") or {},
        )
