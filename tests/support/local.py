"""Helpers for the local platform's tests: the mock OpenAI server's command line (``mock_command``,
serving ``MODEL``) and a local endpoint spec that runs it (``endpoint_spec``), and ``pid_alive`` (a
process that exists and is not a zombie)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

MODEL = "test/mock-model"


def mock_command(model: str = MODEL, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "nimctl.offline.mock_server",
        "--port",
        "{port}",
        "--served-model-name",
        model,
        *extra,
    ]


def endpoint_spec(model: str = MODEL, *extra: str, port: int | None = None, **more: Any) -> dict[str, Any]:
    return {
        "command": mock_command(model, *extra),
        "port": port,
        "host": "127.0.0.1",
        "env": {},
        "health_path": "/v1/health/ready",
        **more,
    }


def pid_alive(pid: int) -> bool:
    """The process exists and is not a zombie (a zombie has finished; only its entry is left)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")
