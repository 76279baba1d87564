"""Polling for a condition in the tests: ``wait_until`` calls a probe until it returns something
truthy and gives that value back, failing the test (an AssertionError naming the last value) once
``timeout`` seconds have passed. (The reliability harness's ``wait_while`` is the opposite: it
waits while a check still finds something, and returns it instead of failing.)"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(probe: Callable[[], T], timeout: float = 10.0, interval: float = 0.02) -> T:
    """Poll ``probe`` until it returns something truthy; fail with the last value after ``timeout``."""
    deadline = time.monotonic() + timeout
    value = probe()
    while not value:
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value: {value!r})")
        time.sleep(interval)
        value = probe()
    return value
