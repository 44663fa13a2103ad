"""HTTP front of the simulator: the open API (form POST) plus a JSON control API.

The control routes are listed in :mod:`erp_simulator.control_routes`.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from common.settings import JushuitanSettings, SimulatorSettings
from erp_simulator.control_routes import ControlRoute, control_routes
from erp_simulator.engine import ErpEngine, TrafficSettings
from erp_simulator.gateway import Gateway, Reply, SimulatorConfig
from erp_simulator.store import ErpStore, ParameterError
from erp_simulator.traffic import LiveTraffic, precise_beijing_now

log = logging.getLogger(__name__)


class SimulatorHandler(BaseHTTPRequestHandler):
    server_version = "JushuitanSimulator/1.0"
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: avoid 40 ms stalls
    gateway: Gateway
    control: dict[tuple[str, str], ControlRoute]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.address_string(), format % args)

    def _send(self, reply: Reply) -> None:
        payload = reply.encoded()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        body = self._body()
        if url.path.startswith("/control/"):
            self._send(self._control(method, url.path, url.query, body))
            return
        if method != "POST":
            self._send(Reply(405, {"error": "the open API takes POST only"}))
            return
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        form = {key: values[-1] for key, values in parsed.items()}
        self._send(self.gateway.handle(url.path, form))

    def _control(self, method: str, path: str, query_string: str, body: bytes) -> Reply:
        route = self.control.get((method, path))
        if route is None:
            return Reply(404, {"error": f"no control route {method} {path}"})
        query = {key: values[-1] for key, values in parse_qs(query_string).items()}
        try:
            data = json.loads(body.decode("utf-8")) if body else {}
            return Reply(200, route(data, query))
        except KeyError as error:
            return Reply(404, {"error": f"not found: {error}"})
        except (ParameterError, ValueError, TypeError) as error:
            return Reply(400, {"error": str(error)})

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch("POST")


@dataclass
class RunningSimulator:
    """A simulator serving in a background thread; use as a context manager or ``stop()``."""

    server: ThreadingHTTPServer
    thread: threading.Thread
    store: ErpStore
    gateway: Gateway
    engine: ErpEngine
    traffic: LiveTraffic

    @property
    def host(self) -> str:
        return str(self.server.server_address[0])

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def jushuitan_settings(
        self, base: JushuitanSettings | None = None, **changes: Any
    ) -> JushuitanSettings:
        """JushuitanSettings pointing at this simulator with its app credentials."""
        base = base if base is not None else JushuitanSettings()
        return base.model_copy(
            update={
                "base_url": self.url,
                "app_key": self.gateway.config.app_key,
                "app_secret": type(base.app_secret)(self.gateway.config.app_secret),
                **changes,
            }
        )

    def serve_forever(self) -> None:
        self.thread.join()

    def stop(self) -> None:
        self.traffic.close()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def build_server(
    host: str, port: int, routes: dict[tuple[str, str], ControlRoute], gateway: Gateway
) -> ThreadingHTTPServer:
    handler = type(
        "BoundSimulatorHandler",
        (SimulatorHandler,),
        {"gateway": gateway, "control": routes},
    )
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def build_business(
    settings: SimulatorSettings,
    traffic_settings: TrafficSettings,
    *,
    ts_inclusive: bool = False,
    now: datetime | None = None,
) -> tuple[ErpStore, ErpEngine]:
    """The seeded catalog plus ``backfill_days`` of history ending ``now``."""
    now = now if now is not None else precise_beijing_now()
    history = timedelta(days=traffic_settings.backfill_days)
    store = ErpStore(
        settings.seed,
        settings.sku_count,
        settings.warehouse_count,
        ts_inclusive=ts_inclusive,
        quiet_seconds=history.total_seconds(),
        generated_at=now,
    )
    engine = ErpEngine(store, traffic_settings, settings.seed, now)
    if traffic_settings.backfill_days > 0:
        engine.backfill(traffic_settings.backfill_days, now)
    return store, engine


def start_simulator(
    settings: SimulatorSettings | None = None,
    jushuitan: JushuitanSettings | None = None,
    *,
    port: int | None = None,
    config: SimulatorConfig | None = None,
    store: ErpStore | None = None,
    traffic: TrafficSettings | None = None,
    live_orders_per_hour: float = 0.0,
) -> RunningSimulator:
    """Build the seeded ERP and serve it in a daemon thread (``port=0``: any free port).

    App credentials default to ``jushuitan`` settings so the connectors sign correctly.
    In-process (tests) the default is no history and no live traffic, so the ERP only
    changes when a test says so; pass ``traffic`` (``backfill_days``) and
    ``live_orders_per_hour`` > 0 for a moving ERP (``python -m erp_simulator``
    does by default).
    """
    settings = settings if settings is not None else SimulatorSettings()
    jushuitan = jushuitan if jushuitan is not None else JushuitanSettings()
    if config is None:
        config = SimulatorConfig(
            app_key=jushuitan.app_key,
            app_secret=jushuitan.app_secret.get_secret_value(),
            enforce_quota=settings.enforce_quota,
        )
    if traffic is None:
        traffic = TrafficSettings(backfill_days=0.0)
    if store is None:
        store, engine = build_business(settings, traffic, ts_inclusive=config.ts_inclusive)
    else:
        engine = ErpEngine(store, traffic, settings.seed, precise_beijing_now())
    live = LiveTraffic(engine)
    gateway = Gateway(store, config)
    routes = control_routes(store, gateway, engine, live)
    server = build_server(settings.host, settings.port if port is None else port, routes, gateway)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="jushuitan-simulator",
        daemon=True,
    )
    thread.start()
    if live_orders_per_hour > 0:
        live.start(live_orders_per_hour)
    log.info(
        "Jushuitan simulator on http://%s:%s (%d SKUs, %d warehouses, %d outbound documents, "
        "quota %s, live traffic %s)",
        settings.host,
        server.server_address[1],
        len(store.skus),
        len(store.warehouses),
        len(store.outbound),
        "on" if config.enforce_quota else "off",
        f"{live_orders_per_hour:g} orders/hour" if live_orders_per_hour > 0 else "off",
    )
    return RunningSimulator(server, thread, store, gateway, engine, live)
