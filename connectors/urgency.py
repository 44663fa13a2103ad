"""Who gets the next ERP call when several streams wait for the one per-app quota.

Lower goes first. A stream that is caught up and asks "anything new?" is ``FRESH``: one
call, and the freshness of a screen depends on it, so it never waits behind anybody's
backlog. Pages of a backlog (a first load, a promotion burst) follow in the order that
fills the first screens first: dimensions (labels for everything), then inventory
(the stock screens), then documents (sales and after-sale). A waiter's urgency improves
with the time it has waited (see :class:`~connectors.jushuitan.quota.QuotaBudget`), so
no backlog starves.

The scheduler says which urgency the calls of one poll carry with :func:`planned_calls`;
the source asks :func:`next_call_urgency` for each call it makes. A context variable keeps
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


@dataclass
class CallPlan:
    """The urgency of each call of one poll: FRESH first when the stream was caught up."""

    backlog: Urgency
    fresh_first: bool

    def next(self) -> Urgency:
        if self.fresh_first:
            self.fresh_first = False
            return Urgency.FRESH
        return self.backlog


_plan: ContextVar[CallPlan | None] = ContextVar("erpbi_call_plan", default=None)


@contextmanager
def planned_calls(backlog: Urgency, *, caught_up: bool) -> Iterator[CallPlan]:
    plan = CallPlan(backlog, fresh_first=caught_up)
    token = _plan.set(plan)
    try:
        yield plan
    finally:
        _plan.reset(token)


def next_call_urgency(default: Urgency) -> Urgency:
    """The urgency of the call about to be made (``default`` outside a planned poll)."""
    plan = _plan.get()
    return plan.next() if plan is not None else default
