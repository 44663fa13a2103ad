"""The server's query cache on its own: TTL, read/write switches, size limits, one run per miss."""

from __future__ import annotations

import threading
import time

import pytest

from warehouse.server.query_cache import CachePolicy, QueryCache, split_settings

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def cache_with(
    clock: Clock, max_bytes: int = 1 << 20, max_entry_bytes: int = 1 << 20
) -> QueryCache[str]:
    return QueryCache(len, max_bytes=max_bytes, max_entry_bytes=max_entry_bytes, clock=clock)


def test_a_result_is_served_until_its_ttl_passes_then_recomputed() -> None:
    clock = Clock()
    cache = cache_with(clock)
    policy = CachePolicy(read=True, write=True, ttl_seconds=5)
    assert cache.run("q", policy, lambda: "first") == ("first", False)
    clock.now += 3.5  # before the last quarter of its life: no renewal
    assert cache.run("q", policy, lambda: "second") == ("first", True)
    clock.now += 1.6
    assert cache.run("q", policy, lambda: "third") == ("third", False)
    reading = cache.reading()
    assert (reading.hits, reading.misses, reading.entries) == (1, 2, 1)


def test_a_hit_late_in_an_entrys_life_renews_it_in_the_background() -> None:
    clock = Clock()
    cache = cache_with(clock)
    policy = CachePolicy(read=True, write=True, ttl_seconds=5)
    cache.run("q", policy, lambda: "first")
    clock.now += 4.0
    assert cache.run("q", policy, lambda: "renewed") == ("first", True), "the reader never waits"
    peek = CachePolicy(read=True, write=False, ttl_seconds=5)
    deadline = time.monotonic() + 10
    while cache.run("q", peek, lambda: "missing")[0] == "first":
        assert time.monotonic() < deadline, "the renewal never landed"
        time.sleep(0.01)
    clock.now += 4.5  # past the first run's TTL, within the renewed one's
    assert cache.run("q", peek, lambda: "missing") == ("renewed", True)


def test_policies_follow_clickhouse_settings() -> None:
    assert CachePolicy.from_settings({}) is None
    assert CachePolicy.from_settings({"use_query_cache": "0"}) is None
    assert CachePolicy.from_settings({"use_query_cache": "1"}) == CachePolicy(True, True, 60.0)
    assert CachePolicy.from_settings(
        {"use_query_cache": "true", "query_cache_ttl": "7", "enable_reads_from_query_cache": "0"}
    ) == CachePolicy(False, True, 7.0)
    controls, engine = split_settings(
        {"use_query_cache": "1", "max_threads": "2", "query_cache_ttl": "3"}
    )
    assert controls == {"use_query_cache": "1", "query_cache_ttl": "3"}
    assert engine == {"max_threads": "2"}, "cache controls must not reach the engine"


def test_reads_only_never_store_and_writes_only_never_serve() -> None:
    clock = Clock()
    cache = cache_with(clock)
    assert cache.run("q", CachePolicy(read=True, write=False, ttl_seconds=60), lambda: "a") == (
        "a",
        False,
    )
    assert cache.reading().entries == 0
    assert cache.run("q", CachePolicy(read=False, write=True, ttl_seconds=60), lambda: "b") == (
        "b",
        False,
    )
    assert cache.run("q", CachePolicy(read=False, write=True, ttl_seconds=60), lambda: "c") == (
        "c",
        False,
    )
    assert cache.run("q", CachePolicy(read=True, write=False, ttl_seconds=60), lambda: "d") == (
        "c",
        True,
    )


def test_size_limits_evict_least_recently_used_and_skip_oversized_results() -> None:
    clock = Clock()
    cache = cache_with(clock, max_bytes=10, max_entry_bytes=6)
    policy = CachePolicy(read=True, write=True, ttl_seconds=60)
    cache.run("a", policy, lambda: "aaaa")
    cache.run("b", policy, lambda: "bbbb")
    assert cache.run("a", policy, lambda: "fresh")[1]  # touch a: b is now the oldest
    cache.run("c", policy, lambda: "cccc")  # 12 bytes > 10: b goes
    assert cache.run("a", policy, lambda: "x") == ("aaaa", True)
    assert cache.run("b", policy, lambda: "b2") == ("b2", False)
    cache.run("big", policy, lambda: "0123456789")
    assert cache.run("big", policy, lambda: "again") == ("again", False), "over the entry limit"
    assert cache.reading().bytes <= 10


def test_concurrent_misses_on_one_key_run_the_query_once() -> None:
    cache = cache_with(Clock())
    policy = CachePolicy(read=True, write=True, ttl_seconds=60)
    release = threading.Event()
    runs = []

    def slow_query() -> str:
        runs.append(1)
        release.wait(10)
        return "answer"

    results: list[tuple[str, bool]] = []
    threads = [threading.Thread(target=lambda: results.append(cache.run("q", policy, slow_query)))
               for _ in range(10)]  # fmt: skip
    for thread in threads:
        thread.start()
    while not runs:  # the first request is inside the engine; the others queue behind it
        threading.Event().wait(0.01)
    release.set()
    for thread in threads:
        thread.join(10)
    assert len(runs) == 1
    assert sorted(results) == [("answer", False)] + [("answer", True)] * 9


def test_a_failed_run_is_not_cached_and_waiters_retry() -> None:
    cache = cache_with(Clock())
    policy = CachePolicy(read=True, write=True, ttl_seconds=60)

    def failing() -> str:
        raise RuntimeError("engine error")

    with pytest.raises(RuntimeError):
        cache.run("q", policy, failing)
    assert cache.run("q", policy, lambda: "ok") == ("ok", False)


def test_drop_query_cache_empties_it() -> None:
    cache = cache_with(Clock())
    policy = CachePolicy(read=True, write=True, ttl_seconds=60)
    cache.run("q", policy, lambda: "old")
    cache.clear()
    assert cache.run("q", policy, lambda: "new") == ("new", False)
