"""ClickHouse's query cache on the single-machine server.

A read sent with the setting ``use_query_cache = 1`` is answered from a result kept for
``query_cache_ttl`` seconds (default 60) instead of running in the engine again. This is
the contract of ClickHouse's own query cache, so the same dashboard connection settings
work against a real server: results may be up to the TTL old, which is what the setting
asks for. Dashboards read serving tables rebuilt every 10-60 s, so a TTL of a few seconds
changes little of what they show and spares the engine 30 screens asking the same thing.

Honoured, as in ClickHouse: ``use_query_cache``, ``enable_reads_from_query_cache``,
``enable_writes_to_query_cache``, ``query_cache_ttl``, ``query_cache_tag`` (part of the
key), ``SYSTEM DROP QUERY CACHE``. Entries are private to the user who ran them and keyed
on every setting, including a shop owner's row filter, so no login is ever served a result
computed for another. Beyond ClickHouse: concurrent misses on one key wait for the first
run instead of all running it, and a hit in the last quarter of an entry's life renews it
in the background, so dashboards polling a query find it fresh and never wait for the
engine (one engine run per key per period, not one per screen).
Reads inside an HTTP session are keyed on the session's settings and database too.
Difference: queries with non-deterministic functions are cached as well (ClickHouse's
``query_cache_nondeterministic_function_handling = 'save'``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

Result = TypeVar("Result")
log = logging.getLogger(__name__)

# Settings that steer the cache itself: the server honours them and never passes them on,
# so the engine does not keep a second cache of its own.
CACHE_SETTINGS = frozenset(
    {
        "use_query_cache",
        "enable_reads_from_query_cache",
        "enable_writes_to_query_cache",
        "query_cache_ttl",
        "query_cache_min_query_runs",
        "query_cache_min_query_duration",
        "query_cache_nondeterministic_function_handling",
        "query_cache_system_table_handling",
        "query_cache_share_between_users",
        "query_cache_squash_partial_results",
        "query_cache_compress_entries",
        "query_cache_max_size_in_bytes",
        "query_cache_max_entries",
    }
)
DEFAULT_TTL_SECONDS = 60.0
DEFAULT_MAX_BYTES = 64 << 20
DEFAULT_MAX_ENTRY_BYTES = 4 << 20
# A hit on an entry older than this fraction of its TTL renews it in the background.
RENEW_AFTER_FRACTION = 0.75
_TRUE_TEXT = frozenset({"1", "true", "True", "TRUE", "yes"})


@dataclass(frozen=True)
class CachePolicy:
    """What one request may do with the cache."""

    read: bool
    write: bool
    ttl_seconds: float

    @classmethod
    def from_settings(cls, settings: Mapping[str, str]) -> CachePolicy | None:
        """The request's policy, or None when it does not use the cache at all."""
        if settings.get("use_query_cache", "0") not in _TRUE_TEXT:
            return None
        read = settings.get("enable_reads_from_query_cache", "1") in _TRUE_TEXT
        write = settings.get("enable_writes_to_query_cache", "1") in _TRUE_TEXT
        ttl = _seconds(settings.get("query_cache_ttl"))
        if not (read or write):
            return None
        return cls(read, write, ttl)


def split_settings(settings: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(cache controls, settings for the engine) from a request's settings."""
    controls = {key: value for key, value in settings.items() if key in CACHE_SETTINGS}
    rest = {key: value for key, value in settings.items() if key not in CACHE_SETTINGS}
    return controls, rest


def _seconds(text: str | None) -> float:
    if text is None or text == "":
        return DEFAULT_TTL_SECONDS
    try:
        value = float(text)
    except ValueError:
        return DEFAULT_TTL_SECONDS
    return max(value, 0.0)


@dataclass
class _Entry(Generic[Result]):
    result: Result
    size: int
    expires_at: float
    renew_at: float  # a hit after this renews the entry in the background


def sized_by_body(
    max_bytes: int = DEFAULT_MAX_BYTES, on_lookup: Callable[[bool], None] | None = None
) -> QueryCache[Any]:
    """A cache of engine results, each counted by the size of its response body."""
    return QueryCache(lambda result: len(result.body), max_bytes, on_lookup=on_lookup)


@dataclass(frozen=True)
class CacheReading:
    """Counters for status output and tests."""

    entries: int
    bytes: int
    hits: int
    misses: int


class QueryCache(Generic[Result]):
    """Results by key with a TTL each, least recently used out first, one run per miss."""

    def __init__(
        self,
        size_of: Callable[[Result], int],
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_entry_bytes: int = DEFAULT_MAX_ENTRY_BYTES,
        clock: Callable[[], float] = time.monotonic,
        on_lookup: Callable[[bool], None] | None = None,
    ) -> None:
        """`on_lookup(hit)` is told of every hit and miss as counted (the server's metrics)."""
        self._size_of = size_of
        self._max_bytes = max_bytes
        self._max_entry_bytes = min(max_entry_bytes, max_bytes)
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, _Entry[Result]] = OrderedDict()
        self._running: dict[Hashable, threading.Event] = {}
        self._bytes = 0
        self._hits = 0
        self._misses = 0
        self._on_lookup = on_lookup

    def run(
        self, key: Hashable, policy: CachePolicy, compute: Callable[[], Result]
    ) -> tuple[Result, bool]:
        """(result, whether it came from the cache) for `key`, computing it on a miss."""
        leading: threading.Event | None = None
        while True:
            with self._lock:
                if policy.read:
                    entry = self._fresh_locked(key)
                    if entry is not None:
                        self._hits += 1
                        if self._on_lookup is not None:
                            self._on_lookup(True)
                        renewal = self._start_renewal_locked(key, entry, policy)
                        if renewal is not None:
                            threading.Thread(
                                target=self._renew,
                                args=(key, policy, compute, renewal),
                                name="query-cache-renewal",
                                daemon=True,
                            ).start()
                        return entry.result, True
                running = self._running.get(key) if policy.read and policy.write else None
                if running is None:
                    self._misses += 1
                    if self._on_lookup is not None:
                        self._on_lookup(False)
                    leading = threading.Event() if policy.write else None
                    if leading is not None:
                        self._running[key] = leading
                    break
            running.wait()  # another request is computing this key: use its result
        return self._compute_and_store(key, policy, compute, leading), False

    def _start_renewal_locked(
        self, key: Hashable, entry: _Entry[Result], policy: CachePolicy
    ) -> threading.Event | None:
        """Renew a hot entry before it expires, so its readers never wait for the engine.

        The renewal is an ordinary run of the query (the one in flight for the key), so an
        entry is still never older than its TTL: if the renewal is slow, the entry expires
        and readers wait for that run, as on any miss.
        """
        if not policy.write or entry.renew_at > self._clock() or key in self._running:
            return None
        renewal = threading.Event()
        self._running[key] = renewal
        return renewal

    def _renew(
        self,
        key: Hashable,
        policy: CachePolicy,
        compute: Callable[[], Result],
        renewal: threading.Event,
    ) -> None:
        try:
            self._compute_and_store(key, policy, compute, renewal)
        except Exception as error:  # noqa: BLE001 - the entry then expires as usual
            log.warning("renewing a query cache entry failed (%s); it expires as usual", error)

    def _compute_and_store(
        self,
        key: Hashable,
        policy: CachePolicy,
        compute: Callable[[], Result],
        leading: threading.Event | None,
    ) -> Result:
        try:
            result = compute()
            if policy.write and policy.ttl_seconds > 0:
                self._store(key, result, policy.ttl_seconds)
            return result
        finally:
            if leading is not None:
                with self._lock:
                    self._running.pop(key, None)
                leading.set()

    def clear(self) -> None:
        """Drop every entry (``SYSTEM DROP QUERY CACHE``)."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def reading(self) -> CacheReading:
        with self._lock:
            return CacheReading(len(self._entries), self._bytes, self._hits, self._misses)

    def _fresh_locked(self, key: Hashable) -> _Entry[Result] | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires_at <= self._clock():
            self._drop_locked(key)
            return None
        self._entries.move_to_end(key)
        return entry

    def _store(self, key: Hashable, result: Result, ttl_seconds: float) -> None:
        size = self._size_of(result)
        if size > self._max_entry_bytes:
            return
        with self._lock:
            self._drop_locked(key)
            now = self._clock()
            self._entries[key] = _Entry(
                result, size, now + ttl_seconds, now + ttl_seconds * RENEW_AFTER_FRACTION
            )
            self._bytes += size
            while self._bytes > self._max_bytes:
                self._drop_locked(next(iter(self._entries)))

    def _drop_locked(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry.size
