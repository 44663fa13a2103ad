"""``python -m connectors.simulator``: serve a seeded Jushuitan simulator until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from common.settings import load_settings
from connectors.simulator.server import start_simulator


def main(argv: Sequence[str] | None = None) -> int:
    settings = load_settings()
    defaults = settings.simulator
    parser = argparse.ArgumentParser(prog="python -m connectors.simulator", description=__doc__)
    parser.add_argument("--host", default=defaults.host)
    parser.add_argument("--port", type=int, default=defaults.port)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--sku-count", type=int, default=defaults.sku_count)
    parser.add_argument("--warehouses", type=int, default=defaults.warehouse_count)
    parser.add_argument("--no-quota", action="store_true", help="do not answer 199/200")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    simulator_settings = defaults.model_copy(
        update={
            "host": args.host,
            "port": args.port,
            "seed": args.seed,
            "sku_count": args.sku_count,
            "warehouse_count": args.warehouses,
            "enforce_quota": defaults.enforce_quota and not args.no_quota,
        }
    )
    simulator = start_simulator(simulator_settings, settings.jushuitan)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"simulator listening on {simulator.url}", flush=True)
    stop.wait()
    simulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
