"""The ownership marker: who created a platform object, recorded on the object itself.

Every endpoint and job nimctl creates carries a marker that survives the loss of the state file:

| field        | env entry (spec)           | job label          | what                                   |
|--------------|----------------------------|--------------------|----------------------------------------|
| lineage      | ``NIMCTL_OWNER_LINEAGE``    | ``nimctl-lineage``  | the creating state's lineage (identity) |
| state        | ``NIMCTL_OWNER_STATE``      | –                  | where that state lives (``file:<abs path>``; never credentials) |
| stack        | ``NIMCTL_OWNER_STACK``      | ``nimctl-stack``    | the stack (config) it belongs to        |
| invocation   | ``NIMCTL_OWNER_INVOCATION`` | ``nimctl-invocation`` | the invocation that created it       |
| user         | ``NIMCTL_OWNER_USER``       | ``nimctl-user``     | the OS user who ran it                  |
| host         | ``NIMCTL_OWNER_HOST``       | ``nimctl-host``     | the machine it ran on (and a file state's host) |
| created_at   | ``NIMCTL_OWNER_CREATED``    | ``nimctl-created``  | epoch seconds of the create             |
| endpoint     | ``NIMCTL_OWNER_ENDPOINT``   | ``nimctl-endpoint`` | jobs: the endpoint they run against     |

Where it is carried:

- **in the spec's environment**, on every platform and both Lepton endpoint API families (the new
  ``/endpoints`` API refuses ``metadata.labels``; both keep ``envs``): Lepton ``envs`` entries
  ``{name, value}``, local ``env`` mapping entries (so the local registry record and the process
  environment hold it too);
- **as job labels** on Lepton (label keys may not contain ``/``; values are cut to the label value
  rule), so a job listing can be filtered by ``nimctl-lineage=<lineage>``.

The marker is added at the provider boundary only (``mark``) and never enters a desired or
recorded spec: the planner compares specs without it (``strip``), so the invocation and time
that differ on every create never cause a diff or a replacement. The refresh reads it back
(``read``) to tell this state's objects from foreign ones. ``nimctl gc`` reads the same fields
(lineage, state, host, user, created_at) to find objects whose state no longer records them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nimctl.common.durations import format_age
from nimctl.config.rules import OWNER_ENV_PREFIX

LABEL_PREFIX = "nimctl-"
MARKER_VERSION = "1"

# field -> env suffix; the order is the order of the env entries added to a spec.
_ENV_FIELDS: dict[str, str] = {
    "version": "VERSION",
    "lineage": "LINEAGE",
    "state": "STATE",
    "stack": "STACK",
    "invocation": "INVOCATION",
    "user": "USER",
    "host": "HOST",
    "created_at": "CREATED",
    "endpoint": "ENDPOINT",
}
# Fields also carried as job labels (not the state locator: a path holds '/').
_LABEL_FIELDS = ("lineage", "stack", "invocation", "user", "host", "created_at", "endpoint")
_LABEL_VALUE_BAD = re.compile(r"[^A-Za-z0-9._-]+")
_LABEL_VALUE_MAX = 63


def env_name(field_name: str) -> str:
    """The spec env entry that carries ``field_name``."""
    return OWNER_ENV_PREFIX + _ENV_FIELDS[field_name]


def label_key(field_name: str) -> str:
    """The job label key that carries ``field_name`` (no '/', within Lepton's key rule)."""
    return LABEL_PREFIX + field_name.replace("_", "-").removesuffix("-at")


def is_marker_env(name: Any) -> bool:
    return isinstance(name, str) and name.startswith(OWNER_ENV_PREFIX)


def _label_value(value: str) -> str:
    cleaned = _LABEL_VALUE_BAD.sub("-", value)[:_LABEL_VALUE_MAX].strip("-._")
    return cleaned


def current_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER
        return "unknown"


def current_host() -> str:
    import socket

    return socket.gethostname() or "unknown"


@dataclass(frozen=True)
class Marker:
    """Who created an object. ``lineage`` is the identity that matters; the rest describes."""

    lineage: str
    state: str = ""
    stack: str = ""
    invocation: str = ""
    user: str = ""
    host: str = ""
    created_at: float = 0.0
    endpoint: str = ""  # jobs: the endpoint name they target
    version: str = MARKER_VERSION
    extra: dict[str, str] = field(default_factory=dict, compare=False)  # unknown NIMCTL_OWNER_* entries

    @classmethod
    def new(cls, *, lineage: str, state: str, stack: str, invocation: str, endpoint: str = "") -> Marker:
        return cls(
            lineage=lineage,
            state=state,
            stack=stack,
            invocation=invocation,
            user=current_user(),
            host=current_host(),
            created_at=float(int(time.time())),
            endpoint=endpoint,
        )

    # -- encodings ----------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        """NAME -> value, in a fixed order."""
        out: dict[str, str] = {}
        for name in _ENV_FIELDS:
            value = getattr(self, name)
            if name == "created_at":
                value = str(int(value)) if value else ""
            if value:
                out[env_name(name)] = str(value)
        return out

    def labels(self) -> dict[str, str]:
        """Job labels (Lepton): keys ``nimctl-<field>``, values cut to the label value rule."""
        out: dict[str, str] = {}
        for name in _LABEL_FIELDS:
            value = getattr(self, name)
            if name == "created_at":
                value = str(int(value)) if value else ""
            text = _label_value(str(value)) if value else ""
            if text:
                out[label_key(name)] = text
        return out

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "lineage": self.lineage,
            "state": self.state,
            "stack": self.stack,
            "invocation": self.invocation,
            "user": self.user,
            "host": self.host,
            "created_at": self.created_at,
        }
        if self.endpoint:
            data["endpoint"] = self.endpoint
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Marker:
        return cls(
            lineage=str(data.get("lineage") or ""),
            state=str(data.get("state") or ""),
            stack=str(data.get("stack") or ""),
            invocation=str(data.get("invocation") or ""),
            user=str(data.get("user") or ""),
            host=str(data.get("host") or ""),
            created_at=_float(data.get("created_at")),
            endpoint=str(data.get("endpoint") or ""),
        )

    # -- for people ---------------------------------------------------------------------------
    def age(self, at: float | None = None) -> float | None:
        """Seconds since the create, or None when unknown."""
        if not self.created_at:
            return None
        return max(0.0, (time.time() if at is None else at) - self.created_at)

    def describe(self, at: float | None = None) -> str:
        """ "created by alice@ws-3, state lineage 4f3a…, invocation 78b2…, 2 h ago"."""
        who = "@".join(p for p in (self.user, self.host) if p) or "an unknown user"
        parts = [f"created by {who}", f"state lineage {self.lineage[:8]}…"]
        if self.state:
            parts.append(f"state {self.state}")
        if self.invocation:
            parts.append(f"invocation {self.invocation[:8]}…")
        age = self.age(at)
        if age is not None:
            parts.append(f"{format_age(age)} ago")
        return ", ".join(parts)


def _float(value: Any) -> float:
    try:
        return float(value) if value not in (None, "") else 0.0
    except (TypeError, ValueError):
        return 0.0


# -- specs ------------------------------------------------------------------------------------


def mark(spec: dict[str, Any], marker: Marker, *, local_spec: bool) -> dict[str, Any]:
    """A copy of a platform spec with the marker added to its environment (replacing any marker
    already there). Lepton specs carry ``envs: [{name, value}]``; local specs (``local_spec``)
    an ``env: {NAME: value}`` mapping."""
    out = strip(spec)
    entries = marker.env()
    if local_spec:
        out["env"] = {**(out.get("env") or {}), **entries}
    else:
        out["envs"] = [*(out.get("envs") or []), *({"name": k, "value": v} for k, v in entries.items())]
    return out


def strip(spec: Mapping[str, Any] | None) -> dict[str, Any]:
    """A shallow copy of ``spec`` without marker entries: what the planner compares. The env
    list or mapping stays (possibly empty); a key the applied spec lacks is not compared anyway."""
    if not spec:
        return {}
    out = dict(spec)
    envs = out.get("envs")
    if isinstance(envs, list):
        out["envs"] = [e for e in envs if not (isinstance(e, dict) and is_marker_env(e.get("name")))]
    env = out.get("env")
    if isinstance(env, dict):
        out["env"] = {k: v for k, v in env.items() if not is_marker_env(k)}
    return out


def read(spec: Mapping[str, Any] | None, labels: Mapping[str, Any] | None = None) -> Marker | None:
    """The marker an object carries (spec env first, then job labels), or None when it has none:
    then nimctl did not create it (or a nimctl before markers did)."""
    values: dict[str, str] = {}
    if spec:
        envs = spec.get("envs")
        if isinstance(envs, list):
            for entry in envs:
                if isinstance(entry, dict) and is_marker_env(entry.get("name")) and isinstance(entry.get("value"), str):
                    values[entry["name"]] = entry["value"]
        env = spec.get("env")
        if isinstance(env, dict):
            values.update({k: str(v) for k, v in env.items() if is_marker_env(k)})
    by_env = {suffix: name for name, suffix in _ENV_FIELDS.items()}
    data: dict[str, Any] = {}
    extra: dict[str, str] = {}
    for name, value in values.items():
        field_name = by_env.get(name.removeprefix(OWNER_ENV_PREFIX))
        if field_name:
            data[field_name] = value
        else:
            extra[name] = value
    if not data.get("lineage") and labels:
        for name in _LABEL_FIELDS:
            label = labels.get(label_key(name))
            if isinstance(label, str) and label:
                data.setdefault(name, label)
    if not data.get("lineage"):
        return None
    marker = Marker.from_dict(data)
    return Marker(**{**marker.__dict__, "version": data.get("version") or MARKER_VERSION, "extra": extra})


def owned_by(marker: Marker | None, lineage: str) -> bool:
    """Whether an object recorded in the state with lineage ``lineage`` is still that state's:
    a marker of another lineage means someone else's object took the recorded name. An unmarked
    object counts as the state's own (created before markers existed; the record is the proof)."""
    return marker is None or marker.lineage == lineage


def proves(marker: Marker | None, lineage: str, invocation: str) -> bool:
    """Whether an object found live under a name an interrupted create journaled was made by that
    create: it must carry the journaling state's lineage and invocation. Only then is it adopted."""
    return marker is not None and marker.lineage == lineage and marker.invocation == invocation


def state_locator(path: Any) -> str:
    """How a marker names a file state: ``file:<absolute path>``. Other state backends give their
    own locator (without credentials)."""
    from pathlib import Path

    return f"file:{Path(str(path)).resolve()}"
