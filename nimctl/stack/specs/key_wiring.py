"""How the endpoint's API key reaches a job: ``key_wiring`` takes the deployment and the job's own
env entries and gives the route (a ``KeyWiring``) with the env entry nimctl adds for it."""

from __future__ import annotations

from enum import Enum
from typing import Any, NamedTuple

from nimctl.stack.specs.deployment import Deployment


class KeyWiring(str, Enum):
    """How the endpoint's API key reaches a job (as the variable ``api_key_name`` names)."""

    LITERAL = "literal"  # the endpoint's literal token, as a (secret) env value
    TOKEN_REF = "token_name_ref"  # the Lepton secret the endpoint's token references
    NAMED = "api_key_name"  # no endpoint token: the named variable, passed through
    USER_ENV = "env_vars"  # the user's env_vars set the variable themselves
    NONE = "none"  # no key: the evaluation calls the endpoint unauthenticated

    def describe(self, name: str, platform: str) -> str:
        """One line for the plan: where the job's key comes from."""
        if self is KeyWiring.LITERAL:
            return f"API key: ${name} carries the endpoint's literal token"
        if self is KeyWiring.TOKEN_REF:
            return f"API key: ${name} from the endpoint token's secret"
        if self is KeyWiring.NAMED:
            where = f"the Lepton secret {name}" if platform == "lepton" else f"nimctl's environment (export {name})"
            return f"API key: ${name} from {where}"
        if self is KeyWiring.USER_ENV:
            return f"API key: ${name} as set in the task's env_vars"
        return "API key: none - the evaluation calls the endpoint unauthenticated (set target.api_endpoint.api_key_name to send one)"


class KeyRoute(NamedTuple):
    kind: KeyWiring
    entry: dict[str, Any] | None  # the env entry nimctl adds (None: nothing added)


def key_wiring(deployment: Deployment, user_env: list[dict[str, Any]]) -> KeyRoute:
    """How the key reaches the job: the endpoint's own token (the same Lepton secret when the
    endpoint references one, else the literal, a secret everywhere nimctl shows or stores it);
    else the variable the config names, passed in as a secret reference of that name (on Lepton a
    workspace secret, locally nimctl's own environment variable, read when the job starts); else
    none. The user's env_vars win over all of these."""
    name = deployment.api_key_name
    if any(e["name"] == name for e in user_env):
        return KeyRoute(KeyWiring.USER_ENV, None)
    token = deployment.token
    if token is not None and token.ref:
        return KeyRoute(KeyWiring.TOKEN_REF, {"name": name, "value_from": {"secret_name_ref": token.ref}})
    if token is not None:
        return KeyRoute(KeyWiring.LITERAL, {"name": name, "value": token.literal})
    if deployment.api_key_named:
        return KeyRoute(KeyWiring.NAMED, {"name": name, "value_from": {"secret_name_ref": name}})
    return KeyRoute(KeyWiring.NONE, None)
