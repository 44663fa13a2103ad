"""Who gets the next ERP call when several streams wait for the one per-app quota.

Lower goes first. A stream that is caught up and asks "anything new?" is ``FRESH``: one
call, and the freshness of a screen depends on it, so it never waits behind anybody's
backlog. Pages of a backlog (a first load, a promotion burst) follow in the order that
fills the first screens first: dimensions (labels for everything), then inventory
(the stock screens), then documents (sales and after-sale). A waiter's urgency improves
with the time it has waited (see :class:`~connectors.jushuitan.quota.QuotaBudget`), so
no backlog starves.

Those classes order a first load. Once a target has caught up, what matters is how old
the newest data it is known to have is: every later call of that target (a poll for
news, or the pages of a live backlog such as a promotion burst) is ``FRESH`` and ranks
from the moment the target was last known complete, not from when the call queued. So
the stalest live target goes first: a stream that fell behind in a burst is not held
back by streams that were read two seconds ago (under a saturated quota that turns into
a runaway lag), and targets share the quota so that their staleness stays alike.

The scheduler says which priority the calls of one poll carry with :func:`planned_calls`;
the source asks :func:`next_call_priority` for each call it makes. A context variable keeps
this out of every signature between the two (windowed and full-scan reads make several
calls per poll).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from enum import IntEnum


class Urgency(IntEnum):
    FRESH = 0
    DIMENSIONS = 1
    INVENTORY = 2
    DOCUMENTS = 3


@dataclass(frozen=True)
class CallPriority:
    """Where a call stands in the quota queue: its class, and the moment its waiting is
    counted from (``None``: from when it queues)."""

    urgency: Urgency
    since: float | None = None


ANY_CALL = CallPriority(Urgency.FRESH)  # a call outside any plan (token, probe, tools)


@dataclass
class CallPlan:
    """The priority of each call of one poll: a live target's calls are FRESH from the
    moment it was last known complete; otherwise FRESH first when the stream was caught
    up, then its backlog class."""

    backlog: Urgency
    fresh_first: bool
    complete_at: float | None = None

    def next(self) -> CallPriority:
        if self.complete_at is not None:
            return CallPriority(Urgency.FRESH, self.complete_at)
        if self.fresh_first:
            self.fresh_first = False
            return CallPriority(Urgency.FRESH)
        return CallPriority(self.backlog)


_plan: ContextVar[CallPlan | None] = ContextVar("erpbi_call_plan", default=None)


@contextmanager
def planned_calls(
    backlog: Urgency, *, caught_up: bool, complete_at: float | None = None
) -> Iterator[CallPlan]:
    """``complete_at``: the (monotonic) time the target last caught up, if it ever did."""
    plan = CallPlan(backlog, fresh_first=caught_up, complete_at=complete_at)
    token = _plan.set(plan)
    try:
        yield plan
    finally:
        _plan.reset(token)


def next_call_priority(default: Urgency) -> CallPriority:
    """The priority of the call about to be made (``default`` outside a planned poll)."""
    plan = _plan.get()
    return plan.next() if plan is not None else CallPriority(default)


def next_call_urgency(default: Urgency) -> Urgency:
    return next_call_priority(default).urgency
