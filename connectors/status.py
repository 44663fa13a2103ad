"""``erpbi sync --status``: what each stream has done, read from the files it keeps.

Sources: the cursor files (``<data_dir>/connectors/<stream>.json``: cursor, ``stats``,
``retry_windows``) and ``quota-usage.json``, which a running connector rewrites every
couple of seconds (calls in the last minute per stream, throttling, cadence mode).
Nothing here talks to the ERP or Kafka, so the status is cheap and works when the
connector is down (the quota line then says how old it is).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from common.settings import Settings
from connectors.models import BEIJING, parse_erp_time
from connectors.retries import pending_windows
from connectors.state import CursorStore, atomic_write_json, read_json

QUOTA_USAGE_FILE = "quota-usage.json"


def state_directory(settings: Settings) -> Path:
    return settings.paths.data_dir / "connectors"


@dataclass(frozen=True)
class StreamStatus:
    stream: str
    priority: str  # hot | cold
    cursor: str  # human summary of the cursor
    last_success: datetime | None  # last cursor save (Beijing time)
    lag_seconds: float | None  # now - newest ``modified`` produced
    records_produced: int
    pending_retry_windows: int
    quota_calls_last_minute: int | None  # None: no running connector reported


@dataclass(frozen=True)
class QuotaUsage:
    written_at: datetime
    calls_last_minute: int
    per_minute_limit: int
    throttled_last_minute: int
    cadence: str
    by_stream: dict[str, int]

    @property
    def age_seconds(self) -> float:
        return (datetime.now(BEIJING) - self.written_at).total_seconds()


class QuotaUsageFile:
    """Written by the running connector (at most every ``interval_seconds``), read by status."""

    def __init__(self, path: Path, interval_seconds: float = 2.0):
        self.path = path
        self.interval_seconds = interval_seconds
        self._last_written = 0.0
        self._lock = threading.Lock()

    def write(self, usage: dict[str, Any], cadence: str, *, force: bool = False) -> bool:
        with self._lock:
            now = time.monotonic()
            if not force and now - self._last_written < self.interval_seconds:
                return False
            self._last_written = now
            atomic_write_json(self.path, {**usage, "cadence": cadence, "written_at": time.time()})
            return True

    def read(self) -> QuotaUsage | None:
        data = read_json(self.path)
        if not data:
            return None
        return QuotaUsage(
            written_at=datetime.fromtimestamp(float(data.get("written_at", 0)), BEIJING),
            calls_last_minute=int(data.get("calls_last_minute", 0)),
            per_minute_limit=int(data.get("limits", {}).get("per_minute", 0)),
            throttled_last_minute=int(data.get("throttled_last_minute", 0)),
            cadence=str(data.get("cadence", "?")),
            by_stream={str(k): int(v) for k, v in data.get("by_stream", {}).items()},
        )


def describe_cursor(state: dict[str, Any]) -> str:
    if "cursors" in state:
        cursors = {name: int(value) for name, value in state["cursors"].items()}
        if not cursors:
            return "-"
        if len(cursors) == 1:
            return f"ts {next(iter(cursors.values()))}"
        return f"ts {min(cursors.values())}..{max(cursors.values())} ({len(cursors)} parts)"
    if "window_end" in state:
        return f"modified <= {state['window_end']}"
    if "digests" in state:
        return f"{len(state['digests'])} known"
    return "-"


def stream_status(
    stream: str,
    state: dict[str, Any],
    *,
    hot: bool,
    quota: QuotaUsage | None,
    now: datetime,
) -> StreamStatus:
    stats = state.get("stats", {})
    last_ms = stats.get("last_success_ms") or state.get("updated_at_ms")
    last_modified = stats.get("last_modified")
    lag = (now - parse_erp_time(last_modified)).total_seconds() if last_modified else None
    fresh_quota = quota is not None and quota.age_seconds < 120
    return StreamStatus(
        stream=stream,
        priority="hot" if hot else "cold",
        cursor=describe_cursor(state),
        last_success=datetime.fromtimestamp(last_ms / 1000, BEIJING) if last_ms else None,
        lag_seconds=lag,
        records_produced=int(stats.get("records_produced", 0)),
        pending_retry_windows=len(pending_windows(state)),
        quota_calls_last_minute=quota.by_stream.get(stream, 0) if fresh_quota and quota else None,
    )


def sync_status(
    settings: Settings, *, state_dir: Path | None = None, now: datetime | None = None
) -> list[StreamStatus]:
    """One row per known stream (dimensions first), from the files on disk."""
    from connectors.cli import STREAMS  # the registry; cli imports this module lazily too

    directory = state_dir if state_dir is not None else state_directory(settings)
    store = CursorStore(directory)
    quota = quota_usage(settings, state_dir=directory)
    moment = now if now is not None else datetime.now(BEIJING)
    return [
        stream_status(name, store.load(name), hot=cls.hot, quota=quota, now=moment)
        for name, cls in STREAMS.items()
    ]


def quota_usage(settings: Settings, *, state_dir: Path | None = None) -> QuotaUsage | None:
    directory = state_dir if state_dir is not None else state_directory(settings)
    return QuotaUsageFile(directory / QUOTA_USAGE_FILE).read()


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def format_status(rows: list[StreamStatus], quota: QuotaUsage | None = None) -> str:
    """A fixed-width table, plus one line about the shared quota when known."""
    header = ("STREAM", "PRIO", "CURSOR", "LAST SUCCESS", "LAG", "RECORDS", "RETRY", "CALLS/MIN")
    lines = [header]
    for row in rows:
        lines.append(
            (
                row.stream,
                row.priority,
                row.cursor,
                row.last_success.strftime("%m-%d %H:%M:%S") if row.last_success else "never",
                _duration(row.lag_seconds),
                str(row.records_produced),
                str(row.pending_retry_windows),
                "-" if row.quota_calls_last_minute is None else str(row.quota_calls_last_minute),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip()
            for line in lines]  # fmt: skip
    if quota is not None:
        text.append(
            f"quota: {quota.calls_last_minute}/{quota.per_minute_limit} calls in the last "
            f"minute, {quota.throttled_last_minute} throttled, cadence {quota.cadence} "
            f"(reported {_duration(quota.age_seconds)} ago)"
        )
    else:
        text.append("quota: no running connector has reported yet")
    return "\n".join(text)
