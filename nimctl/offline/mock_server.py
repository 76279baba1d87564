"""nimctl's mock OpenAI-compatible model server (stdlib only, starts in well under a second).

``python -m nimctl.offline.mock_server --port 8000 --served-model-name my-model`` (or ``nimctl
mock-server ...``) serves:

    GET  /v1/models             the one served model
    POST /v1/chat/completions   chat answers; ``"stream": true`` streams server-sent events
    POST /v1/completions        text completions; streaming likewise
    GET  /v1/health/ready       200 once ready, 503 during the start-up delay (also ``/health``)
    GET  /v1/health/live        200 while the process runs

Answers are deterministic, say they come from a mock, and count one token per word (payloads
from ``nimctl.offline.mock_openai``). ``--startup-delay`` keeps it "not ready" for a while like a real
model server loading weights; ``--token-latency`` paces generation per token, so time to first
token and throughput behave plausibly under load. With ``--api-key`` (or NIMCTL_MOCK_API_KEY)
every ``/v1`` call but health needs ``Authorization: Bearer <key>``. It listens on loopback only
unless ``--allow-remote`` is given.
"""

from __future__ import annotations

import argparse
import hmac
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from nimctl.common.net import is_loopback_host
from nimctl.offline import mock_openai

DEFAULT_PORT = 8000
DEFAULT_MODEL = "nimctl/mock-model"
ENV_API_KEY = "NIMCTL_MOCK_API_KEY"
MAX_BODY_BYTES = 8 * 1024 * 1024
IDLE_CONNECTION_TIMEOUT_S = 120.0  # a kept-alive connection nobody uses stops holding a thread


class MockServerError(ValueError):
    """The server cannot be started as asked (bad host, port taken, ...)."""


@dataclass
class MockSettings:
    model: str = DEFAULT_MODEL
    startup_delay: float = 0.0
    token_latency: float = 0.0
    api_key: str | None = None
    started: float = field(default_factory=time.monotonic)

    @property
    def ready(self) -> bool:
        return time.monotonic() - self.started >= self.startup_delay


class MockServer(ThreadingHTTPServer):
    """A threaded HTTP server holding the mock's settings; one thread per connection."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # bursts of new connections from a load test must not be refused

    def __init__(self, address: tuple[str, int], settings: MockSettings, *, quiet: bool = True) -> None:
        self.settings = settings
        self.quiet = quiet
        super().__init__(address, MockHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client dropping its connection (closing a kept-alive one, a cancelled stream) is
        routine under load: no traceback in the log for it."""
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionResetError, BrokenPipeError, TimeoutError)):
            return
        super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = str(host)
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class MockHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: load tests reuse their connections
    server_version = "nimctl-mock/1"
    timeout = IDLE_CONNECTION_TIMEOUT_S
    server: MockServer

    def setup(self) -> None:
        super().setup()
        # Answers go out as several small writes (headers, then body or one event per token);
        # with Nagle's algorithm each would wait for the client's delayed ACK (~40 ms).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # -- routing -------------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's naming)
        path = self.path.split("?", 1)[0].rstrip("/")
        settings = self.server.settings
        if path in ("/v1/health/ready", "/health", "/v1/health"):
            self._send_json(mock_openai.health_payload(settings.ready), 200 if settings.ready else 503)
        elif path == "/v1/health/live":
            self._send_json(mock_openai.health_payload(True), 200)
        elif path == "/v1/models":
            if self._admitted():
                self._send_json(mock_openai.models_payload(settings.model))
        else:
            self._not_found(path)

    def do_POST(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0].rstrip("/")
        if path not in ("/v1/chat/completions", "/v1/completions"):
            self._drain_body()
            self._not_found(path)
            return
        request = self._read_json()
        if request is None or not self._admitted():
            return
        model = self.server.settings.model
        chat = path == "/v1/chat/completions"
        validate = mock_openai.validate_chat_request if chat else mock_openai.validate_completion_request
        problem = validate(model, request)
        if problem:
            self._send_json(problem)
        elif request.get("stream"):
            stream = mock_openai.chat_stream_chunks if chat else mock_openai.completion_stream_chunks
            self._send_stream(stream(model, request))
        else:
            answer = mock_openai.chat_completion(model, request) if chat else mock_openai.completion(model, request)
            self._pace(answer.get("usage", {}).get("completion_tokens", 0))
            self._send_json(answer)

    # -- checks --------------------------------------------------------------------------------

    def _admitted(self) -> bool:
        """Authorised and ready; otherwise the error answer has been sent."""
        settings = self.server.settings
        if settings.api_key is not None:
            header = self.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), settings.api_key.encode()):
                self._send_json(mock_openai.unauthorized_payload(), extra_headers={"WWW-Authenticate": "Bearer"})
                return False
        if not settings.ready:
            self._send_json(mock_openai.not_ready_payload(settings.model))
            return False
        return True

    def _read_json(self) -> Any:
        """The request body as JSON, or None after sending the error answer."""
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            self.close_connection = True
            self._send_json(mock_openai.error_payload("A Content-Length header is required."), 411)
            return None
        try:
            length = int(length_header)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            self.close_connection = True
            self._send_json(mock_openai.error_payload(f"The body must be 0..{MAX_BODY_BYTES} bytes."), 413)
            return None
        body = self.rfile.read(length)
        try:
            return json.loads(body or b"null")
        except ValueError as err:
            self._send_json(mock_openai.error_payload(f"The body is not valid JSON: {err}"))
            return None

    def _drain_body(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if 0 < length <= MAX_BODY_BYTES:
            self.rfile.read(length)
        elif length:
            self.close_connection = True

    def _not_found(self, path: str) -> None:
        self._send_json(
            mock_openai.error_payload(
                f"No route {self.command} {path or '/'} on this server.", type_="not_found_error", code="not_found"
            )
        )

    def _pace(self, tokens: int) -> None:
        latency = self.server.settings.token_latency
        if latency > 0 and tokens > 0:
            time.sleep(latency * tokens)

    # -- answers -------------------------------------------------------------------------------

    def _send_json(
        self, payload: dict[str, Any], status: int | None = None, extra_headers: dict[str, str] | None = None
    ) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        self.send_response(status if status is not None else mock_openai.http_status(payload))
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _send_stream(self, chunks: Iterator[dict[str, Any]]) -> None:
        """Server-sent events in HTTP/1.1 chunked encoding, paced per generated token."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for chunk in chunks:
                if _has_token(chunk):
                    self._pace(1)
                self._write_chunk(mock_openai.sse_event(chunk).encode())
            self._write_chunk(mock_openai.SSE_DONE.encode())
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away mid-stream

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the stdlib's signature)
        if not self.server.quiet:
            super().log_message(format, *args)


def _has_token(chunk: dict[str, Any]) -> bool:
    for choice in chunk.get("choices") or []:
        if choice.get("text") or (choice.get("delta") or {}).get("content"):
            return True
    return False


# ---------------------------------------------------------------- starting


def check_host(host: str, allow_remote: bool) -> None:
    """Refuse a non-loopback listening address unless remote access was asked for."""
    if not allow_remote and not is_loopback_host(host):
        raise MockServerError(
            f"refusing to listen on {host}: the mock server listens on loopback only "
            "(127.0.0.1); pass --allow-remote to expose it"
        )


def make_server(
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    served_model_name: str = DEFAULT_MODEL,
    startup_delay: float = 0.0,
    token_latency: float = 0.0,
    api_key: str | None = None,
    allow_remote: bool = False,
    quiet: bool = True,
) -> MockServer:
    """A bound, not yet serving mock server (port 0 picks a free port: see ``server.url``)."""
    check_host(host, allow_remote)
    if startup_delay < 0 or token_latency < 0:
        raise MockServerError("--startup-delay and --token-latency must not be negative")
    settings = MockSettings(
        model=served_model_name, startup_delay=startup_delay, token_latency=token_latency, api_key=api_key or None
    )
    try:
        return MockServer((host, port), settings, quiet=quiet)
    except OSError as err:
        raise MockServerError(f"cannot listen on {host}:{port}: {err.strerror or err}") from err


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    served_model_name: str = DEFAULT_MODEL,
    startup_delay: float = 0.0,
    token_latency: float = 0.0,
    api_key: str | None = None,
    allow_remote: bool = False,
    quiet: bool = True,
) -> None:
    """Serve until SIGTERM/SIGINT (blocking). Raises MockServerError if it cannot start."""
    server = make_server(
        host=host,
        port=port,
        served_model_name=served_model_name,
        startup_delay=startup_delay,
        token_latency=token_latency,
        api_key=api_key,
        allow_remote=allow_remote,
        quiet=quiet,
    )

    def stop(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    auth = ", API key required" if server.settings.api_key else ""
    print(
        f"nimctl mock server: serving {served_model_name!r} on {server.url}/v1 "
        f"(ready in {startup_delay:g} s, {token_latency:g} s per token{auth})",
        flush=True,
    )
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        print("nimctl mock server: stopped", flush=True)
    finally:
        server.server_close()


def _env_port() -> int:
    value = os.environ.get("MODEL_PORT") or os.environ.get("NIM_SERVER_PORT")
    try:
        return int(value) if value else DEFAULT_PORT
    except ValueError:
        return DEFAULT_PORT


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nimctl mock-server", description="A mock OpenAI-compatible model server for trying nimctl out."
    )
    parser.add_argument("--host", default="127.0.0.1", help="listening address (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"listening port (default $MODEL_PORT, else {DEFAULT_PORT}; 0 = any free port)",
    )
    parser.add_argument(
        "--served-model-name",
        default=None,
        help=f"model id to serve (default $SERVED_MODEL_NAME, else {DEFAULT_MODEL})",
    )
    parser.add_argument(
        "--startup-delay",
        type=float,
        default=0.0,
        metavar="S",
        help="seconds to answer 503 'not ready' after starting (default 0)",
    )
    parser.add_argument(
        "--token-latency", type=float, default=0.0, metavar="S", help="seconds per generated token (default 0)"
    )
    parser.add_argument(
        "--api-key", default=None, help=f"require 'Authorization: Bearer KEY' (default ${ENV_API_KEY}, else no auth)"
    )
    parser.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --host")
    parser.add_argument("--access-log", action="store_true", help="log every request to stderr")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    model = args.served_model_name or os.environ.get("SERVED_MODEL_NAME") or DEFAULT_MODEL
    try:
        serve(
            host=args.host,
            port=_env_port() if args.port is None else args.port,
            served_model_name=model,
            startup_delay=args.startup_delay,
            token_latency=args.token_latency,
            api_key=args.api_key or os.environ.get(ENV_API_KEY),
            allow_remote=args.allow_remote,
            quiet=not args.access_log,
        )
    except MockServerError as err:
        print(f"nimctl mock server: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
