"""The one way every stage opens a ClickHouse connection (HTTP, clickhouse-connect)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clickhouse_connect import get_client
from clickhouse_connect.driver.client import Client

from common.settings import ClickHouseSettings


def connect(
    settings: ClickHouseSettings,
    database: str | None = None,
    query_settings: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> Client:
    """A client for ``database`` (the configured one by default; '' for none).

    ``query_settings`` are ClickHouse settings sent with every query, e.g.
    ``settings.dashboard_query_settings()`` to read as the dashboards do.
    """
    return get_client(
        host=settings.host,
        port=settings.port,
        username=settings.user,
        password=settings.password.get_secret_value(),
        database=settings.database if database is None else database,
        secure=settings.secure,
        compress=False,
        connect_timeout=5,
        send_receive_timeout=60,
        settings=dict(query_settings or {}),
        **kwargs,
    )
