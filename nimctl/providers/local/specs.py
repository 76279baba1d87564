"""Checking local endpoint and job specs before anything starts, and masking their secrets.

Takes the spec fields the stack builds (``nimctl.stack.specs.local``): names, argv commands, env
mappings, ``env_from`` secret references, hosts and ports. Gives them checked (a ``Rejected``
that says what to fix otherwise), the ``env_from`` values read from nimctl's environment, the
environment a process starts with (``process_env``: where its command is looked up), and a copy
of a spec with its secret values masked for the registry.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

from nimctl.common.secrets import SECRET_ENV_NAME
from nimctl.providers.base import Rejected

MASK = "******"  # how a secret shows in a stored spec (the planner treats it as unobservable)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_WILDCARD_HOSTS = ("0.0.0.0", "::")


def check_name(kind: str, name: str) -> None:
    if not isinstance(name, str) or not NAME.match(name):
        raise Rejected(
            f"invalid local {kind} name {name!r}",
            resource=str(name),
            hint="use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )


def process_env(env: dict[str, str]) -> dict[str, str]:
    """The environment a local process starts with: nimctl's, overridden by the spec's ``env``.

    The directory of the interpreter nimctl runs under goes first on an inherited PATH (unless it
    is on it already): the tools installed beside nimctl (``nemo-evaluator``, ``vllm``, ``nimctl``
    itself) are then found when nimctl is run by its path from a virtualenv that is not
    activated, as the README's commands do. A PATH the spec sets is used as written.
    """
    full = {**os.environ, **env}
    if "PATH" not in env:
        full["PATH"] = _tools_first(os.environ.get("PATH"))
    return full


def _tools_first(path: str | None) -> str:
    tools = os.path.dirname(sys.executable)
    if path is None:
        path = os.defpath  # what exec searches when PATH is unset
    if not tools:
        return path
    entries = path.split(os.pathsep) if path else []
    if any(entry and os.path.normpath(entry) == os.path.normpath(tools) for entry in entries):
        return path
    return os.pathsep.join([tools, *entries])


def check_command(
    kind: str, name: str, command: Any, cwd: str | None = None, env: dict[str, str] | None = None
) -> list[str]:
    """``command`` checked; its program must exist, looked up on the PATH of ``process_env(env)``."""
    if (
        not isinstance(command, list)
        or not command
        or not all(isinstance(item, str) for item in command)
        or not command[0]
    ):
        raise Rejected(
            f"local {kind} {name}: 'command' must be a non-empty list of strings (an argv)",
            resource=name,
            hint='write the command as a list, e.g. ["vllm", "serve", "MODEL"]',
        )
    program = command[0]
    if len(command) > 4 and command[1] == "-c" and os.path.basename(program) == "sh":
        # `sh -c SCRIPT NAME PROGRAM ARGS...` (how nimctl wraps a task's argv): the script runs
        # PROGRAM, so that is what must exist.
        program = command[4]
    if os.sep in program:
        path = Path(program) if os.path.isabs(program) or cwd is None else Path(cwd) / program
        found = path.is_file() and os.access(path, os.X_OK)
    else:
        found = shutil.which(program, path=process_env(env or {})["PATH"]) is not None
    if not found:
        raise Rejected(
            f"local {kind} {name}: cannot run {program!r}: no such executable",
            resource=name,
            hint="install it, or give its full path as the first item of the command",
        )
    return list(command)


def check_env(kind: str, name: str, env: Any) -> dict[str, str]:
    if env is None:
        return {}
    if not isinstance(env, dict):
        raise Rejected(f"local {kind} {name}: 'env' must be a mapping of NAME: value", resource=name)
    out = {}
    for key, value in env.items():
        if not isinstance(key, str) or not key or "=" in key:
            raise Rejected(f"local {kind} {name}: invalid environment variable name {key!r}", resource=name)
        if isinstance(value, (dict, list)) or value is None:
            raise Rejected(f"local {kind} {name}: env {key} must be a string, number or boolean", resource=name)
        out[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


def env_from(kind: str, name: str, spec: dict[str, Any]) -> dict[str, str]:
    """``env_from: {NAME: VARIABLE}``: a secret reference resolved from nimctl's own environment at
    start time, so the value is never written into a spec, a record or the state."""
    mapping = spec.get("env_from") or {}
    if not isinstance(mapping, dict):
        raise Rejected(f"local {kind} {name}: 'env_from' must be a mapping of NAME: VARIABLE", resource=name)
    missing = sorted(str(var) for var in mapping.values() if str(var) not in os.environ)
    if missing:
        raise Rejected(
            f"local {kind} {name}: the secret(s) {', '.join(missing)} it references are not set",
            resource=name,
            hint="on the local platform a secret_name_ref is read from nimctl's "
            f"environment: export {missing[0]}=... and run the command again",
        )
    return {str(key): os.environ[str(var)] for key, var in mapping.items()}


def check_host(name: str, host: Any) -> str:
    host = host or "127.0.0.1"
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise Rejected(
            f"local endpoint {name}: host {host!r} is not an IP address", resource=name, hint="use 127.0.0.1"
        ) from None
    if not (address.is_loopback or host in _WILDCARD_HOSTS):
        raise Rejected(
            f"local endpoint {name}: host {host} is not a loopback address",
            resource=name,
            hint="local endpoints listen on 127.0.0.1 (or 0.0.0.0 to be reachable from the network)",
        )
    return host


def check_port(name: str, port: Any) -> int | None:
    if port is None or port == "auto":
        return None
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise Rejected(
            f"local endpoint {name}: port must be an integer 1..65535 or null, got {port!r}",
            resource=name,
            hint="set deployment.port, or `port: auto` to take a free one",
        )
    return port


def mask_secrets(spec: dict[str, Any]) -> dict[str, Any]:
    """A copy of a local spec with the values of secret-looking env vars and ``api_key`` masked."""
    out = json.loads(json.dumps(spec, default=str))
    env = out.get("env")
    if isinstance(env, dict):
        for key in env:
            if SECRET_ENV_NAME.search(str(key)):
                env[key] = MASK
    if "api_key" in out and out["api_key"] is not None:
        out["api_key"] = MASK
    return out


def url_host(host: str) -> str:
    if host in _WILDCARD_HOSTS:
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host
