"""QuotaBudget: proactive pacing on a simulated clock, and hot-before-cold priority."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.jushuitan.quota import Priority, QuotaBudget

pytestmark = pytest.mark.unit


class SimulatedClock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def jushuitan_budget(clock: SimulatedClock, **options: float) -> QuotaBudget:
    """The real limits (5/s, 100/min) and the default safety margin."""
    return QuotaBudget(0.26, 5, 100, clock=clock, sleep=clock.sleep, **options)  # type: ignore[arg-type]


def assert_within_limits(stamps: list[float], per_second: int, per_minute: int) -> None:
    for index, start in enumerate(stamps):
        in_second = [t for t in stamps[index:] if t - start < 1.0]
        in_minute = [t for t in stamps[index:] if t - start < 60.0]
        assert len(in_second) <= per_second, f"{len(in_second)} calls within 1 s of {start}"
        assert len(in_minute) <= per_minute, f"{len(in_minute)} calls within 60 s of {start}"


@settings(max_examples=25, deadline=None)
@given(
    latencies=st.lists(st.floats(0.0, 1.5), min_size=150, max_size=260),
    priorities=st.lists(st.sampled_from(list(Priority)), min_size=1, max_size=30),
)
def test_pacing_never_exceeds_5_per_second_or_100_per_minute(
    latencies: list[float], priorities: list[Priority]
) -> None:
    """Server stamps = any moment between sending and the answer: limits hold for all."""
    clock = SimulatedClock()
    budget = jushuitan_budget(clock)
    sent: list[float] = []
    answered: list[float] = []
    for number, latency in enumerate(latencies):
        with budget.slot(priorities[number % len(priorities)], "stream"):
            sent.append(clock.now)
            clock.sleep(latency)
            answered.append(clock.now)
    assert_within_limits(sent, 5, 100)
    assert_within_limits(answered, 5, 100)


def test_backlog_uses_at_least_95_percent_of_the_quota() -> None:
    clock = SimulatedClock()
    budget = jushuitan_budget(clock, safety_margin_seconds=0.05)
    for _ in range(1000):
        with budget.slot(Priority.HOT):
            clock.sleep(0.05)
    minutes = (clock.now - 5000.0) / 60.0
    assert 1000 / minutes >= 95.0


def test_cold_callers_leave_headroom_for_hot_ones() -> None:
    clock = SimulatedClock()
    budget = QuotaBudget(0.0, 0, 100, clock=clock, sleep=clock.sleep, safety_margin_seconds=0.0)
    for _ in range(10):  # the cold reserve (10 %) is used up
        budget.acquire(Priority.COLD)
    for _ in range(70):
        budget.acquire(Priority.HOT)
    assert budget.seconds_until_allowed(Priority.HOT) == 0.0
    assert budget.seconds_until_allowed(Priority.COLD) > 0.0  # 20 calls kept for hot bursts
    for _ in range(20):
        budget.acquire(Priority.HOT)
    assert budget.seconds_until_allowed(Priority.HOT) > 0.0  # the quota itself


def test_cold_callers_keep_a_reserved_share() -> None:
    clock = SimulatedClock()
    budget = QuotaBudget(0.0, 0, 100, clock=clock, sleep=clock.sleep, safety_margin_seconds=0.0)
    for _ in range(85):
        budget.acquire(Priority.HOT)
    assert budget.seconds_until_allowed(Priority.COLD) == 0.0  # none of its 10 used yet
    usage = budget.usage()
    assert usage["calls_last_minute"] == 85 and usage["by_priority"] == {"hot": 85}


def test_hot_callers_go_first_when_both_wait() -> None:
    budget = QuotaBudget(0.0, 20, 0, safety_margin_seconds=0.0)  # real clock, 20 calls/s
    order: list[str] = []
    lock = threading.Lock()

    def caller(priority: Priority, calls: int) -> None:
        for _ in range(calls):
            with budget.slot(priority, str(priority)):
                with lock:
                    order.append(str(priority))

    cold = threading.Thread(target=caller, args=(Priority.COLD, 30))
    hot = threading.Thread(target=caller, args=(Priority.HOT, 30))
    cold.start()
    time.sleep(0.05)
    hot.start()
    hot.join(10)
    cold.join(10)
    last_hot = max(index for index, name in enumerate(order) if name == "hot")
    cold_before_last_hot = order[:last_hot].count("cold")
    first_hot = order.index("hot")
    cold_while_hot_waited = cold_before_last_hot - first_hot
    assert cold_while_hot_waited <= 3, order


def test_throttling_holds_everyone_back_and_is_counted() -> None:
    clock = SimulatedClock()
    budget = jushuitan_budget(clock)
    budget.note_throttled(10.0)
    assert budget.acquire(Priority.COLD) == pytest.approx(10.0)
    assert budget.usage()["throttled_total"] == 1
