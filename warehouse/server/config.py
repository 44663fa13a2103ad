"""Typed, frozen configuration of the single-machine ClickHouse server."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# chDB connections, i.e. statements running at once. Measured on 2 cores with 30 HTTP
# clients: 2 runs ~1.5x more small queries per second than one connection, and 4 no more;
# but a large GROUP BY already uses every core, so parallel ones only compete (4: ~1.8x
# slower, 2: ~1.1x). About one per core is the useful range.
DEFAULT_ENGINE_CONNECTIONS = 2
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
    query_cache_bytes: int = DEFAULT_QUERY_CACHE_MB << 20
    display_name: str = field(default_factory=socket.gethostname)

    def __post_init__(self) -> None:
        if self.engine_connections < 1:
            raise ValueError(
                f"engine_connections must be at least 1, not {self.engine_connections}"
            )
