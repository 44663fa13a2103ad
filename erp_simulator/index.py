"""A ts-ordered index of one stream: the ``ts > start_ts`` cursor answered by bisection.

``ts`` is a database-wide rowversion, so every change takes a ts larger than any
before it: an update appends ``(ts, key)`` at the end and the key's older entry goes
stale (skipped when read, dropped by an occasional compaction). A page is therefore
``O(log n + page)``, not a scan of the stream, which keeps pages fast at 30,000 SKUs
and a day of promotion-peak orders.

A second list holds the running maximum of ``modified``: rows are stamped in ts order,
so it starts a ``modified_begin`` window by bisection too; rows deliberately stamped
with an older ``modified`` (the out-of-order fault) stay correct because the running
maximum only bounds where a window *can* start.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Hashable, Iterator

COMPACT_MIN_STALE = 4096


class TsIndex:
    def __init__(self) -> None:
        self._ts: list[int] = []
        self._keys: list[Hashable] = []
        self._modified_max: list[str] = []
        self._latest: dict[Hashable, int] = {}
        self._stale_ts: list[int] = []  # sorted: counts live entries by bisection

    def __len__(self) -> int:
        return len(self._latest)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._latest

    @property
    def max_ts(self) -> int:
        return self._ts[-1] if self._ts else 0

    def put(self, key: Hashable, ts: int, modified: str) -> None:
        previous = self._latest.get(key)
        if previous is not None:
            insort(self._stale_ts, previous)
        self._latest[key] = ts
        if not self._ts or ts > self._ts[-1]:
            self._ts.append(ts)
            self._keys.append(key)
            floor = self._modified_max[-1] if self._modified_max else ""
            self._modified_max.append(max(floor, modified))
        else:  # only when loading rows out of ts order; keep the lists sorted
            position = bisect_right(self._ts, ts)
            insort(self._ts, ts)
            self._keys.insert(position, key)
            self._rebuild_modified_max(position, modified)
        stale = len(self._stale_ts)
        if stale > COMPACT_MIN_STALE and stale * 2 > len(self._ts):
            self._compact()

    def _rebuild_modified_max(self, position: int, modified: str) -> None:
        floor = self._modified_max[position - 1] if position else ""
        self._modified_max.insert(position, max(floor, modified))
        for n in range(position + 1, len(self._modified_max)):
            if self._modified_max[n] >= self._modified_max[n - 1]:
                break
            self._modified_max[n] = self._modified_max[n - 1]

    def _compact(self) -> None:
        live = [
            (ts, key, modified)
            for ts, key, modified in zip(self._ts, self._keys, self._modified_max, strict=True)
            if self._latest.get(key) == ts
        ]
        self._ts = [item[0] for item in live]
        self._keys = [item[1] for item in live]
        self._modified_max = [item[2] for item in live]
        self._stale_ts = []

    def count_after(self, cursor: int | None = None, *, inclusive: bool = False) -> int:
        """How many live entries :meth:`after` would yield (no filters): O(log n)."""
        if cursor is None:
            return len(self._latest)
        search = bisect_left if inclusive else bisect_right
        entries = len(self._ts) - search(self._ts, cursor)
        return entries - (len(self._stale_ts) - search(self._stale_ts, cursor))

    def after(
        self, cursor: int | None = None, *, inclusive: bool = False, modified_from: str = ""
    ) -> Iterator[tuple[int, Hashable]]:
        """Live ``(ts, key)`` with ts above ``cursor`` (or at it if inclusive), ascending."""
        start = 0
        if cursor is not None:
            start = (bisect_left if inclusive else bisect_right)(self._ts, cursor)
        if modified_from:
            start = max(start, bisect_left(self._modified_max, modified_from))
        ts_list, keys, latest = self._ts, self._keys, self._latest
        for n in range(start, len(ts_list)):
            ts, key = ts_list[n], keys[n]
            if latest.get(key) == ts:
                yield ts, key

    def last_before(self, cursor: int | None, count: int) -> list[tuple[int, Hashable]]:
        """The ``count`` newest live entries with ts <= cursor (None: all), ascending."""
        end = len(self._ts) if cursor is None else bisect_right(self._ts, cursor)
        found: list[tuple[int, Hashable]] = []
        for n in range(end - 1, -1, -1):
            if len(found) >= count:
                break
            ts, key = self._ts[n], self._keys[n]
            if self._latest.get(key) == ts:
                found.append((ts, key))
        return found[::-1]

    def keys_in_ts_order(self) -> list[Hashable]:
        return [key for _, key in self.after()]


class SortedKeys:
    """Keys ordered by a changing text value (SKU ``modified``): window = two bisections."""

    def __init__(self) -> None:
        self._entries: list[tuple[str, str]] = []
        self._value: dict[str, str] = {}

    def load(self, pairs: dict[str, str]) -> None:
        """Bulk start (one sort instead of thousands of inserts)."""
        self._value = dict(pairs)
        self._entries = sorted((value, key) for key, value in pairs.items())

    def put(self, key: str, value: str) -> None:
        previous = self._value.get(key)
        if previous == value:
            return
        if previous is not None:
            del self._entries[bisect_left(self._entries, (previous, key))]
        insort(self._entries, (value, key))
        self._value[key] = value

    def between(self, low: str | None, high: str | None) -> list[str]:
        start = 0 if low is None else bisect_left(self._entries, (low, ""))
        end = len(self._entries) if high is None else bisect_right(self._entries, (high, "\uffff"))
        return [key for _, key in self._entries[start:end]]
