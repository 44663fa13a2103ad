"""Fetch failures parked for automatic retry, so one bad window never blocks a stream.

When a page still fails after the client's attempts (3 by default: see
:data:`connectors.cli.PAGE_ATTEMPTS`), the connector records the window in its cursor
state under ``retry_windows`` and sends a dead letter (``kind: fetch_failure``) with the
reason to ``<prefix>.dlq.<stream>``. The next sync reads parked windows first; a window
leaves the list only once all its pages were acknowledged by Kafka. The list lives in
the same atomically replaced state file as the cursor, so nothing between the oldest
parked window and the cursor can be lost.

Entry shape: ``{"id", "query", "reason", "failures", "first_failed_ms",
"last_failed_ms"}``; ``query`` is what to read again (``start_ts`` + partition, or
``modified_begin``/``modified_end``).
"""

from __future__ import annotations

from typing import Any

from connectors.models import DeadLetterRecord, now_millis

RETRY_KEY = "retry_windows"
FETCH_FAILURE = "fetch_failure"


def pending_windows(state: dict[str, Any]) -> list[dict[str, Any]]:
    return list(state.get(RETRY_KEY, []))


def park_window(
    state: dict[str, Any], window_id: str, query: dict[str, Any], reason: str
) -> bool:
    """Add (or update) a parked window; True when it was not parked before."""
    windows: list[dict[str, Any]] = state.setdefault(RETRY_KEY, [])
    now = now_millis()
    for entry in windows:
        if entry["id"] == window_id:
            entry.update(
                query=query,
                reason=reason,
                failures=int(entry.get("failures", 0)) + 1,
                last_failed_ms=now,
            )
            return False
    windows.append(
        {
            "id": window_id,
            "query": query,
            "reason": reason,
            "failures": 1,
            "first_failed_ms": now,
            "last_failed_ms": now,
        }
    )
    return True


def clear_window(state: dict[str, Any], window_id: str) -> bool:
    """Remove a parked window after it was read completely; True if it was parked."""
    windows: list[dict[str, Any]] = state.get(RETRY_KEY, [])
    kept = [entry for entry in windows if entry["id"] != window_id]
    if len(kept) == len(windows):
        return False
    state[RETRY_KEY] = kept
    return True


def fetch_failure_letter(
    stream: str, source: str, window_id: str, query: dict[str, Any], reason: str
) -> DeadLetterRecord:
    """The dead letter telling operators (and replay tools) that a window is parked."""
    return DeadLetterRecord(
        stream=stream,
        source=source,
        reason=f"fetch failed, window parked for automatic retry: {reason}",
        raw={"window": window_id, "query": query},
        context={"kind": FETCH_FAILURE, "retry": "automatic"},
    )
