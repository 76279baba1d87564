"""What the emulator's HTTP layer shares with the thread that controls it: ``Runtime`` holds the
live options (changed by ``configure``), the seeded RNG that decides faults, the ``World`` of
workspace objects and the request log. Built by ``EmulatorServer.start`` and handed to
``app.build_app``; stdlib only (the world is imported when a runtime is built).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from nimctl.offline.emulator.options import FIXED_OPTIONS, EmulatorOptions, RequestRecord

if TYPE_CHECKING:
    from nimctl.offline.emulator.world import World

T = TypeVar("T")
MAX_LOGGED_REQUESTS = 20000


def _coerce(name: str, value: Any, current: Any) -> Any:
    """Options posted as JSON or typed on a command line, converted to the option's type."""
    if value is None or current is None:
        return value
    if isinstance(current, bool):
        return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
    if isinstance(current, (int, float)) and not isinstance(value, bool):
        try:
            return type(current)(value)
        except (TypeError, ValueError):
            raise ValueError(f"option {name} must be a number, got {value!r}") from None
    return value


class Runtime:
    """What the HTTP layer shares with the controlling thread: options, RNG, world, request log."""

    def __init__(self, options: EmulatorOptions, endpoint_base: str) -> None:
        from nimctl.offline.emulator.world import World

        self.options = options
        self.endpoint_base = endpoint_base
        self._lock = threading.Lock()
        self._rng = random.Random(options.seed)
        self._requests: list[RequestRecord] = []
        self.world: World = World(lambda: self.options, self.endpoint_url)

    def endpoint_url(self, name: str) -> str:
        return f"{self.endpoint_base}/{name}"

    def roll(self, rate: float) -> bool:
        with self._lock:
            return self._rng.random() < rate

    def choose(self, items: Sequence[T]) -> T:
        with self._lock:
            return self._rng.choice(items)

    def log_request(self, record: RequestRecord) -> None:
        with self._lock:
            self._requests.append(record)
            del self._requests[:-MAX_LOGGED_REQUESTS]

    def request_log(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def configure(self, **changes: Any) -> EmulatorOptions:
        unknown = set(changes) - EmulatorOptions.field_names()
        if unknown:
            raise ValueError(f"unknown emulator option(s): {', '.join(sorted(unknown))}")
        fixed = set(changes) & FIXED_OPTIONS
        if fixed:
            raise ValueError(f"option(s) {', '.join(sorted(fixed))} cannot change on a running emulator")
        current = self.options.to_dict()
        coerced = {k: _coerce(k, v, current[k]) for k, v in changes.items()}
        for key in ("fault_rate", "lost_response_rate", "endpoint_fault_rate"):
            if key in coerced and not 0.0 <= coerced[key] <= 1.0:
                raise ValueError(f"option {key} must be between 0 and 1, got {coerced[key]}")
        for key in ("ready_after", "job_duration", "queue_time", "delete_after", "latency", "clock_offset"):
            if key in coerced and coerced[key] < 0:
                raise ValueError(f"option {key} must not be negative, got {coerced[key]}")
        self.options = replace(self.options, **coerced)
        if "seed" in coerced:
            with self._lock:
                self._rng = random.Random(self.options.seed)
        return self.options

    def reset(self) -> None:
        self.world.reset()
        self.clear_requests()
