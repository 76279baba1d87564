"""The emulator's HTTP surface: the Lepton workspace API, the mock behind endpoints, admin routes.

Built on Starlette (which arrives with the SDK's fastapi) and wrapped in a small ASGI layer
that adds latency, injects faults and records every request. Routes:

- ``/api/v2/workspaces/<ws>/...``: the workspace API as ``leptonai`` 0.47 speaks it
  (bearer token; 401 otherwise, 404 for another workspace id): deployments in both API families
  (legacy ``/deployments`` and the new ``/endpoints``, see ``endpoints_api``), jobs, secrets,
  logs, dedicated node groups and resource shapes.
- ``/_endpoints/<name>/v1/...``: the OpenAI-compatible mock behind each endpoint's
  ``external_endpoint`` (the endpoint's own api tokens; 503 until Ready).
- ``/_emulator/{requests,state,config,reset}``: admin routes for tests and users (same token
  as the workspace; never faulted, never logged).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from nimctl.offline import mock_openai
from nimctl.offline.emulator.errors import ApiError
from nimctl.offline.emulator.options import RequestRecord
from nimctl.offline.emulator.world import ALIVE_AND_ARCHIVE, ALIVE_ONLY

if TYPE_CHECKING:
    from nimctl.offline.emulator.runtime import Runtime

API_PREFIX = "/api/v2/workspaces"
ENDPOINT_PREFIX = "/_endpoints/"
ADMIN_PREFIX = "/_emulator/"
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FAULT_STATUSES = (429, 500, 502, 503)
_FAULT_MESSAGES = {
    429: ("TooManyRequests", "rate limit exceeded, retry later (fault injected by the emulator)"),
    500: ("InternalError", "internal server error (fault injected by the emulator)"),
    502: ("BadGateway", "bad gateway (fault injected by the emulator)"),
    503: ("ServiceUnavailable", "service temporarily unavailable (fault injected by the emulator)"),
}

Handler = Callable[[Request], Awaitable[Response]]


def _error(status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(ApiError(status, message, code).body(), status_code=status, headers=headers)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _token_ok(given: str | None, accepted: list[str]) -> bool:
    return given is not None and any(hmac.compare_digest(given.encode(), a.encode()) for a in accepted)


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiError(400, "the request body is not valid JSON") from None


def _int_param(request: Request, key: str) -> int | None:
    value = request.query_params.get(key)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ApiError(400, f"query parameter {key} must be an integer, got {value!r}") from None


def _mode(request: Request, default: str) -> str:
    return request.query_params.get("job_query_mode") or default


def build_app(runtime: Runtime) -> Callable[..., Awaitable[None]]:
    """The ASGI application for one emulator instance."""
    world = runtime.world

    def api(handler: Callable[[Request], Awaitable[Any]]) -> Handler:
        """Auth, workspace check and error mapping around a workspace API handler."""

        async def wrapped(request: Request) -> Response:
            if not _token_ok(_bearer(request), [runtime.options.token]):
                return _error(401, "invalid or missing workspace token", "Unauthorized")
            if request.path_params.get("ws") != runtime.options.workspace_id:
                return _error(404, f"workspace {request.path_params.get('ws')!r} not found", "NotFound")
            try:
                result = await handler(request)
            except ApiError as error:
                return JSONResponse(error.body(), status_code=error.status)
            return result if isinstance(result, Response) else JSONResponse(result)

        return wrapped

    # ---------------------------------------------------------------- workspace API

    async def workspace(request: Request) -> Any:
        return world.workspace_info()

    async def deployments(request: Request) -> Any:
        if request.method == "POST":
            return world.create_deployment(await _json_body(request))
        return world.list_deployments()

    async def deployment(request: Request) -> Any:
        name = request.path_params["name"]
        if request.method == "PATCH":
            dryrun = request.query_params.get("dryrun", "").lower() == "true"
            return world.patch_deployment(name, await _json_body(request), dryrun=dryrun)
        if request.method == "DELETE":
            return world.delete_deployment(name)
        return world.get_deployment(name)

    async def deployment_detail(request: Request) -> Any:
        name, what = request.path_params["name"], request.path_params["what"]
        views = {
            "readiness": world.deployment_readiness,
            "termination": world.deployment_terminations,
            "replicas": world.deployment_replicas,
            "events": world.deployment_events,
        }
        if what not in views:
            raise ApiError(404, f"no such deployment route: {what}")
        return views[what](name)

    async def endpoints(request: Request) -> Any:
        if request.method == "POST":
            return world.create_endpoint(await _json_body(request))
        return world.list_endpoints()

    async def endpoint_resource(request: Request) -> Any:
        name = request.path_params["name"]
        if request.method == "PATCH":
            dryrun = request.query_params.get("dryrun", "").lower() == "true"
            return world.patch_endpoint(name, await _json_body(request), dryrun=dryrun)
        if request.method == "DELETE":
            return world.delete_endpoint(name)
        return world.get_endpoint(name)

    async def endpoint_detail(request: Request) -> Any:
        # The new family has no readiness or termination route (the SDK does not ask for them).
        name, what = request.path_params["name"], request.path_params["what"]
        views = {"replicas": world.deployment_replicas, "events": world.deployment_events}
        if what not in views:
            raise ApiError(404, f"no such endpoint route: {what}")
        return views[what](name)

    async def endpoint_restart(request: Request) -> Any:
        return world.restart_endpoint(request.path_params["name"])

    async def node_groups(request: Request) -> Any:
        return world.list_node_groups()

    async def node_group(request: Request) -> Any:
        return world.get_node_group(request.path_params["id"])

    async def node_group_nodes(request: Request) -> Any:
        return world.node_group_nodes(request.path_params["id"])

    async def shapes(request: Request) -> Any:
        params = request.query_params
        return world.list_shapes(params.get("node_groups"), params.get("purpose"))

    async def deployment_restart(request: Request) -> Any:
        return world.restart_deployment(request.path_params["name"])

    async def deployment_replica_log(request: Request) -> Any:
        lines = world.deployment_replica_log(request.path_params["name"], request.path_params["rid"])
        return _text_stream(lines)

    async def jobs(request: Request) -> Any:
        if request.method == "POST":
            return world.create_job(await _json_body(request))
        page, page_size = _int_param(request, "page"), _int_param(request, "page_size")
        params = request.query_params
        items = world.list_jobs(
            _mode(request, ALIVE_ONLY),
            page=page,
            page_size=page_size,
            q=params.get("q"),
            status=params.getlist("status") or None,
            created_by=params.getlist("created_by") or None,
            query=params.get("query"),
        )
        if page is None and page_size is None:
            return items  # unpaged callers (list_matching) parse a bare array
        return {"jobs": items}

    async def job(request: Request) -> Any:
        job_id = request.path_params["id"]
        if request.method == "PATCH":
            return world.patch_job(job_id, await _json_body(request))
        if request.method == "DELETE":
            return world.delete_job(job_id, _mode(request, ALIVE_ONLY))
        return world.get_job(job_id, _mode(request, ALIVE_AND_ARCHIVE))

    async def job_detail(request: Request) -> Any:
        job_id, what = request.path_params["id"], request.path_params["what"]
        if what == "events":
            return world.job_events(job_id)
        if what == "replicas":
            return world.job_replicas(job_id, _mode(request, ALIVE_AND_ARCHIVE))
        raise ApiError(404, f"no such job route: {what}")

    async def job_replica_log(request: Request) -> Any:
        return _text_stream(world.job_replica_log(request.path_params["id"], request.path_params["rid"]))

    async def secrets(request: Request) -> Any:
        if request.method == "POST":
            world.create_secrets(await _json_body(request))
            return {}
        return world.list_secrets()

    async def secret(request: Request) -> Any:
        world.delete_secret(request.path_params["name"])
        return {}

    async def logs(request: Request) -> Any:
        params = request.query_params
        return world.logs(
            deployment=params.get("deployment") or params.get("endpoint"),
            job=params.get("job"),
            replica=params.get("replica"),
            start=_int_param(request, "start"),
            end=_int_param(request, "end"),
            limit=_int_param(request, "limit"),
            q=params.get("q"),
            direction=params.get("direction") or "backward",
            job_query_mode=params.get("job_query_mode"),
        )

    # ---------------------------------------------------------------- the mock behind endpoints

    async def endpoint(request: Request) -> Response:
        name, path = request.path_params["name"], request.path_params["path"].strip("/")
        target = world.endpoint_target(name)
        if target is None:
            payload = mock_openai.error_payload(f"no endpoint named {name!r}", type_="not_found_error")
            return JSONResponse(payload, status_code=404)
        state, model_id, tokens = target
        if tokens is not None and not _token_ok(_bearer(request), tokens):
            return JSONResponse(mock_openai.unauthorized_payload(), status_code=401)
        ready = state == "Ready"
        if path in ("v1/health/ready", "v1/health/live", "health"):
            return JSONResponse(mock_openai.health_payload(ready), status_code=200 if ready else 503)
        if not ready:
            return JSONResponse(mock_openai.not_ready_payload(model_id), status_code=503)
        if path == "v1/models" and request.method == "GET":
            return JSONResponse(mock_openai.models_payload(model_id))
        if path in ("v1/chat/completions", "v1/completions") and request.method == "POST":
            try:
                body = await _json_body(request)
            except ApiError as error:
                return JSONResponse(mock_openai.error_payload(error.message), status_code=400)
            return _openai_answer(model_id, path, body)
        payload = mock_openai.error_payload(
            f"{request.method} /{path} is not served by this mock", type_="not_found_error"
        )
        return JSONResponse(payload, status_code=404)

    # ---------------------------------------------------------------- admin

    def admin(handler: Callable[[Request], Awaitable[Any]]) -> Handler:
        async def wrapped(request: Request) -> Response:
            if not _token_ok(_bearer(request), [runtime.options.token]):
                return _error(401, "invalid or missing emulator token", "Unauthorized")
            try:
                return JSONResponse(await handler(request))
            except (ValueError, TypeError) as error:
                return _error(400, str(error))

        return wrapped

    async def admin_requests(request: Request) -> Any:
        return [record.to_dict() for record in runtime.request_log()]

    async def admin_state(request: Request) -> Any:
        return {"options": {k: v for k, v in runtime.options.to_dict().items() if k != "token"}, **world.snapshot()}

    async def admin_config(request: Request) -> Any:
        body = await request.json()
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object of options")
        runtime.configure(**body)
        return {k: v for k, v in runtime.options.to_dict().items() if k != "token"}

    async def admin_reset(request: Request) -> Any:
        runtime.reset()
        return {"reset": True}

    ws = API_PREFIX + "/{ws}"
    routes = [
        Route(ws + "/workspace", api(workspace), methods=["GET"]),
        Route(ws + "/deployments", api(deployments), methods=["GET", "POST"]),
        Route(ws + "/deployments/{name}", api(deployment), methods=["GET", "PATCH", "DELETE"]),
        Route(ws + "/deployments/{name}/restart", api(deployment_restart), methods=["PUT"]),
        Route(ws + "/deployments/{name}/replicas/{rid}/log", api(deployment_replica_log), methods=["GET"]),
        Route(ws + "/deployments/{name}/{what}", api(deployment_detail), methods=["GET"]),
        Route(ws + "/endpoints", api(endpoints), methods=["GET", "POST"]),
        Route(ws + "/endpoints/{name}", api(endpoint_resource), methods=["GET", "PATCH", "DELETE"]),
        Route(ws + "/endpoints/{name}/restart", api(endpoint_restart), methods=["PUT"]),
        Route(ws + "/endpoints/{name}/replicas/{rid}/log", api(deployment_replica_log), methods=["GET"]),
        Route(ws + "/endpoints/{name}/{what}", api(endpoint_detail), methods=["GET"]),
        Route(ws + "/dedicated-node-groups", api(node_groups), methods=["GET"]),
        Route(ws + "/dedicated-node-groups/{id}", api(node_group), methods=["GET"]),
        Route(ws + "/dedicated-node-groups/{id}/nodes", api(node_group_nodes), methods=["GET"]),
        Route(ws + "/shapes", api(shapes), methods=["GET"]),
        Route(ws + "/jobs", api(jobs), methods=["GET", "POST"]),
        Route(ws + "/jobs/{id}", api(job), methods=["GET", "PATCH", "DELETE"]),
        Route(ws + "/jobs/{id}/replicas/{rid}/log", api(job_replica_log), methods=["GET"]),
        Route(ws + "/jobs/{id}/{what}", api(job_detail), methods=["GET"]),
        Route(ws + "/usersecrets", api(secrets), methods=["GET", "POST"]),
        Route(ws + "/usersecrets/{name}", api(secret), methods=["DELETE"]),
        Route(ws + "/logs", api(logs), methods=["GET"]),
        Route(ENDPOINT_PREFIX + "{name}/{path:path}", endpoint, methods=["GET", "POST"]),
        Route(ADMIN_PREFIX + "requests", admin(admin_requests), methods=["GET"]),
        Route(ADMIN_PREFIX + "state", admin(admin_state), methods=["GET"]),
        Route(ADMIN_PREFIX + "config", admin(admin_config), methods=["POST"]),
        Route(ADMIN_PREFIX + "reset", admin(admin_reset), methods=["POST"]),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith(API_PREFIX) and not _token_ok(_bearer(request), [runtime.options.token]):
            return _error(401, "invalid or missing workspace token", "Unauthorized")
        return _error(404, f"no route for {request.method} {request.url.path}")

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return _error(405, f"method {request.method} not allowed on {request.url.path}", "MethodNotAllowed")

    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_allowed})
    return FaultsAndLog(app, runtime)


def _text_stream(lines: list[str]) -> StreamingResponse:
    async def chunks():
        for line in lines:
            yield line + "\n"

    return StreamingResponse(chunks(), media_type="text/plain; charset=utf-8")


def _openai_answer(model_id: str, path: str, body: Any) -> Response:
    chat = path == "v1/chat/completions"
    validate = mock_openai.validate_chat_request if chat else mock_openai.validate_completion_request
    problem = validate(model_id, body)
    if problem:
        return JSONResponse(problem, status_code=mock_openai.http_status(problem))
    if body.get("stream"):
        chunks = (mock_openai.chat_stream_chunks if chat else mock_openai.completion_stream_chunks)(model_id, body)

        async def events():
            for event in mock_openai.sse_stream(chunks):
                yield event

        return StreamingResponse(events(), media_type="text/event-stream")
    payload = (mock_openai.chat_completion if chat else mock_openai.completion)(model_id, body)
    return JSONResponse(payload, status_code=mock_openai.http_status(payload))


async def _buffered(receive: Callable) -> Callable:
    """Read a request body now; the returned ``receive`` replays it, then defers to the original."""
    messages = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break
    replay = iter(messages)

    async def receive_again() -> dict[str, Any]:
        return next(replay, None) or await receive()

    return receive_again


class FaultsAndLog:
    """ASGI layer: latency, injected faults, lost responses, and the request log."""

    def __init__(self, app: Callable[..., Awaitable[None]], runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        started = time.time()
        options = self.runtime.options
        method = scope["method"]
        if options.latency > 0:
            # A slow server has the request before it is slow to answer: read it whole first, so a
            # client that stops waiting (its timeout) does not take the request back with it.
            receive = await _buffered(receive)
            await asyncio.sleep(options.latency)
        on_endpoint = path.startswith(ENDPOINT_PREFIX)
        rate = options.endpoint_fault_rate if on_endpoint else options.fault_rate
        query = scope.get("query_string", b"").decode("latin-1")

        def record(status: int, fault: str | None = None, applied: int | None = None) -> None:
            self.runtime.log_request(
                RequestRecord(
                    method=method,
                    path=path,
                    query=query,
                    status=status,
                    fault=fault,
                    applied_status=applied,
                    time=started,
                    duration=time.time() - started,
                )
            )

        # Each request is logged before its last byte leaves, so a client that has its answer
        # always finds the request in the log.
        if rate > 0 and self.runtime.roll(rate):
            status = self.runtime.choose(FAULT_STATUSES)
            headers = {"Retry-After": str(options.retry_after)} if status == 429 else None
            code, message = _FAULT_MESSAGES[status]
            record(status, str(status))
            await _error(status, message, code, headers)(scope, receive, send)
            return

        lost = (
            not on_endpoint
            and method in MUTATING
            and options.lost_response_rate > 0
            and self.runtime.roll(options.lost_response_rate)
        )
        seen: dict[str, int] = {}

        async def send_or_swallow(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
            if lost:
                return
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                record(seen.get("status", 0))
            await send(message)

        await self.app(scope, receive, send_or_swallow)
        if lost:
            # The operation has been applied; the answer is lost on the way back.
            record(502, "lost_response", seen.get("status"))
            await _error(
                502, "bad gateway: upstream connection reset (response lost, injected by the emulator)", "BadGateway"
            )(scope, receive, send)
