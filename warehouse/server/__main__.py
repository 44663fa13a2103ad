"""Command line: `python -m warehouse.server --host 127.0.0.1 --port 8123 --data-path DIR`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from warehouse.server.config import DEFAULT_ENGINE_CONNECTIONS, DEFAULT_QUERY_CACHE_MB, ServerConfig
from warehouse.server.engine import EngineUnavailable
from warehouse.server.heavy_statements import default_slots
from warehouse.server.server import serve


def parse_args(argv: list[str] | None = None) -> ServerConfig:
    """Build the config; WAREHOUSE_SERVER_PASSWORD may carry the password (keeps it out of `ps`)."""
    parser = argparse.ArgumentParser(prog="python -m warehouse.server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument(
        "--data-path", type=Path, required=True, help="chDB data directory (locked by this process)"
    )
    parser.add_argument("--user", default="default")
    parser.add_argument("--password", default=os.environ.get("WAREHOUSE_SERVER_PASSWORD", ""))
    parser.add_argument("--database", default="default", help="created at start if missing")
    parser.add_argument(
        "--shop-owners-file",
        type=Path,
        default=None,
        help="JSON {owner: password}: read-only users who see only their shops' rows",
    )
    parser.add_argument("--log-file", type=Path, default=None)
    parser.add_argument("--keep-alive-timeout", type=float, default=30.0)
    parser.add_argument(
        "--engine-connections",
        type=_positive_int,
        default=DEFAULT_ENGINE_CONNECTIONS,
        help="chDB connections, i.e. statements run in parallel (default %(default)s)",
    )
    parser.add_argument(
        "--heavy-statements",
        type=_positive_int,
        default=default_slots(),
        help="scans (statements that read 10,000 rows or more last time) run at once; "
        "others wait their turn (default: one more than the cores, %(default)s)",
    )
    parser.add_argument(
        "--query-cache-mb",
        type=_positive_int,
        default=DEFAULT_QUERY_CACHE_MB,
        help="memory for results of reads sent with use_query_cache=1 (default %(default)s)",
    )
    parser.add_argument(
        "--peer",
        action="append",
        default=[],
        metavar="URL",
        help="another server fed by the same writers: copy from it what landed there, "
        "before serving and then continuously (repeatable)",
    )
    args = parser.parse_args(argv)
    return ServerConfig(
        data_path=args.data_path,
        host=args.host,
        port=args.port,
        user=args.user,
        password=args.password,
        database=args.database,
        log_file=args.log_file,
        keep_alive_timeout_seconds=args.keep_alive_timeout,
        engine_connections=args.engine_connections,
        heavy_statements=args.heavy_statements,
        query_cache_bytes=args.query_cache_mb << 20,
        shop_owners=_shop_owners(args.shop_owners_file),
        peers=tuple(args.peer),
    )


def _shop_owners(path: Path | None) -> dict[str, str]:
    if path is None:
        return {}
    owners = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(owners, dict) or not all(isinstance(v, str) for v in owners.values()):
        raise SystemExit(f"{path}: expected a JSON object of owner name -> password")
    return owners


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    """Configure logging, then serve until SIGTERM/SIGINT."""
    config = parse_args(argv)
    handler: logging.Handler = (
        logging.FileHandler(config.log_file)
        if config.log_file
        else logging.StreamHandler(sys.stderr)
    )
    logging.basicConfig(
        level=logging.INFO,
        handlers=[handler],
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    try:
        serve(config)
    except EngineUnavailable as error:
        logging.getLogger("warehouse.server").error("%s", error)
        return 1
    except OSError as error:  # the port is taken, or the address is not local
        logging.getLogger("warehouse.server").error(
            "cannot listen on %s:%d: %s", config.host, config.port, error
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
