"""Injectable faults: what a real ERP does to a connector on a bad day.

A :class:`Fault` answers the next ``count`` matching calls. With ``http_status`` or
``code`` it replaces the answer (HTTP 5xx/429 with Retry-After, API codes 199/200/100...);
with neither it delays and/or disturbs a normal answer:

- ``delay_seconds`` alone: a slow answer (longer than the client's timeout = a timeout);
  ``first_page_only`` limits it to ``page_index`` 1 (the slow first page of the
  after-sale received API);
- ``effect="shift"``: after the page is served, its rows are modified (new ts, new
  ``modified``), so the next ``page_index`` starts later and a paging client misses rows,
  while a ts-cursor client sees them again with a higher ts;
- ``effect="duplicate"``: the page starts ``rows`` rows early, repeating the end of the
  previous page (rows with ts <= start_ts on a cursor call);
- ``effect="out_of_order"``: before answering, ``rows`` records of the stream are saved
  with ``modified`` ``modified_offset_seconds`` ago but a new, higher ts.

A :class:`Storm` throttles every call for a duration (the 429 drill).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

EFFECTS = ("", "shift", "duplicate", "out_of_order")


@dataclass
class Fault:
    count: int = 1
    path: str | None = None
    http_status: int | None = None
    code: int | None = None
    retry_after: float | None = None
    delay_seconds: float = 0.0
    first_page_only: bool = False
    effect: str = ""
    rows: int = 1
    modified_offset_seconds: float = -3600.0

    def __post_init__(self) -> None:
        if self.effect not in EFFECTS:
            raise ValueError(f"effect must be one of {EFFECTS}, got {self.effect!r}")
        if self.count < 0 or self.rows < 0 or self.delay_seconds < 0:
            raise ValueError("count, rows and delay_seconds must not be negative")

    @property
    def replaces_answer(self) -> bool:
        return self.http_status is not None or self.code is not None

    def matches(self, path: str, form: dict[str, str]) -> bool:
        if self.count <= 0 or (self.path is not None and self.path != path):
            return False
        if self.effect and path.startswith("/openWeb/auth/"):
            return False
        return not self.first_page_only or is_first_page(form)


def is_first_page(form: dict[str, str]) -> bool:
    try:
        biz = json.loads(form.get("biz") or "{}")
    except json.JSONDecodeError:
        return True
    page_index: Any = biz.get("page_index", 1) if isinstance(biz, dict) else 1
    return str(page_index) in ("1", "", "None")


@dataclass
class Storm:
    """Throttle every call until ``until`` (epoch seconds) with HTTP 429 or an API code."""

    until: float = 0.0
    http_status: int | None = 429
    code: int | None = None
    retry_after: float = 1.0
    answered: int = 0

    def active(self, now: float) -> bool:
        return now < self.until

    def describe(self, now: float) -> dict[str, Any]:
        return {
            "active": self.active(now),
            "remaining_seconds": round(max(0.0, self.until - now), 3),
            "http_status": self.http_status,
            "code": self.code,
            "retry_after": self.retry_after,
            "answered": self.answered,
        }
