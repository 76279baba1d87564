"""Secret handling: literal secret values are replaced by a salted fingerprint before a spec is
stored, shown, logged or written into a plan file. The fingerprint lets the planner notice that
a token changed without ever keeping the token.
"""

from __future__ import annotations

import copy
import hashlib
import re
from typing import Any

SENSITIVE_PREFIX = "(sensitive"
# Config keys whose every value may be a credential (env var maps, token lists), whatever the
# names below them: messages never quote a value found under one.
SECRET_CONTAINERS = frozenset({"envs", "env_vars", "api_tokens"})
# THE rule for which names say their value is a credential (env vars, task env_vars, config keys),
# used by validation, composition, redaction, the state guard and both providers. A name holding
# one of these words is secret, except names that hold the *name* of a secret or variable
# (``*_name``, ``*_ref``, ``*_env`` such as NIMCTL_API_KEY_ENV, api_key_name, token_name_ref),
# token counts (max_tokens) and nimctl's ownership marker (NIMCTL_OWNER_*).
SECRET_ENV_NAME = re.compile(
    r"^(?!.*_(NAME|REF|ENV)$)(?!(MAX_(NEW_)?TOKENS|NIMCTL_OWNER_.*)$).*(TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL)",
    re.I,
)


def is_secret_name(name: str) -> bool:
    """Whether a value under this name (env var, config key) is a credential."""
    return bool(SECRET_ENV_NAME.search(name))


def fingerprint(value: str, salt: str) -> str:
    """A short salted hash: equal values give equal fingerprints within one state lineage."""
    digest = hashlib.sha256(f"{salt}\0{value}".encode()).hexdigest()[:12]
    return f"{SENSITIVE_PREFIX}:{digest})"


def is_redacted(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(SENSITIVE_PREFIX)


def copy_tree(value: Any) -> Any:
    """A deep copy of a JSON-like tree (dicts, lists, scalars), several times faster than
    ``copy.deepcopy`` (which redacting every spec of a 1,000-stack plan spent a second in); any
    other object is deep-copied as usual."""
    if isinstance(value, dict):
        return {key: copy_tree(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copy_tree(item) for item in value]
    if value is None or isinstance(value, (str, int, float)):
        return value
    return copy.deepcopy(value)


def redact_spec(spec: dict[str, Any], salt: str) -> dict[str, Any]:
    """A deep copy of a Lepton or local spec with every literal secret replaced by its fingerprint.

    Covers ``api_tokens[].value``, literal values of secret-looking env vars (Lepton ``envs`` list
    and local ``env`` mapping), and ``api_key`` fields of local specs.
    """
    out = copy_tree(spec)
    for token in out.get("api_tokens") or []:
        if isinstance(token, dict) and isinstance(token.get("value"), str) and not is_redacted(token["value"]):
            token["value"] = fingerprint(token["value"], salt)
    for env in out.get("envs") or []:
        if (
            isinstance(env, dict)
            and isinstance(env.get("value"), str)
            and SECRET_ENV_NAME.search(str(env.get("name", "")))
            and not is_redacted(env["value"])
        ):
            env["value"] = fingerprint(env["value"], salt)
    local_env = out.get("env")
    if isinstance(local_env, dict):
        for name, value in local_env.items():
            if isinstance(value, str) and SECRET_ENV_NAME.search(name) and not is_redacted(value):
                local_env[name] = fingerprint(value, salt)
    if isinstance(out.get("api_key"), str) and not is_redacted(out["api_key"]):
        out["api_key"] = fingerprint(out["api_key"], salt)
    return out


def display_value(value: Any) -> Any:
    """What a human sees for a (possibly redacted) value: fingerprints become ``(sensitive)``."""
    return "(sensitive)" if is_redacted(value) else value


def redact_config(config: Any) -> Any:
    """A copy of a composed config with literal tokens and secret-looking env values masked,
    for ``show-config`` and error messages."""
    if isinstance(config, dict):
        out: dict[str, Any] = {}
        for key, value in config.items():
            if key == "api_tokens" and isinstance(value, list):
                out[key] = [_mask_token(t) for t in value]
            elif isinstance(value, (str, int, float)) and not isinstance(value, bool) and is_secret_name(str(key)):
                out[key] = "(sensitive)"
            else:
                out[key] = redact_config(value)
        return out
    if isinstance(config, list):
        return [redact_config(v) for v in config]
    return config


def _mask_token(token: Any) -> Any:
    if isinstance(token, str):
        return "(sensitive)"
    if isinstance(token, dict) and "value" in token:
        return {**token, "value": "(sensitive)"}
    return token
