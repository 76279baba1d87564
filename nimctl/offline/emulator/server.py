"""Run the Lepton workspace emulator on 127.0.0.1 in a background thread.

    with EmulatorServer(EmulatorOptions(ready_after=0.05)) as emu:
        client = APIClient(workspace_id=emu.workspace_id, auth_token=emu.token, url=emu.url)
        ...
        assert emu.world.creates("deployment", "ep1") == 1

Importing this module is cheap; the HTTP stack (starlette, uvicorn) and the SDK models are
imported by :meth:`EmulatorServer.start`.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from nimctl.offline.emulator.options import EmulatorOptions, RequestRecord
from nimctl.offline.emulator.runtime import Runtime

if TYPE_CHECKING:
    from nimctl.offline.emulator.world import World

__all__ = ["EmulatorOptions", "EmulatorServer", "RequestRecord"]

START_TIMEOUT = 10.0


def _warm_validation() -> None:
    # Best effort: should another thread be importing the SDK at this moment, Python may report a
    # module-lock deadlock here; the first request then simply imports it itself.
    try:
        import nimctl.offline.emulator.validation  # noqa: F401
    except RuntimeError:
        pass


class EmulatorServer:
    """A started-on-demand emulator. ``start()`` returns once it accepts connections."""

    def __init__(
        self, options: EmulatorOptions | None = None, *, host: str = "127.0.0.1", port: int = 0, **overrides: Any
    ) -> None:
        options = options or EmulatorOptions()
        self._options = replace(options, **overrides) if overrides else options
        self.host = host
        self._requested_port = port
        self._runtime: Runtime | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.port: int | None = None

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> EmulatorServer:
        if self._thread is not None:
            return self
        import uvicorn

        from nimctl.offline.emulator.app import build_app

        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Without TCP_NODELAY every keep-alive answer waits ~40 ms for the delayed ACK (Nagle).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((self.host, self._requested_port))
        sock.listen(128)
        self._socket, self.port = sock, sock.getsockname()[1]
        self._runtime = Runtime(self._options, f"{self.base_url}/_endpoints")
        config = uvicorn.Config(
            build_app(self._runtime),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
            timeout_keep_alive=5,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name=f"lepton-emulator-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the Lepton emulator did not start on {self.host}:{self.port}")
            time.sleep(0.005)
        # Import the SDK models the first create needs now, in this thread: importing them in a
        # background thread raced with the caller importing the SDK, and Python then reports a
        # module-lock deadlock in whichever thread loses (once per process: later starts are free).
        _warm_validation()
        return self

    def _serve(self) -> None:
        import asyncio

        asyncio.run(self._server.serve(sockets=[self._socket]))

    def stop(self, wait: bool = True) -> None:
        """Stop serving. ``wait=False`` returns at once; the server finishes within ~0.2 s by itself."""
        if self._server is not None:
            self._server.should_exit = True
        if self._runtime is not None:
            self._runtime.world.shutdown()  # no job process outlives the emulator
        if wait:
            if self._thread is not None:
                self._thread.join(timeout=5)
            if self._socket is not None:
                self._socket.close()
        self._thread = self._server = self._socket = None

    def serve_forever(self) -> None:
        """Block until the server thread ends (stop() from a signal handler ends it)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=0.5)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- what clients need

    @property
    def options(self) -> EmulatorOptions:
        return self._runtime.options if self._runtime else self._options

    @property
    def workspace_id(self) -> str:
        return self.options.workspace_id

    @property
    def token(self) -> str:
        return self.options.token

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` (the host clients should use; 127.0.0.1 for a wildcard bind)."""
        if self.port is None:
            raise RuntimeError("the emulator has not been started")
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def url(self) -> str:
        """The workspace URL the SDK takes (``LEPTON_WORKSPACE_URL``), no trailing slash."""
        return f"{self.base_url}/api/v2/workspaces/{self.workspace_id}"

    def endpoint_url(self, name: str) -> str:
        """The ``external_endpoint`` an endpoint of this name gets."""
        return f"{self.base_url}/_endpoints/{name}"

    def env(self) -> dict[str, str]:
        return {
            "LEPTON_WORKSPACE_ID": self.workspace_id,
            "LEPTON_WORKSPACE_TOKEN": self.token,
            "LEPTON_WORKSPACE_URL": self.url,
        }

    # ---------------------------------------------------------------- control and assertions

    def _rt(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("the emulator has not been started")
        return self._runtime

    def configure(self, **options: Any) -> EmulatorOptions:
        """Change delays, patterns or fault rates live (not workspace_id/token)."""
        return self._rt().configure(**options)

    @property
    def requests(self) -> list[RequestRecord]:
        """Every non-admin request answered so far, oldest first."""
        return self._rt().request_log()

    def clear_requests(self) -> None:
        self._rt().clear_requests()

    @property
    def world(self) -> World:
        return self._rt().world

    def reset(self) -> None:
        """Forget every object and the request log."""
        self._rt().reset()
