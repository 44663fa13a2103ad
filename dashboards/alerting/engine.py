"""One evaluation of one rule: which items are pending, firing or resolved, and what to send.

Per item, as Prometheus and Alertmanager do it:

- an item whose value crosses the threshold is *pending* from that moment; after the
  rule's ``for`` it is *firing* (at once when ``for`` is 0);
- a firing item is sent once; while it stays firing its group is sent again only after
  the rule's ``repeat_interval``;
- an item that no longer crosses (or no longer appears) is *resolved*: sent once if its
  firing was sent, and forgotten; a pending item that recovers is forgotten silently;
- a silenced item is tracked but not sent; when the silence ends and it still fires, it
  is sent once, as new;
- what is sent in one evaluation is grouped by the rule's route (the owner to @-mention):
  one message lists the 37 SKUs that ran out, not 37 messages.

Pure: the state goes in and comes out (the store persists it with the outbox in one
transaction), so a restart neither forgets a firing item nor sends it again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from dashboards.alerting.rules import AlertRule
from dashboards.alerting.silences import Silence, silenced


class Phase(StrEnum):
    pending = "pending"
    firing = "firing"


@dataclass(frozen=True)
class ItemState:
    phase: Phase
    since: datetime  # first evaluation that saw it cross
    row: Mapping[str, Any]  # the latest row, for the message
    sent_at: datetime | None = None  # when its firing was last sent


@dataclass(frozen=True)
class Notification:
    """One message: a rule's items for one route, new or repeated, and resolved ones."""

    rule: str
    route: str | None
    firing: tuple[Mapping[str, Any], ...] = ()
    resolved: tuple[Mapping[str, Any], ...] = ()
    repeated: bool = False  # only items already sent, repeated after repeat_interval
    still_firing: int = 0  # how many of the route's items fire in all (sent or not)

    @property
    def state(self) -> str:
        return "firing" if self.firing else "resolved"


@dataclass
class Evaluation:
    states: dict[str, ItemState]
    notifications: list[Notification] = field(default_factory=list)
    pending: int = 0
    firing: int = 0
    silenced: int = 0


def evaluate(
    rule: AlertRule,
    rows: Iterable[Mapping[str, Any]],
    now: datetime,
    states: Mapping[str, ItemState],
    silences: Iterable[Silence] = (),
) -> Evaluation:
    active = [s for s in silences if s.covers_rule(rule.name) and s.active(now)]
    crossing = {rule.item_key(dict(row)): dict(row) for row in rows if rule.breached(dict(row))}
    out = Evaluation(states={})
    new: dict[str | None, list[Mapping[str, Any]]] = {}
    due: dict[str | None, list[Mapping[str, Any]]] = {}
    resolved: dict[str | None, list[Mapping[str, Any]]] = {}
    firing_by_route: dict[str | None, int] = {}

    def route(row: Mapping[str, Any]) -> str | None:
        return None if rule.route_by is None else str(row.get(rule.route_by) or "") or None

    for key, row in crossing.items():
        state = states.get(key) or ItemState(Phase.pending, now, row)
        state = replace(state, row=row)
        if state.phase is Phase.pending and now - state.since >= rule.for_:
            state = replace(state, phase=Phase.firing)
        if state.phase is Phase.pending:
            out.pending += 1
        else:
            out.firing += 1
            firing_by_route[route(row)] = firing_by_route.get(route(row), 0) + 1
            if silenced(active, row, now):
                out.silenced += 1
            elif state.sent_at is None:
                new.setdefault(route(row), []).append(row)
                state = replace(state, sent_at=now)
            elif now - state.sent_at >= rule.repeat_interval:
                due.setdefault(route(row), []).append(row)
                state = replace(state, sent_at=now)
        out.states[key] = state

    for key, state in states.items():
        if key in crossing or state.phase is not Phase.firing or state.sent_at is None:
            continue  # still crossing, or never sent: nothing to take back
        if not silenced(active, state.row, now):
            resolved.setdefault(route(state.row), []).append(state.row)

    for target in sorted(set(new) | set(due) | set(resolved), key=lambda r: r or ""):
        firing = tuple(new.get(target, [])) + tuple(due.get(target, []))
        if firing:
            out.notifications.append(Notification(
                rule.name, target, firing=firing, repeated=not new.get(target),
                still_firing=firing_by_route.get(target, 0)))  # fmt: skip
        if resolved.get(target):
            out.notifications.append(Notification(
                rule.name, target, resolved=tuple(resolved[target]),
                still_firing=firing_by_route.get(target, 0)))  # fmt: skip
    return out
