"""A single-machine "ClickHouse": one chDB engine behind ClickHouse's HTTP interface.

Clients (clickhouse-connect, SQLAlchemy `clickhousedb://`, the Flink sink) talk to it exactly
as to a real server; production swaps in a real ClickHouse without client changes.
"""

from __future__ import annotations

from warehouse.server.config import ServerConfig
from warehouse.server.server import WarehouseServer, serve

__all__ = ["ServerConfig", "WarehouseServer", "serve"]
