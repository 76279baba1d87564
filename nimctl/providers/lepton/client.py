"""The Lepton SDK client and the call layer every Lepton request goes through.

``LeptonClient`` takes credentials (arguments, else the environment or the `lep login` record,
read on first use) and a retry policy (``nimctl.providers.retry``; NIMCTL_RETRY_* override it).
It gives the SDK's ``APIClient`` (built on first use, with NIMCTL_LEPTON_TIMEOUT as its
per-answer timeout) and the plumbing the provider's parts share: ``_call`` runs an idempotent
call with retries on transient failures, ``_attempt`` runs one call and classifies its failure,
``_delete`` deletes with retries that take an earlier ambiguous attempt into account, and
``_error`` turns a classified failure into a typed ``ProviderError``.

``leptonai`` is imported when the client is first built, never at import time.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from nimctl.common.errors import NimctlError
from nimctl.providers.base import Conflict, NotFound, ProviderError, Rejected, Transient, Unauthorized
from nimctl.providers.lepton.failures import LOGIN_HINT, RETRY_HINT, Failure, classify, short
from nimctl.providers.retry import Budget, RetryPolicy
from nimctl.providers.sdk import prepare as prepare_sdk

if TYPE_CHECKING:  # pragma: no cover - typing only; the SDK is imported lazily
    from leptonai.api.v2.client import APIClient

T = TypeVar("T")

# Seconds to wait for each Lepton answer. The SDK waits 120 s and has no public setting for it;
# a shorter wait lets a hung gateway count as one transient failure of the retry budget.
ENV_REQUEST_TIMEOUT = "NIMCTL_LEPTON_TIMEOUT"


def _request_timeout() -> float | None:
    raw = os.environ.get(ENV_REQUEST_TIMEOUT, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise NimctlError(
            f"{ENV_REQUEST_TIMEOUT}={raw!r} is not a positive number of seconds",
            hint=f"unset {ENV_REQUEST_TIMEOUT} (the SDK then waits 120 s) or give e.g. 30",
        )
    return value


class LeptonClient:
    """``leptonai.api.v2.client.APIClient``, built on first use, and the calls made through it."""

    def __init__(
        self,
        *,
        workspace_id: str | None = None,
        token: str | None = None,
        url: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._workspace_id = workspace_id
        self._token = token
        self._url = url
        self.retry = RetryPolicy.from_env(retry)
        self._client_obj: APIClient | None = None
        self._lock = threading.Lock()

    # -- client & credentials ----------------------------------------------------------------------

    @property
    def workspace(self) -> str:
        if self._client_obj is not None:
            return self._client_obj.workspace_id
        return self._workspace_id or os.environ.get("LEPTON_WORKSPACE_ID") or "(not configured)"

    @property
    def workspace_url(self) -> str:
        """The workspace API URL this provider calls (what a platform-side job calls too)."""
        return str(self.client.url)

    @property
    def client(self) -> APIClient:
        with self._lock:
            if self._client_obj is None:
                self._client_obj = self._make_client()
            return self._client_obj

    def _make_client(self) -> APIClient:
        prepare_sdk()  # the SDK without its photon client (fastapi, httpx): ~0.3 s less per command
        try:
            # Importing reads the `lep login` record; a damaged one fails here.
            from leptonai.api.v2.client import APIClient
            from leptonai.api.v2.utils import WorkspaceConfigurationError
        except Exception as exc:
            raise Unauthorized(
                f"could not read the Lepton login record ({type(exc).__name__})",
                hint=f"run `lep login` again, or point LEPTON_CACHE_DIR at a clean directory and {LOGIN_HINT}",
            ) from None

        url = self._url or os.environ.get("LEPTON_WORKSPACE_URL") or None
        timeout = _request_timeout()
        try:
            # The SDK joins url + path: a trailing slash would double up.
            client = APIClient(
                workspace_id=self._workspace_id, auth_token=self._token, url=url.rstrip("/") if url else None
            )
            if timeout is not None:
                client._timeout = timeout  # what the SDK passes to requests on every call
            return client
        except WorkspaceConfigurationError:
            raise Unauthorized(
                "no Lepton credentials found (no workspace id given, no LEPTON_WORKSPACE_ID, no `lep login` record)",
                hint=LOGIN_HINT,
            ) from None
        except TypeError:
            # The SDK cannot build a client without a token (it fails formatting it).
            raise Unauthorized(
                f"no Lepton token found for workspace {self.workspace} (no token given, "
                "no LEPTON_WORKSPACE_TOKEN, no `lep login` record for it)",
                hint=LOGIN_HINT,
            ) from None
        except Exception as exc:  # e.g. a malformed LEPTON_DEBUG_HEADERS
            raise Unauthorized(
                f"could not set up the Lepton client for workspace {self.workspace}: {short(str(exc), 200)}",
                hint=LOGIN_HINT,
            ) from None

    # -- call plumbing -----------------------------------------------------------------------------

    def _budget(self) -> Budget:
        return self.retry.start()

    def _attempt(self, fn: Callable[[], T], secrets: Iterable[str] = ()) -> tuple[T | None, Failure | None]:
        """Run one SDK call: (result, None) or (None, its classified failure)."""
        try:
            return fn(), None
        except ProviderError:
            raise
        except Exception as exc:  # every SDK/requests/pydantic error is classified, none escapes
            return None, classify(exc, secrets)

    def _call(
        self, fn: Callable[[], T], *, action: str, resource: str, budget: Budget, secrets: Iterable[str] = ()
    ) -> T:
        """An idempotent call (read, merge patch, stop), retried on transient failures."""
        while True:
            result, failure = self._attempt(fn, secrets)
            if failure is None:
                return result  # type: ignore[return-value]
            if failure.kind == "transient" and budget.wait(failure.detail, failure.retry_after):
                continue
            raise self._error(failure, action=action, resource=resource, budget=budget)

    def _error(self, f: Failure, *, action: str, resource: str, budget: Budget | None = None) -> ProviderError:
        http = f" (HTTP {f.status})" if f.status else ""
        detail = f": {f.detail}" if f.detail else ""
        if f.kind == "not_found":
            return NotFound(
                f"{resource} does not exist in Lepton workspace {self.workspace}{http}",
                resource=resource,
                status=f.status,
                hint="it was deleted or never created; `nimctl plan` shows what is missing",
            )
        if f.kind == "unauthorized":
            return Unauthorized(
                f"Lepton refused the credentials for workspace {self.workspace} while "
                f"trying to {action} {resource}{http}{detail}",
                resource=resource,
                status=f.status,
                hint=LOGIN_HINT,
            )
        if f.kind == "conflict":
            return Conflict(
                f"Lepton reports a conflict on {resource} while trying to {action} it{http}{detail}",
                resource=resource,
                status=f.status,
                hint="another operation is in progress on it; wait and re-run",
            )
        if f.kind == "rejected":
            return Rejected(
                f"Lepton rejected the request to {action} {resource}{http}{detail}",
                resource=resource,
                status=f.status,
                hint="nothing was changed; fix the spec in your config and re-run",
            )
        if f.kind == "transient":
            tried = f" after {budget.summary()}" if budget else ""
            return Transient(
                f"could not {action} {resource}: Lepton kept failing{tried} (last: {f.detail or 'error'}{http})",
                resource=resource,
                status=f.status,
                hint=RETRY_HINT,
            )
        return Transient(
            f"unexpected error from the Lepton SDK while trying to {action} {resource}{detail}",
            resource=resource,
            hint="re-run; if it persists, report it with this message",
        )

    def _delete(
        self, send: Callable[[], Any], gone_or_going: Callable[[], bool], *, resource: str, budget: Budget
    ) -> None:
        """DELETE with retries; after an ambiguous failure, a 404 or a deletion in progress is our
        own earlier attempt having worked, not an error."""
        maybe_done = False
        while True:
            _, failure = self._attempt(send)
            if failure is None:
                return
            if failure.kind == "not_found" and maybe_done:
                return
            if failure.kind == "conflict" and gone_or_going():
                return
            if failure.kind == "transient":
                if failure.ambiguous:
                    maybe_done = True
                    if gone_or_going():
                        return
                if budget.wait(failure.detail, failure.retry_after):
                    continue
            raise self._error(failure, action="delete", resource=resource, budget=budget)
