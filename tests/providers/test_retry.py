"""The retry policy: bounded in attempts and in time, jittered, honouring Retry-After."""

from __future__ import annotations

import pytest

from nimctl.common.errors import NimctlError
from nimctl.providers.retry import RetryPolicy


class FakeClock:
    """Deterministic time for the budget: sleeping advances the clock."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def budget(policy: RetryPolicy, rng=lambda: 1.0):
    clock = FakeClock()
    return policy.start(sleep=clock.sleep, clock=clock.clock, rng=rng), clock


def test_attempts_bound():
    b, clock = budget(RetryPolicy(max_attempts=4, base_delay=0.1, max_delay=10, max_total_s=1000))
    assert [b.wait("x") for _ in range(4)] == [True, True, True, False]
    assert clock.sleeps == [0.1, 0.2, 0.4]  # exponential (rng=1.0 gives the ceiling)


def test_backoff_is_capped_by_max_delay():
    policy = RetryPolicy(max_attempts=20, base_delay=1, max_delay=5, max_total_s=1000)
    assert [policy.backoff(n, rng=lambda: 1.0) for n in (1, 2, 3, 4, 10)] == [1, 2, 4, 5, 5]


def test_full_jitter_draws_between_zero_and_the_ceiling():
    policy = RetryPolicy(base_delay=2, max_delay=100)
    assert policy.backoff(3, rng=lambda: 0.0) == 0.0
    assert policy.backoff(3, rng=lambda: 0.5) == 4.0
    values = {policy.backoff(3) for _ in range(50)}
    assert len(values) > 1 and all(0 <= v <= 8 for v in values)


def test_time_bound_stops_before_a_wait_that_would_overrun():
    b, clock = budget(RetryPolicy(max_attempts=100, base_delay=1, max_delay=1, max_total_s=3.5))
    results = [b.wait("x") for _ in range(6)]
    assert results[:3] == [True, True, True] and results[3] is False
    assert clock.now <= 3.5


def test_retry_after_is_a_floor_but_never_exceeds_the_time_bound():
    b, clock = budget(RetryPolicy(max_attempts=10, base_delay=0.01, max_delay=0.01, max_total_s=10))
    assert b.wait("429", retry_after=2.0)
    assert clock.sleeps == [2.0]
    assert not b.wait("429", retry_after=30.0)  # would overrun the 10 s allowance
    assert clock.sleeps == [2.0]


def test_single_attempt_policy_never_sleeps():
    b, clock = budget(RetryPolicy(max_attempts=1))
    assert not b.wait("x")
    assert clock.sleeps == []
    assert "1 try" in b.summary()


def test_env_overrides():
    policy = RetryPolicy.from_env(
        RetryPolicy(max_attempts=3, max_total_s=9),
        environ={"NIMCTL_RETRY_MAX_ATTEMPTS": "12", "NIMCTL_RETRY_MAX_SECONDS": "2.5"},
    )
    assert (policy.max_attempts, policy.max_total_s) == (12, 2.5)
    assert RetryPolicy.from_env(environ={}) == RetryPolicy()


@pytest.mark.parametrize(
    "env",
    [
        {"NIMCTL_RETRY_MAX_ATTEMPTS": "many"},
        {"NIMCTL_RETRY_MAX_ATTEMPTS": "0"},
        {"NIMCTL_RETRY_MAX_SECONDS": "-1"},
        {"NIMCTL_RETRY_MAX_SECONDS": "1.5x"},
    ],
)
def test_bad_env_values_are_clear_errors(env):
    with pytest.raises(NimctlError) as info:
        RetryPolicy.from_env(environ=env)
    assert next(iter(env)) in str(info.value)


def test_invalid_policy_rejected():
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
