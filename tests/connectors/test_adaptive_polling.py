"""Each stream's pace follows what its polls find, and each call carries its urgency."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from connectors.base import SyncReport
from connectors.cadence import Cadence
from connectors.runner import Pace, SyncRunner
from connectors.urgency import CallPriority, Urgency, next_call_priority, next_call_urgency

pytestmark = pytest.mark.unit


def found(rows: int, *, more: bool = False) -> SyncReport:
    report = SyncReport("x")
    report.rows_seen, report.more = rows, more
    return report


def test_empty_polls_double_the_pause_up_to_the_bound_and_rows_bring_it_back() -> None:
    pace = Pace("all", least=2.0, most=8.0)
    pauses = []
    for _ in range(4):
        pace.after(found(0), now=100.0, backoff=0.0)
        pauses.append(pace.pause)
    assert pauses == [4.0, 8.0, 8.0, 8.0] and pace.due == 108.0 and pace.caught_up
    pace.after(found(3), now=200.0, backoff=0.0)
    assert (pace.pause, pace.due) == (2.0, 202.0)
    pace.after(found(100, more=True), now=300.0, backoff=0.0)  # a full page: at once
    assert (pace.due, pace.caught_up) == (300.0, False)
    pace.after(None, now=400.0, backoff=30.0)  # failed: the cadence's backoff rules
    assert pace.due == 430.0


class ScriptedStream:
    """A stream whose polls answer from a script; records each poll's call urgencies."""

    def __init__(self, stream: str, answers: list[SyncReport], urgency: Urgency) -> None:
        self.stream = stream
        self.backlog_urgency = urgency
        self.answers = answers
        self.polls: list[tuple[str, Urgency]] = []

    def poll_targets(self) -> list[str]:
        return ["all"]

    def poll(self, target: str) -> SyncReport:
        self.polls.append((target, next_call_urgency(Urgency.DIMENSIONS)))
        report = self.answers.pop(0) if self.answers else found(0)
        report.stream = self.stream
        return report

    def sync_once(self) -> SyncReport:
        return self.poll("all")


def follow(streams: list[Any], seconds: float, least: float, most: float) -> SyncRunner:
    stop = threading.Event()
    runner = SyncRunner(
        streams, follow=True, stop_event=stop, cadence=Cadence(least),
        poll_least_seconds=least, poll_most_seconds={s.stream: most for s in streams},
    )  # fmt: skip
    timer = threading.Timer(seconds, stop.set)
    timer.start()
    runner.run()
    timer.cancel()
    return runner


def test_an_idle_stream_slows_down_while_a_busy_one_keeps_polling() -> None:
    busy = ScriptedStream("outbound", [found(1) for _ in range(1000)], Urgency.DOCUMENTS)
    idle = ScriptedStream("refund", [], Urgency.DOCUMENTS)
    runner = follow([busy, idle], seconds=1.5, least=0.02, most=0.4)
    # idle: 0.04, 0.08, 0.16, 0.32, then every 0.4 s: a handful, against ~75 busy polls.
    assert len(idle.polls) <= 8 < 40 <= len(busy.polls)
    assert runner.current_pauses() == {"outbound": 0.02, "refund": 0.4}


def test_a_backlog_is_read_back_to_back_and_only_then_paced() -> None:
    backlog = [found(50, more=True) for _ in range(5)] + [found(7)]
    stream = ScriptedStream("inventory", backlog, Urgency.INVENTORY)
    follow([stream], seconds=1.0, least=30.0, most=60.0)  # the pause alone: one poll a second
    assert len(stream.polls) == 6  # five full pages at once, the last one, then the 30 s pause
    # The first poll of a process is backlog work; the rest of a backlog too.
    assert [urgency for _, urgency in stream.polls] == [Urgency.INVENTORY] * 6


def test_a_caught_up_stream_asks_for_news_first_in_line() -> None:
    stream = ScriptedStream("outbound", [found(0), found(0)], Urgency.DOCUMENTS)
    follow([stream], seconds=0.5, least=0.05, most=0.1)
    assert stream.polls[0][1] is Urgency.DOCUMENTS  # nothing known yet: backlog class
    assert all(urgency is Urgency.FRESH for _, urgency in stream.polls[1:])
    assert len(stream.polls) >= 3


@pytest.mark.parametrize(("made_a_call", "mode_after"), [(False, "degraded"), (True, "normal")])
def test_only_a_poll_that_reached_the_api_ends_a_degraded_period(
    made_a_call: bool, mode_after: str
) -> None:
    """A full scan not yet due makes no call: it is no evidence the API answers again."""
    calls = [0]
    stream = ScriptedStream("shop", [], Urgency.DIMENSIONS)
    original = stream.poll

    def poll(target: str) -> SyncReport:
        calls[0] += 1 if made_a_call else 0
        return original(target)

    stream.poll = poll  # type: ignore[method-assign]
    cadence = Cadence(0.02, degrade_after_seconds=0.0, degraded_cycle_seconds=0.05)
    cadence.note_throttle()
    assert str(cadence.mode) == "degraded"
    stop = threading.Event()
    runner = SyncRunner([stream], follow=True, stop_event=stop, cadence=cadence,
                        calls_made=lambda: calls[0])  # type: ignore[list-item]  # fmt: skip
    timer = threading.Timer(0.5, stop.set)
    timer.start()
    runner.run()
    assert stream.polls and str(cadence.mode) == mode_after


def test_once_caught_up_a_targets_calls_rank_from_when_it_was_last_complete() -> None:
    """A burst after catching up is not a first load: its pages are FRESH and wait from
    the start of the last poll that caught up (the stalest live target goes first)."""
    priorities: list[CallPriority] = []
    answers = [found(50, more=True), found(3), found(50, more=True), found(50, more=True)]
    stream = ScriptedStream("outbound", answers, Urgency.DOCUMENTS)
    original = stream.poll

    def poll(target: str) -> SyncReport:
        priorities.append(next_call_priority(Urgency.DIMENSIONS))
        return original(target)

    stream.poll = poll  # type: ignore[method-assign]
    runner = follow([stream], seconds=0.5, least=0.05, most=0.1)
    assert priorities[0] == CallPriority(Urgency.DOCUMENTS)  # first load: backlog class
    assert priorities[1] == CallPriority(Urgency.DOCUMENTS)
    complete_at = priorities[2].since
    assert complete_at is not None  # poll 2 caught up; its start is the mark from then on
    assert priorities[2].urgency is priorities[3].urgency is Urgency.FRESH
    assert priorities[3].since == complete_at  # still the burst: the mark does not move
    assert runner.paces["outbound"][0].complete_at is not None
