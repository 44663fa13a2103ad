"""The one way every stage opens a ClickHouse connection (HTTP, clickhouse-connect)."""

from __future__ import annotations

from clickhouse_connect import get_client
from clickhouse_connect.driver.client import Client

from common.settings import ClickHouseSettings


def connect(settings: ClickHouseSettings, database: str | None = None, **kwargs: object) -> Client:
    """A client for ``database`` (the configured one by default; '' for none)."""
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
        **kwargs,
    )
