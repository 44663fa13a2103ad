"""Typed, frozen configuration of the single-machine ClickHouse server."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from warehouse.server.heavy_statements import default_slots

# chDB connections, i.e. statements running at once; more wait for one. Sized for latency,
# not throughput: on 2 cores, 2 connections already run the most small queries per second
# and a large GROUP BY already uses every core (each statement gets max_threads = cores),
# but with only 2, two slow reads stall every wall screen and health check behind them.
# With 16, a small query always finds a free connection and the OS shares the cores, so a
# SELECT 1 answers in milliseconds beside two 3-second queries (benchmarks/warehouse_bench).
# A connection costs about 1 MB and opens in milliseconds; shop owners get at most a
# quarter of them each and, together, never the quarter kept for the admin (admission.py).
DEFAULT_ENGINE_CONNECTIONS = 16
# Results kept for reads sent with use_query_cache=1 (query_cache.py).
DEFAULT_QUERY_CACHE_MB = 64


@dataclass(frozen=True)
class ServerConfig:
    """Everything `python -m warehouse.server` accepts; the password never appears in repr."""

    data_path: Path
    host: str = "127.0.0.1"
    port: int = 8123  # 0 picks a free port (tests)
    user: str = "default"
    password: str = field(default="", repr=False)
    # Shop owners (name -> password): read-only users restricted to their shops' rows by
    # row_policy.ShopRowPolicy; the ``user`` above is the admin and sees everything.
    shop_owners: Mapping[str, str] = field(default_factory=dict, repr=False)
    database: str = "default"  # created at start when missing
    log_file: Path | None = None
    keep_alive_timeout_seconds: float = 30.0
    # chDB connections, i.e. statements that run at once; more requests wait for one.
    engine_connections: int = DEFAULT_ENGINE_CONNECTIONS
    # Of those, scans (statements that read much last time, heavy_statements.py) at once.
    heavy_statements: int = field(default_factory=default_slots)
    query_cache_bytes: int = DEFAULT_QUERY_CACHE_MB << 20
    display_name: str = field(default_factory=socket.gethostname)
    # Other servers fed by the same writers (base URLs, same admin login): this one copies
    # from them what landed there, first before it serves, then continuously (peer_sync.py).
    peers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.engine_connections < 1:
            raise ValueError(
                f"engine_connections must be at least 1, not {self.engine_connections}"
            )
