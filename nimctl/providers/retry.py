"""Bounded retries with exponential backoff and full jitter, shared by the providers.

One ``Budget`` covers one provider operation (a create with its look-ups, a listing with all
its pages): every transiently failed request spends one attempt, and the operation gives up once
either the attempts or the wall-clock allowance are used up. Delays follow "full jitter"
(uniform in ``[0, min(max_delay, base_delay * 2**n)]``), so many clients backing off from the
same fault do not retry in lockstep; a server's ``Retry-After`` is a floor on the wait.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from nimctl.common.errors import NimctlError

ENV_MAX_ATTEMPTS = "NIMCTL_RETRY_MAX_ATTEMPTS"
ENV_MAX_SECONDS = "NIMCTL_RETRY_MAX_SECONDS"


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one operation tries before it reports a transient failure.

    max_attempts: requests one operation may send that fail transiently, plus one.
    base_delay / max_delay: backoff bounds in seconds (before jitter).
    max_total_s: wall-clock allowance of one operation, waits included; a wait that would
    overrun it is not started.
    """

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 20.0
    max_total_s: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_total_s < 0:
            raise ValueError("retry delays and time limits must be non-negative")

    @classmethod
    def from_env(cls, base: RetryPolicy | None = None, environ: dict[str, str] | None = None) -> RetryPolicy:
        """``base`` (or the defaults) with NIMCTL_RETRY_MAX_ATTEMPTS / _MAX_SECONDS applied."""
        env = os.environ if environ is None else environ
        policy = base or cls()
        attempts = _env_number(env, ENV_MAX_ATTEMPTS, int)
        seconds = _env_number(env, ENV_MAX_SECONDS, float)
        if attempts is not None:
            if attempts < 1:
                raise NimctlError(
                    f"{ENV_MAX_ATTEMPTS}={attempts} must be at least 1",
                    hint=f"unset {ENV_MAX_ATTEMPTS} or give a positive integer",
                )
            policy = replace(policy, max_attempts=int(attempts))
        if seconds is not None:
            if seconds < 0:
                raise NimctlError(
                    f"{ENV_MAX_SECONDS}={seconds} must not be negative",
                    hint=f"unset {ENV_MAX_SECONDS} or give a number of seconds",
                )
            policy = replace(policy, max_total_s=seconds)
        return policy

    def backoff(self, failures: int, rng: Callable[[], float] = random.random) -> float:
        """The jittered wait after the ``failures``-th consecutive failure (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** max(failures - 1, 0)))
        return ceiling * rng()

    def start(
        self,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> Budget:
        return Budget(self, sleep=sleep, clock=clock, rng=rng)


def _env_number(env, name: str, kind: type) -> float | int | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        return kind(raw)
    except ValueError:
        wanted = "a whole number" if kind is int else "a number"
        raise NimctlError(f"{name}={raw!r} is not {wanted}", hint=f"unset {name} or set it to {wanted}") from None


@dataclass
class Budget:
    """The retry allowance of one operation in progress."""

    policy: RetryPolicy
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    rng: Callable[[], float] = random.random
    failures: int = 0
    started: float = field(default=0.0)
    last_reason: str = ""

    def __post_init__(self) -> None:
        self.started = self.clock()

    @property
    def elapsed(self) -> float:
        return self.clock() - self.started

    def wait(self, reason: str = "", retry_after: float | None = None) -> bool:
        """Record a transient failure; sleep before the next try and return True, or return
        False when the attempts or the time allowance are used up (the caller then gives up)."""
        self.failures += 1
        self.last_reason = reason
        if self.failures >= self.policy.max_attempts:
            return False
        delay = self.policy.backoff(self.failures, self.rng)
        if retry_after is not None and retry_after > delay:
            delay = retry_after
        if self.elapsed + delay > self.policy.max_total_s:
            return False
        if delay > 0:
            self.sleep(delay)
        return True

    def summary(self) -> str:
        """For error messages: how much trying was done."""
        tries = "try" if self.failures == 1 else "tries"
        return f"{self.failures} {tries} over {self.elapsed:.1f}s"
