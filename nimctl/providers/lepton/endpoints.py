"""Lepton endpoints (deployments): list, read, create (adopting after an ambiguous failure),
update in place with a merge patch, delete, and their events and readiness issues.

``LeptonEndpoints`` is the endpoint part of ``LeptonProvider``, on ``LeptonClient``'s call layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nimctl.providers.base import Conflict, EndpointInfo, NotFound, ProviderError
from nimctl.providers.lepton.client import LeptonClient
from nimctl.providers.lepton.failures import Failure, secret_values
from nimctl.providers.lepton.patch import update_patch
from nimctl.providers.lepton.translate import (
    DELETING,
    build,
    deployment_model,
    dump,
    endpoint_info,
    event_line,
    spec_matches,
    state_word,
    with_host_values,
)
from nimctl.providers.retry import Budget
from nimctl.providers.sdk import prepare as prepare_sdk

if TYPE_CHECKING:  # pragma: no cover - typing only; the SDK is imported lazily
    from leptonai.api.v2.types.deployment import LeptonDeployment


class LeptonEndpoints(LeptonClient):
    """The endpoint methods of ``base.Provider`` on Lepton."""

    def list_endpoints(self) -> list[EndpointInfo]:
        deployments = self._call(
            lambda: self.client.deployment.list_all(), action="list", resource="the endpoints", budget=self._budget()
        )
        return [
            endpoint_info(d) for d in deployments if not (d.spec is not None and d.spec.is_pod)
        ]  # pods share the listing

    def get_endpoint(self, name: str) -> EndpointInfo:
        return endpoint_info(self._get_deployment(name, self._budget()))

    def _get_deployment(self, name: str, budget: Budget) -> LeptonDeployment:
        return self._call(
            lambda: self.client.deployment.get(name), action="read", resource=f"endpoint {name}", budget=budget
        )

    def create_endpoint(self, name: str, spec: dict[str, Any]) -> EndpointInfo:
        spec, host_values = with_host_values(spec, f"endpoint {name}")
        model = deployment_model(name, spec)
        sent = dump(model.spec)
        secrets = secret_values(spec) + host_values
        resource = f"endpoint {name}"
        budget = self._budget()
        while True:
            created, failure = self._attempt(
                lambda: self.client.deployment.create_with_response(model, tolerate_legacy_response=True), secrets
            )
            if failure is None:
                if getattr(created, "status", None) is not None:
                    return endpoint_info(created)  # type: ignore[arg-type]
                return endpoint_info(self._get_deployment(name, budget))  # legacy: empty 2xx body
            if failure.kind == "conflict" or (failure.kind == "transient" and failure.ambiguous):
                # 409, or the create may have happened: look before creating again.
                adopted = self._adopt_endpoint(name, sent, budget)
                if adopted is not None:
                    return adopted
                reason = "still being deleted" if failure.kind == "conflict" else failure.detail
                if not budget.wait(reason, failure.retry_after):
                    raise self._create_gave_up(name, failure, budget)
                continue
            if failure.kind == "transient" and budget.wait(failure.detail, failure.retry_after):
                continue
            raise self._error(failure, action="create", resource=resource, budget=budget)

    def _adopt_endpoint(self, name: str, sent: dict[str, Any], budget: Budget) -> EndpointInfo | None:
        """The live endpoint called ``name`` when it is the one we asked for; None when there is
        none or it is still being deleted (create again later); Conflict when it is another one."""
        try:
            live = self._get_deployment(name, budget)
        except NotFound:
            return None
        info = endpoint_info(live)
        if DELETING in (info.platform_state, info.extra.get("phase")):
            return None
        if spec_matches(sent, info.spec):
            return info
        raise Conflict(
            f"endpoint {name} exists in Lepton workspace {self.workspace} and is not managed "
            "by this config (its spec differs from the one nimctl would create)",
            resource=f"endpoint {name}",
            status=409,
            hint=(
                f"choose another deployment.lepton_config.endpoint_name, delete it with "
                f"`lep endpoint remove -n {name}` if it is yours and disposable, or bring "
                "it under this config by making the config match its spec"
            ),
        )

    def _create_gave_up(self, name: str, failure: Failure, budget: Budget) -> ProviderError:
        if failure.kind == "conflict":
            return Conflict(
                f"endpoint {name} is still being deleted in Lepton workspace {self.workspace}; "
                f"it cannot be created again until the deletion finishes ({budget.summary()})",
                resource=f"endpoint {name}",
                status=409,
                hint="wait until `lep endpoint list` no longer shows it, then re-run",
            )
        return self._error(failure, action="create", resource=f"endpoint {name}", budget=budget)

    def update_endpoint(self, name: str, spec: dict[str, Any]) -> EndpointInfo:
        prepare_sdk()
        from leptonai.api.v2.types.common import Metadata
        from leptonai.api.v2.types.deployment import LeptonDeployment, LeptonDeploymentUserSpec

        spec, host_values = with_host_values(spec, f"endpoint {name}")
        budget = self._budget()
        live = self._get_deployment(name, budget)
        patch = update_patch(spec, dump(live.spec))
        model = build(
            lambda: LeptonDeployment(metadata=Metadata(id=name, name=name), spec=LeptonDeploymentUserSpec(**patch)),
            what=f"endpoint {name}",
            spec=spec,
        )
        # A merge patch of absolute values: sending it twice is harmless, so it is retried.
        updated = self._call(
            lambda: self.client.deployment.update(name, model),
            action="update",
            resource=f"endpoint {name}",
            budget=budget,
            secrets=secret_values(spec) + host_values,
        )
        return endpoint_info(updated)

    def delete_endpoint(self, name: str) -> None:
        budget = self._budget()

        def gone_or_going() -> bool:
            try:
                info = endpoint_info(self._get_deployment(name, budget))
            except NotFound:
                return True
            return DELETING in (info.platform_state, info.extra.get("phase"))

        self._delete(
            lambda: self.client.deployment.delete(name), gone_or_going, resource=f"endpoint {name}", budget=budget
        )

    def endpoint_events(self, name: str, limit: int = 10) -> list[str]:
        """Platform events, then the current readiness issues: Lepton's events carry only a
        reason, the readiness report says why (e.g. which secret or image is missing)."""
        if limit <= 0:
            return []
        budget = self._budget()
        events = self._call(
            lambda: self.client.deployment.get_events(name),
            action="read the events of",
            resource=f"endpoint {name}",
            budget=budget,
        )
        lines = [event_line(e) for e in sorted(events, key=lambda e: e.last_observed_time)]
        issues = self._readiness_issues(name, budget)[:limit]
        keep = limit - len(issues)
        return (lines[-keep:] if keep > 0 else []) + issues

    def _readiness_issues(self, name: str, budget: Budget) -> list[str]:
        try:
            readiness = self._call(
                lambda: self.client.deployment.get_readiness(name),
                action="read the readiness of",
                resource=f"endpoint {name}",
                budget=budget,
            )
        except ProviderError:
            return []  # events alone still help; a readiness report is a bonus
        replicas_by_issue: dict[tuple[str, str], int] = {}
        for issues in (readiness.root or {}).values():
            for issue in issues:
                reason = state_word(issue.reason) or ""
                if reason != "Ready" and (reason or issue.message):
                    key = (reason, issue.message)
                    replicas_by_issue[key] = replicas_by_issue.get(key, 0) + 1
        return [
            f"readiness ({count} replica{'s' if count > 1 else ''}): {reason}: {message}".rstrip(": ")
            for (reason, message), count in replicas_by_issue.items()
        ]
