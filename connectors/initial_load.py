"""The first load of a stream: how much there is, how much is read, kept in its cursor file.

A stream with no cursor yet starts an ``initial_load`` record in its state, one part per
independently read slice (a warehouse for inventory, ``all`` for the others). A part
learns its total from the API's ``data_count`` on its first page (the ts cursor asks for
it with ``is_get_total`` on that one page only) and counts the rows it reads; it is done
when it has caught up. ``erpbi sync --status`` turns these records into progress and an
ETA (:func:`progress`). The record is written in the same atomic save as the cursor it
describes, so it survives restarts and never runs ahead of what Kafka acknowledged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

KEY = "initial_load"


def begin(state: dict[str, Any], parts: list[str], page_size: int, now_ms: int) -> None:
    """Open the record for a stream that has read nothing yet (no-op otherwise)."""
    if KEY in state:
        return
    state[KEY] = {
        "started_ms": now_ms,
        "done_ms": None,
        "parts": {
            name: {"total": None, "read": 0, "page_size": page_size, "done": False}
            for name in parts
        },
    }


def _part(state: dict[str, Any], name: str) -> dict[str, Any] | None:
    load = state.get(KEY)
    if not load or load.get("done_ms"):
        return None
    part: dict[str, Any] | None = load["parts"].get(name)
    return None if part is None or part["done"] else part


def restart(state: dict[str, Any], name: str) -> None:
    """Part ``name`` is read again from its start (a whole-list read cut short)."""
    part = _part(state, name)
    if part is not None:
        part.update(read=0, total=None)


def loading(state: dict[str, Any], name: str) -> bool:
    """Part ``name`` of this stream's first load has not caught up yet."""
    return _part(state, name) is not None


def wants_total(state: dict[str, Any], name: str) -> bool:
    """True on a part's first page: ask the API for the count once."""
    part = _part(state, name)
    return part is not None and part["total"] is None


def record(
    state: dict[str, Any],
    name: str,
    *,
    rows: int,
    now_ms: int,
    total: int | None = None,
    done: bool = False,
) -> None:
    """``rows`` more read for part ``name``; ``total`` when the page said it."""
    part = _part(state, name)
    if part is None:
        return
    part["read"] += rows
    if total is not None and part["total"] is None:
        part["total"] = total + part["read"] - rows  # the count is of what follows the cursor
    if done:
        part["done"] = True
        part["total"] = max(int(part["total"] or 0), part["read"])
    load = state[KEY]
    if all(entry["done"] for entry in load["parts"].values()):
        load["done_ms"] = now_ms


@dataclass(frozen=True)
class LoadProgress:
    stream: str
    started_ms: int
    done_ms: int | None
    read: int
    total: int | None  # None: some part has not reported its count yet
    remaining_calls: int

    @property
    def done(self) -> bool:
        return self.done_ms is not None

    @property
    def share(self) -> float | None:
        if self.done:
            return 1.0
        if not self.total:
            return None
        return min(1.0, self.read / self.total)


def progress(stream: str, state: dict[str, Any]) -> LoadProgress | None:
    load = state.get(KEY)
    if not load:
        return None
    parts = list(load["parts"].values())
    known = all(part["total"] is not None or part["done"] for part in parts)
    remaining = 0
    for part in parts:
        if part["done"]:
            continue
        left = max(0, int(part["total"] or 0) - int(part["read"])) if part["total"] else 0
        remaining += max(1, math.ceil(left / max(1, int(part["page_size"]))))
    return LoadProgress(
        stream=stream,
        started_ms=int(load["started_ms"]),
        done_ms=load.get("done_ms"),
        read=sum(int(part["read"]) for part in parts),
        total=sum(int(part["total"] or part["read"]) for part in parts) if known else None,
        remaining_calls=remaining,
    )
