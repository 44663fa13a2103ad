"""``python -m erp_simulator``: serve a seeded Jushuitan simulator until Ctrl-C.

By default it plays two days of history (so dashboards have yesterday's curve) and no
live traffic; ``--live-orders-per-hour N`` keeps orders coming. Defaults come from
``SimulatorSettings`` where it has the field (``backfill_days``, ``orders_per_hour``,
``live_orders_per_hour``, ``token_lifetime_seconds``, ``quota_per_second``,
``quota_per_minute``), else from the values below.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from common.settings import load_settings
from erp_simulator.engine import TrafficSettings
from erp_simulator.gateway import SimulatorConfig
from erp_simulator.server import start_simulator


def main(argv: Sequence[str] | None = None) -> int:
    settings = load_settings()
    defaults = settings.simulator
    parser = argparse.ArgumentParser(prog="python -m erp_simulator", description=__doc__)
    parser.add_argument("--host", default=defaults.host)
    parser.add_argument("--port", type=int, default=defaults.port)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--sku-count", type=int, default=defaults.sku_count)
    parser.add_argument("--warehouses", type=int, default=defaults.warehouse_count)
    parser.add_argument("--no-quota", action="store_true", help="do not answer 199/200")
    knobs = SimulatorConfig()

    def default(name: str, fallback: float) -> float:
        return float(getattr(defaults, name, fallback))

    parser.add_argument(
        "--quota-per-second",
        type=int,
        default=int(default("quota_per_second", knobs.quota_per_second)),
    )
    parser.add_argument(
        "--quota-per-minute",
        type=int,
        default=int(default("quota_per_minute", knobs.quota_per_minute)),
    )
    parser.add_argument(
        "--token-lifetime",
        type=int,
        help="access_token lifetime, seconds",
        default=int(default("token_lifetime_seconds", knobs.token_lifetime_seconds)),
    )
    parser.add_argument(
        "--backfill-days",
        type=float,
        default=default("backfill_days", 2.0),
        help="days of history generated at start (0: none)",
    )
    parser.add_argument(
        "--orders-per-hour",
        type=float,
        help="year-average order rate of history",
        default=default("orders_per_hour", TrafficSettings.orders_per_hour),
    )
    parser.add_argument(
        "--live-orders-per-hour",
        type=float,
        help="0: no live traffic",
        default=default("live_orders_per_hour", 0.0),
    )
    parser.add_argument("--speed", type=float, default=1.0, help="accelerate live traffic")
    parser.add_argument("--flat", action="store_true", help="no seasonal or daily curve")
    parser.add_argument(
        "--received-first-page-delay",
        type=float,
        default=0.0,
        help="seconds page 1 of /open/aftersale/received/query takes",
    )
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
    config = SimulatorConfig(
        app_key=settings.jushuitan.app_key,
        app_secret=settings.jushuitan.app_secret.get_secret_value(),
        enforce_quota=simulator_settings.enforce_quota,
        quota_per_second=args.quota_per_second,
        quota_per_minute=args.quota_per_minute,
        token_lifetime_seconds=args.token_lifetime,
        received_first_page_delay_seconds=args.received_first_page_delay,
    )
    traffic = TrafficSettings(
        orders_per_hour=args.orders_per_hour,
        follow_curve=not args.flat,
        backfill_days=args.backfill_days,
        speed=args.speed,
    )
    simulator = start_simulator(
        simulator_settings,
        settings.jushuitan,
        config=config,
        traffic=traffic,
        live_orders_per_hour=args.live_orders_per_hour,
    )
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
