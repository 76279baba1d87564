"""The state file's content as typed records (the file format is documented in
``schemas/nimctl-state.schema.json``), and ``Version``, what a backend tells of one kept version
(``nimctl state history``). Secret values never appear here: specs are stored redacted (see
``nimctl.common.secrets``).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

STATE_VERSION = 1


class InvocationStatus(str, Enum):
    """Where an invocation is. Stored as its value (a plain string in the state file)."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    DESTROYED = "destroyed"

    def __str__(self) -> str:
        return self.value

    @property
    def finished(self) -> bool:
        return self is not InvocationStatus.RUNNING


class Op(str, Enum):
    """The provider call a pending entry announces. Stored as its value (a plain string in the
    state file); endpoints are created, updated and deleted, jobs submitted, stopped and deleted."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    SUBMIT = "submit"
    STOP = "stop"

    def __str__(self) -> str:
        return self.value


def now() -> float:
    return round(time.time(), 3)


@dataclass
class ResourceRecord:
    """A platform object nimctl manages (applied and, as far as nimctl knows, alive)."""

    address: str  # "endpoint.<name>" | "job.<stack>.<task>"
    type: str  # "endpoint" | "job"
    provider: str  # "lepton" | "local"
    stack: str
    name: str  # platform name
    platform_id: str | None  # platform id (Lepton job id; endpoint: its name)
    spec: dict[str, Any]  # applied spec, redacted
    inputs_hash: str | None = None  # jobs: inputs hash; endpoints: hash of the redacted spec
    observed: dict[str, Any] = field(default_factory=dict)  # {"state", "platform_state", "url", ...}
    invocation_id: str | None = None  # the invocation that created it
    created_at: float = field(default_factory=now)
    updated_at: float = field(default_factory=now)
    extra: dict[str, Any] = field(default_factory=dict)  # provider details (pid, port, results path)

    @property
    def is_shared(self) -> bool:
        """An endpoint this state uses but does not own (--share-existing): never modified or
        deleted, only forgotten."""
        return bool(self.extra.get("shared"))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResourceRecord:
        return cls(**data)


@dataclass
class Invocation:
    id: str  # 16 lowercase hex
    command: str  # e.g. "apply"
    started_at: float = field(default_factory=now)
    finished_at: float | None = None
    status: InvocationStatus = InvocationStatus.RUNNING
    config_files: list[str] = field(default_factory=list)
    config_hash: str | None = None
    created: list[str] = field(default_factory=list)  # addresses of resources it created
    job_results: dict[str, dict[str, Any]] = field(default_factory=dict)  # address -> result
    error: str | None = None
    # stack name -> what it applied (Stack.snapshot(): source file, redacted config, each task's
    # resolved name and model): what exports and comparisons read after the config has changed.
    stacks: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Invocation:
        return cls(**{**data, "status": InvocationStatus(data.get("status", InvocationStatus.RUNNING))})


@dataclass
class PendingEntry:
    """An intent, persisted *before* the provider call it describes and cleared after the
    outcome is recorded. Whatever survives a crash here is resolved against the platform by
    the next plan/apply/destroy."""

    id: str  # uuid4 hex
    op: Op
    address: str
    type: str  # "endpoint" | "job"
    provider: str
    name: str  # platform name (how a lost create is found again)
    invocation_id: str
    stack: str = ""
    platform_id: str | None = None  # known for update/delete/stop
    spec: dict[str, Any] = field(default_factory=dict)  # redacted spec being sent
    inputs_hash: str | None = None
    started_at: float = field(default_factory=now)

    def __post_init__(self) -> None:
        self.op = Op(self.op)  # read from a file (or given) as its word; unknown words raise ValueError

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PendingEntry:
        return cls(**data)

    def as_record(self) -> ResourceRecord:
        """The object this entry names, described as a state record (for an interrupted create
        that the plan adopts, or an entry ``state rm`` removes)."""
        return ResourceRecord(
            address=self.address,
            type=self.type,
            provider=self.provider,
            stack=self.stack,
            name=self.name,
            platform_id=self.platform_id or (self.name if self.type == "endpoint" else None),
            spec=dict(self.spec),
            inputs_hash=self.inputs_hash,
            invocation_id=self.invocation_id,
            created_at=self.started_at,
            updated_at=self.started_at,
        )


@dataclass
class State:
    lineage: str = field(default_factory=lambda: uuid.uuid4().hex)
    serial: int = 0
    version: int = STATE_VERSION
    resources: dict[str, ResourceRecord] = field(default_factory=dict)
    invocations: dict[str, Invocation] = field(default_factory=dict)
    pending: list[PendingEntry] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "lineage": self.lineage,
            "serial": self.serial,
            "resources": {k: v.to_dict() for k, v in sorted(self.resources.items())},
            "invocations": {k: v.to_dict() for k, v in self.invocations.items()},
            "pending": [p.to_dict() for p in self.pending],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> State:
        return cls(
            version=data["version"],
            lineage=data["lineage"],
            serial=data["serial"],
            resources={k: ResourceRecord.from_dict(v) for k, v in data.get("resources", {}).items()},
            invocations={k: Invocation.from_dict(v) for k, v in data.get("invocations", {}).items()},
            pending=[PendingEntry.from_dict(p) for p in data.get("pending", [])],
        )


@dataclass(frozen=True)
class Version:
    """One kept version of a state (``nimctl state history``)."""

    serial: int
    kind: str  # "snapshot" (a whole state) | "step" (one journal step)
    written_at: str  # ISO 8601, UTC
    written_by: str  # "user@host pid N (command)"
    summary: str
