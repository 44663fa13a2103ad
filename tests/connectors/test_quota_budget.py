"""QuotaBudget: proactive pacing on a simulated clock, urgency order, and one budget per
app key shared by every process of the machine."""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.settings import JushuitanSettings
from connectors.jushuitan.ledger import BOOT_ID, LocalWindow, SharedLedger, ledger_path
from connectors.jushuitan.quota import QuotaBudget, Waiter, first_in_line
from connectors.urgency import Urgency

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
    stamps = sorted(stamps)
    for index, start in enumerate(stamps):
        in_second = [t for t in stamps[index:] if t - start < 1.0]
        in_minute = [t for t in stamps[index:] if t - start < 60.0]
        assert len(in_second) <= per_second, f"{len(in_second)} calls within 1 s of {start}"
        assert len(in_minute) <= per_minute, f"{len(in_minute)} calls within 60 s of {start}"


@settings(max_examples=25, deadline=None)
@given(
    latencies=st.lists(st.floats(0.0, 1.5), min_size=150, max_size=260),
    urgencies=st.lists(st.sampled_from(list(Urgency)), min_size=1, max_size=30),
)
def test_pacing_never_exceeds_5_per_second_or_100_per_minute(
    latencies: list[float], urgencies: list[Urgency]
) -> None:
    """Server stamps = any moment between sending and the answer: limits hold for all."""
    clock = SimulatedClock()
    budget = jushuitan_budget(clock)
    sent: list[float] = []
    answered: list[float] = []
    for number, latency in enumerate(latencies):
        with budget.slot(urgencies[number % len(urgencies)], "stream"):
            sent.append(clock.now)
            clock.sleep(latency)
            answered.append(clock.now)
    assert_within_limits(sent, 5, 100)
    assert_within_limits(answered, 5, 100)


def test_backlog_uses_at_least_95_percent_of_the_quota() -> None:
    clock = SimulatedClock()
    budget = jushuitan_budget(clock, safety_margin_seconds=0.05)
    for _ in range(1000):
        with budget.slot(Urgency.DOCUMENTS):
            clock.sleep(0.05)
    minutes = (clock.now - 5000.0) / 60.0
    assert 1000 / minutes >= 95.0


Caller = tuple[str, Urgency, "float | None"]  # name, urgency, waiting counted since


def race(budget: QuotaBudget, early: Caller, late: Caller, calls: int = 30) -> list[str]:
    """Two callers of ``calls`` calls each, ``late`` starting 50 ms after ``early``: the
    order their calls went in."""
    order: list[str] = []
    lock = threading.Lock()

    def caller(name: str, urgency: Urgency, since: float | None) -> None:
        for _ in range(calls):
            with budget.slot(urgency, name, since=since):
                with lock:
                    order.append(name)

    threads = [threading.Thread(target=caller, args=args) for args in (early, late)]
    threads[0].start()
    time.sleep(0.05)
    threads[1].start()
    for thread in reversed(threads):
        thread.join(10)
    return order


def overtakes(order: list[str], waiting: str, other: str) -> int:
    """Calls of ``other`` that went while ``waiting`` had calls queued."""
    last = max(index for index, name in enumerate(order) if name == waiting)
    return order[:last].count(other) - order.index(waiting)


def test_a_caught_up_poll_goes_before_backlog_pages_when_both_wait() -> None:
    budget = QuotaBudget(0.0, 20, 0, safety_margin_seconds=0.0)  # real clock, 20 calls/s
    order = race(budget, ("DOCUMENTS", Urgency.DOCUMENTS, None), ("FRESH", Urgency.FRESH, None))
    assert overtakes(order, "FRESH", "DOCUMENTS") <= 3, order


def test_the_stalest_live_target_goes_first_when_the_quota_is_saturated() -> None:
    """A promotion burst: outbound fell behind 10 s ago and pages its backlog, inventory
    keeps asking for news it last had 1 s ago. Outbound's pages go first, so its lag
    shrinks instead of growing behind a stream of polls."""
    budget = QuotaBudget(0.0, 20, 0, safety_margin_seconds=0.0)
    now = time.monotonic()
    order = race(budget, ("inventory", Urgency.FRESH, now - 1.0),
                 ("outbound", Urgency.FRESH, now - 10.0))  # fmt: skip
    assert overtakes(order, "outbound", "inventory") <= 3, order


def test_a_live_targets_wait_counts_from_when_it_was_last_complete() -> None:
    waiters = {
        1: Waiter(Urgency.FRESH, since=98.0),  # a poll for news, complete 2 s ago
        2: Waiter(Urgency.FRESH, since=90.0),  # a live backlog page, complete 10 s ago
        3: Waiter(Urgency.DOCUMENTS, since=100.0),  # a first load's page
    }
    assert first_in_line(waiters, 100.0, aging_seconds=10.0) == 2
    del waiters[2]
    assert first_in_line(waiters, 100.0, aging_seconds=10.0) == 1


def test_backlog_classes_fill_the_first_screens_first_and_waiting_ages() -> None:
    waiters = {
        1: Waiter(Urgency.DOCUMENTS, since=100.0),
        2: Waiter(Urgency.INVENTORY, since=100.0),
        3: Waiter(Urgency.DIMENSIONS, since=100.0),
    }
    assert first_in_line(waiters, 100.0, aging_seconds=10.0) == 3  # dimensions first
    del waiters[3]
    assert first_in_line(waiters, 100.0, aging_seconds=10.0) == 2  # then inventory
    # A document page that has waited 35 s (three levels and a half) goes before a fresh
    # poll that just arrived: no backlog starves behind a stream of polls.
    waiters = {1: Waiter(Urgency.DOCUMENTS, since=65.0), 2: Waiter(Urgency.FRESH, since=100.0)}
    assert first_in_line(waiters, 100.0, aging_seconds=10.0) == 1
    waiters[1] = Waiter(Urgency.DOCUMENTS, since=75.0)  # 25 s: not yet
    assert first_in_line(waiters, 100.0, aging_seconds=10.0) == 2
    assert first_in_line(waiters, 100.0, aging_seconds=0.0) == 2  # no aging: strict order


def test_throttling_holds_everyone_back_and_is_counted() -> None:
    clock = SimulatedClock()
    budget = jushuitan_budget(clock)
    budget.note_throttled(10.0)
    assert budget.acquire(Urgency.DOCUMENTS) == pytest.approx(10.0)
    assert budget.usage()["throttled_total"] == 1


def test_two_budgets_on_one_ledger_see_each_others_calls_and_throttling(tmp_path: Path) -> None:
    path = ledger_path(tmp_path, "http://127.0.0.1:1", "app")

    def budget() -> QuotaBudget:  # ten calls at once (a burst the size of the minute)
        return QuotaBudget(0.0, 0, 10, safety_margin_seconds=0.0, burst_calls=10,
                           window=SharedLedger(path))  # fmt: skip

    first, second = budget(), budget()
    for _ in range(6):
        first.acquire(Urgency.FRESH, "outbound")
    for _ in range(4):
        second.acquire(Urgency.FRESH, "backfill")
    assert second.seconds_until_allowed() > 50  # the minute is full across both
    assert first.usage()["calls_last_minute"] == 6
    assert first.usage()["all_processes_last_minute"] == 10
    other = ledger_path(tmp_path, "http://127.0.0.1:1", "another-app")
    assert QuotaBudget(0.0, 0, 10, window=SharedLedger(other)).seconds_until_allowed() == 0.0
    path.unlink()
    first.note_throttled(30.0)  # the server said "too many": the other process holds back
    assert second.seconds_until_allowed() == pytest.approx(30.0, abs=0.5)


def _calls_in_a_process(path: str, calls: int, stamps: multiprocessing.Queue) -> None:
    budget = QuotaBudget(0.0, 10, 0, safety_margin_seconds=0.02, window=SharedLedger(Path(path)))
    for _ in range(calls):
        with budget.slot(Urgency.DOCUMENTS, "bulk"):
            started = time.monotonic()
            time.sleep(0.01)
            stamps.put((started, time.monotonic()))


def test_processes_sharing_a_ledger_stay_inside_the_per_second_limit_together(
    tmp_path: Path,
) -> None:
    path = ledger_path(tmp_path, "http://127.0.0.1:1", "app")
    context = multiprocessing.get_context("spawn")
    stamps: multiprocessing.Queue = context.Queue()
    workers = [
        context.Process(target=_calls_in_a_process, args=(str(path), 15, stamps)) for _ in range(3)
    ]
    for worker in workers:
        worker.start()
    got = [stamps.get(timeout=30) for _ in range(45)]
    for worker in workers:
        worker.join(10)
        assert worker.exitcode == 0
    assert_within_limits([start for start, _ in got], 10, 10**6)
    assert_within_limits([end for _, end in got], 10, 10**6)
    span = max(end for _, end in got) - min(start for start, _ in got)
    assert span < 8.0  # 45 calls at 10/s: they did share the quota, not serialise on the lock


def test_a_ledger_from_an_earlier_boot_or_with_future_stamps_holds_nobody_back(
    tmp_path: Path,
) -> None:
    """Monotonic times restart at boot: a surviving file must not hold calls for days."""
    path = ledger_path(tmp_path, "http://127.0.0.1:1", "app")
    ahead = time.monotonic() + 864_000
    path.write_text(json.dumps({"boot": "an-earlier-boot", "calls": [["x-0", ahead, ahead]] * 5,
                                "not_before": ahead}))  # fmt: skip
    budget = QuotaBudget(0.0, 5, 100, safety_margin_seconds=0.0, window=SharedLedger(path))
    assert budget.seconds_until_allowed() == 0.0
    path.write_text(json.dumps({"boot": BOOT_ID, "calls": [["x-0", ahead, ahead]] * 5,
                                "not_before": 0.0}))  # fmt: skip
    assert budget.seconds_until_allowed() == 0.0  # this boot, yet ahead of now: dropped


@pytest.mark.parametrize("content", ["", "[]", "{not json"])
def test_an_unreadable_ledger_is_replaced_and_holds_back_one_window_only(
    tmp_path: Path, content: str
) -> None:
    path = ledger_path(tmp_path, "http://127.0.0.1:1", "app")
    path.write_text(content)
    budget = QuotaBudget(0.0, 5, 100, safety_margin_seconds=0.0, window=SharedLedger(path))
    first = budget.seconds_until_allowed()
    assert 55.0 < first <= 60.0  # it may have listed calls: one window of caution
    assert json.loads(path.read_text())["boot"] == BOOT_ID  # written anew at once
    assert budget.seconds_until_allowed() <= first  # not pushed further on every read


def test_a_saturated_quota_spreads_its_calls_over_the_minute() -> None:
    """More demand than 100 calls a minute: the calls come evenly, not 100 in 20 s and
    then a 40 s silence that every screen's stream would wait out."""
    clock = SimulatedClock()
    budget = jushuitan_budget(clock)
    starts: list[float] = []
    for _ in range(400):
        with budget.slot(Urgency.FRESH):
            starts.append(clock.now)
            clock.sleep(0.05)
    gaps = [later - earlier for earlier, later in zip(starts, starts[1:], strict=False)]
    assert max(gaps) < 1.0, max(gaps)
    assert_within_limits(starts, 5, 100)
    minutes = (starts[-1] - starts[0]) / 60.0
    assert 399 / minutes >= 95.0


def test_a_background_budget_takes_its_share_and_the_live_streams_the_rest(
    tmp_path: Path,
) -> None:
    """Live polls asking for every call the quota allows and a backfill at the same time:
    the backfill gets its 30 calls a minute, the live streams the other 70, and together
    never more than 100 in a minute; once the backfill has stopped asking, the live
    streams have the whole quota again. A backfill alone has all of it."""
    settings = JushuitanSettings(quota_ledger_dir=tmp_path)
    assert QuotaBudget.from_settings(settings, background_share=30).background_share == 30
    clock = SimulatedClock()
    shared = LocalWindow()  # one window: as the machine's ledger is for two processes
    live = QuotaBudget(0.26, 5, 100, window=shared, clock=clock, sleep=clock.sleep)
    backfill = QuotaBudget(0.26, 5, 100, background_share=30, window=shared, clock=clock,
                           sleep=clock.sleep)  # fmt: skip
    alone = clock.now
    for _ in range(90):
        backfill.acquire(Urgency.DOCUMENTS, "outbound")
    assert clock.now - alone < 60.0
    clock.sleep(61.0)  # its calls leave the window
    starts: dict[str, list[float]] = {"live": [], "backfill": []}
    until = 300.0 + clock.now
    budgets = {"live": live, "backfill": backfill}
    while clock.now < until:  # both always asking: the one allowed sooner calls next
        backfill.seconds_until_allowed()  # asking marks the window, as a waiting call does
        waits = {name: budget.seconds_until_allowed() for name, budget in budgets.items()}
        name = min(waits, key=lambda n: (waits[n], n == "backfill"))
        clock.sleep(waits[name])
        with budgets[name].slot(Urgency.FRESH, name):
            starts[name].append(clock.now)
            clock.sleep(0.05)
    assert_within_limits(sorted(starts["live"] + starts["backfill"]), 5, 100)
    first = until - 300.0
    for minute in range(1, 5):  # after the first minute, every minute
        begin, end = first + 60.0 * minute, first + 60.0 * (minute + 1)
        counts = {name: sum(1 for t in ts if begin <= t < end) for name, ts in starts.items()}
        assert 28 <= counts["backfill"] <= 30, counts
        assert counts["live"] >= 62, counts
    clock.sleep(10.0)  # the backfill has stopped asking: its mark lapses
    start = clock.now
    for _ in range(90):
        live.acquire(Urgency.FRESH, "outbound")
    assert clock.now - start < 70.0  # the live streams have the whole quota again
