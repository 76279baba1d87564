"""Lepton's naming, path and limit rules, as plain data and small checks.

Shared by config validation and by the stack builder (which derives endpoint and job names),
so both apply the same rules. The rules follow the Lepton SDK's client-side checks; endpoint
names have no published rule, so they are held to the job-name rule.
"""

from __future__ import annotations

import posixpath
import re

from nimctl.common.names import slugify

# Env names nimctl's ownership marker uses (nimctl.stack.ownership); a config may not set them.
OWNER_ENV_PREFIX = "NIMCTL_OWNER_"
# Lepton refuses a no-traffic timeout between 0 (off) and 60 s (`lep endpoint create`'s check).
MIN_SCALE_DOWN_TIMEOUT_S = 60
MIN_MAX_LIFETIME_S = 600  # shorter than a NIM cold start: the endpoint would go before serving
LIFETIME_KEY = "deployment.lepton_config.max_lifetime"
# Finished jobs (eval and lifetime jobs alike) stay visible for three days (the `lep` CLI's
# default), so their logs and status can still be read; nimctl's state remembers the outcome after that.
JOB_TTL_SECONDS = 3 * 24 * 3600

MAX_NAME_LENGTH = 36
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]*$")
# The hint shown with any name that breaks the rule above.
NAME_RULE_HINT = (
    f"Lepton names: at most {MAX_NAME_LENGTH} characters, lowercase letters, digits and '-', starting with a letter"
)
ENV_NAME_PATTERN = re.compile(r"^[A-Za-z0-9._-]+$")
RESERVED_ENV_NAMES = frozenset(
    {
        "LEPTON_WORKSPACE_ID",
        "LEPTON_DEPLOYMENT_NAME",
        "LEPTON_JOB_NAME",
        "LEPTON_RESOURCE_ACCELERATOR_TYPE",
        "LEPTON_WORKSPACE_ORIGIN_URL",
    }
)
# System directories a container cannot have a volume mounted over (exact paths only:
# /var/data is fine, /var is not).
RESERVED_MOUNT_PATHS = frozenset(
    {
        "/",
        "/bin",
        "/boot",
        "/dev",
        "/etc",
        "/lib",
        "/lib64",
        "/media",
        "/opt",
        "/proc",
        "/run",
        "/sbin",
        "/srv",
        "/sys",
        "/usr",
        "/usr/bin",
        "/usr/lib",
        "/usr/local",
        "/usr/sbin",
        "/var",
        "/sys/fs/cgroup",
        "/sys/kernel/security",
        "/proc/sys",
        "/proc/bus",
    }
)
# Where a volume comes from when the config does not say: the workspace's shared filesystem.
DEFAULT_MOUNT_FROM = "node-nfs:lepton-shared-fs"
# Which names say their value is a credential: one rule, nimctl.common.secrets.is_secret_name.


def lepton_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a Lepton endpoint/job name, or None when it can."""
    if not name:
        return "must not be empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"is {len(name)} characters long; Lepton allows at most {MAX_NAME_LENGTH}"
    if not NAME_PATTERN.match(name):
        return "must start with a lowercase letter and hold only lowercase letters, digits and '-'"
    if name.endswith("-"):
        return "must not end with '-'"
    if name.endswith("by-lepton"):
        return "must not end with 'by-lepton' (Lepton reserves it)"
    return None


def sanitize_name(text: str, fallback: str = "stack") -> str:
    """The closest valid Lepton name to ``text`` (used for names derived from file names)."""
    name = slugify(text)
    name = re.sub(r"^[^a-z]+", "", name)  # must start with a letter
    name = name[:MAX_NAME_LENGTH].rstrip("-")
    if name.endswith("by-lepton"):
        name = name[: -len("by-lepton")].rstrip("-")
    return name or fallback


def env_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a container env var name on Lepton, or None when it can."""
    if not name:
        return "env var name must not be empty"
    if name[0].isdigit():
        return "env var name must not start with a digit"
    if not ENV_NAME_PATTERN.match(name):
        return "env var name may hold only letters, digits, '.', '_' and '-'"
    if name in RESERVED_ENV_NAMES:
        return f"{name} is reserved by Lepton"
    if name.startswith(OWNER_ENV_PREFIX):
        return f"{name}: env names starting with {OWNER_ENV_PREFIX} are reserved for nimctl's ownership marker"
    return None


def normalize_mount_path(path: str) -> str:
    normalized = posixpath.normpath(path)
    if normalized.startswith("//"):  # POSIX keeps a double leading slash; a container does not care
        normalized = "/" + normalized.lstrip("/")
    return normalized


def mount_path_problem(path: str) -> str | None:
    """Why ``path`` cannot be a container mount path, or None when it can."""
    if not path.startswith("/"):
        return "mount path must be absolute (start with '/')"
    if normalize_mount_path(path) in RESERVED_MOUNT_PATHS:
        return f"{path} is a system directory Lepton does not allow mounting over"
    return None


def mount_from_problem(source: str) -> str | None:
    """Why ``source`` is not a Lepton volume reference (``node-local`` or ``node-<type>:<name>``)."""
    if not source:
        return "mount source must not be empty"
    if source == "node-local" or not source.startswith("node-"):
        return None
    kind, sep, name = source.partition(":")
    if not sep or not name.strip() or ":" in name:
        return f"{source!r} must look like node-<type>:<storage name>, e.g. {DEFAULT_MOUNT_FROM}"
    if not kind[len("node-") :].strip():
        return f"{source!r} is missing the storage type after 'node-'"
    return None
