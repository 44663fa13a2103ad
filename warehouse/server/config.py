"""Typed, frozen configuration of the single-machine ClickHouse server."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ServerConfig:
    """Everything `python -m warehouse.server` accepts; the password never appears in repr."""

    data_path: Path
    host: str = "127.0.0.1"
    port: int = 8123  # 0 picks a free port (tests)
    user: str = "default"
    password: str = field(default="", repr=False)
    database: str = "default"  # created at start when missing
    log_file: Path | None = None
    keep_alive_timeout_seconds: float = 30.0
    display_name: str = field(default_factory=socket.gethostname)
