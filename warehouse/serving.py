"""The DWS serving layer's refreshable materialized views: list, refresh now, status.

They refresh on their own schedule (10-30 s, migration 0003); ``refresh_now`` is for
operators after a backfill and for tests that must read a snapshot of everything landed.
"""

from __future__ import annotations

from typing import Any


def refreshable_views(client: Any) -> list[str]:
    """Names of the refreshable materialized views in the client's database."""
    result = client.query(
        "SELECT view FROM system.view_refreshes WHERE database = currentDatabase() ORDER BY view"
    )
    return [row[0] for row in result.result_rows]


def refresh_now(client: Any) -> list[str]:
    """Start a refresh of every serving view, then wait until each has finished."""
    views = refreshable_views(client)
    for view in views:
        client.command(f"SYSTEM REFRESH VIEW {view}")
    for view in views:
        client.command(f"SYSTEM WAIT VIEW {view}")
    return views


def refresh_status(client: Any) -> list[dict[str, Any]]:
    """Per view: status, last success, next refresh, last error (for `erpbi status`)."""
    result = client.query(
        "SELECT view, status, last_success_time, next_refresh_time, exception "
        "FROM system.view_refreshes WHERE database = currentDatabase() ORDER BY view"
    )
    return list(result.named_results())
