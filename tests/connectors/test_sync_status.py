"""``sync --status``: rows from cursor files and the quota-usage file, as a table."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from common.settings import load_settings
from connectors.models import BEIJING, format_erp_time
from connectors.state import CursorStore
from connectors.status import (
    QUOTA_USAGE_FILE,
    QuotaUsageFile,
    format_status,
    quota_usage,
    sync_status,
)

pytestmark = pytest.mark.unit


def test_status_reads_cursor_files_and_quota_usage(tmp_path: Path) -> None:
    settings = load_settings()
    now = datetime(2026, 11, 22, 12, 0, 0, tzinfo=BEIJING)
    store = CursorStore(tmp_path)
    success_ms = int(now.timestamp() * 1000) - 5000
    store.save("outbound", {
        "cursors": {"all": "9001"},
        "stats": {"records_produced": 1234, "last_modified": format_erp_time(now - timedelta(
            seconds=42)), "last_success_ms": success_ms},
        "retry_windows": [{"id": "ts:all", "query": {}, "reason": "x"}],
    })  # fmt: skip
    store.save("inventory", {"cursors": {"1": "5", "2": "7"}})
    store.save("sku", {"window_end": "2026-11-22 11:59:00", "boundary_keys": []})
    store.save("shop", {"digests": {"1": "a", "2": "b"}})
    QuotaUsageFile(tmp_path / QUOTA_USAGE_FILE).write(
        {"calls_last_minute": 87, "by_stream": {"outbound": 60}, "limits": {"per_minute": 100},
         "throttled_last_minute": 0, "all_processes_last_minute": 95}, "normal",
        pauses={"outbound": 8.0},
    )  # fmt: skip
    rows = {row.stream: row for row in sync_status(settings, state_dir=tmp_path, now=now)}
    outbound = rows["outbound"]
    assert outbound.cursor == "ts 9001" and outbound.backlog == "documents"
    assert outbound.lag_seconds == 42 and outbound.records_produced == 1234
    assert outbound.pending_retry_windows == 1 and outbound.quota_calls_last_minute == 60
    assert outbound.last_success == datetime.fromtimestamp(success_ms / 1000, BEIJING)
    assert rows["inventory"].cursor == "ts 5..7 (2 parts)"
    assert rows["sku"].cursor == "modified <= 2026-11-22 11:59:00"
    assert rows["shop"].cursor == "2 known" and rows["refund"].last_success is None
    table = format_status(list(rows.values()), quota_usage(settings, state_dir=tmp_path))
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["STREAM", "BACKLOG", "CURSOR"]
    assert any(line.startswith("outbound") and "42s" in line and "1234" in line
               and line.endswith("8s") for line in lines)  # fmt: skip
    assert "87/100 calls" in lines[-1] and "cadence normal" in lines[-1]
    assert "95 by every process on this app key" in lines[-1]


def test_status_shows_the_initial_load_progress_and_its_eta(tmp_path: Path) -> None:
    settings = load_settings()
    now = datetime(2026, 11, 22, 12, 0, 0, tzinfo=BEIJING)
    started_ms = int(now.timestamp() * 1000) - 90_000
    store = CursorStore(tmp_path)
    store.save("inventory", {"cursors": {"1": "5", "2": "7"}, "initial_load": {
        "started_ms": started_ms, "done_ms": None, "parts": {
            "1": {"total": 2000, "read": 2000, "page_size": 100, "done": True},
            "2": {"total": 2000, "read": 500, "page_size": 100, "done": False},
        }}})  # fmt: skip
    store.save("sku", {"window_end": "2026-11-22 11:59:00", "initial_load": {
        "started_ms": started_ms, "done_ms": started_ms + 30_000,
        "parts": {"all": {"total": 2000, "read": 2000, "page_size": 50, "done": True}},
    }})  # fmt: skip
    store.save("outbound", {"cursors": {"all": "1"}, "initial_load": {
        "started_ms": started_ms, "done_ms": None,
        "parts": {"all": {"total": 5000, "read": 1000, "page_size": 50, "done": False}},
    }})  # fmt: skip
    rows = sync_status(settings, state_dir=tmp_path, now=now)
    table = format_status(rows, None, now, per_minute_limit=100).splitlines()
    by_stream = {line.split()[0]: line for line in table[1:-2]}
    assert "  62%  " in by_stream["inventory"] and "  done  " in by_stream["sku"]
    assert "  20%  " in by_stream["outbound"] and "  -  " in by_stream["refund"]
    # 1,500 inventory rows left = 15 calls, 4,000 outbound documents = 80 calls: 95 calls
    # at 100 a minute.
    assert table[-2] == ("initial load: 50% (5500 of 11000 rows), 90s so far, about 57s left "
                         "(95 calls at 100/min)")  # fmt: skip
    for stream in ("inventory", "outbound"):
        state = store.load(stream)
        for part in state["initial_load"]["parts"].values():
            part.update(done=True, read=part["total"])
        state["initial_load"]["done_ms"] = started_ms + 150_000
        store.save(stream, state)
    table = format_status(sync_status(settings, state_dir=tmp_path, now=now), None, now)
    assert table.splitlines()[-2] == "initial load: done in 2m30s"


def test_quota_usage_file_is_rate_limited(tmp_path: Path) -> None:
    usage = QuotaUsageFile(tmp_path / "q.json", interval_seconds=60)
    assert usage.write({"calls_last_minute": 1}, "normal")
    assert not usage.write({"calls_last_minute": 2}, "normal")
    assert usage.write({"calls_last_minute": 3}, "degraded", force=True)
    read = usage.read()
    assert read is not None and read.calls_last_minute == 3 and read.cadence == "degraded"
    assert read.age_seconds < 5
