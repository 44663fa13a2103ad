"""HTTP front of the simulator: the open API (form POST) plus a JSON control API.

Control API (JSON in, JSON out; no signature, never rate limited):

    GET  /control/state                  counters, config, warehouses, max ts
    GET  /control/inventory[?wms_co_id=] every current inventory row (with wms_co_id)
    GET  /control/skus | /control/shops | /control/warehouses
    POST /control/inventory/set          {sku_id, wms_co_id, qty, ...other qty fields}
    POST /control/sku/update             {sku_id, name?, category?, sale_price?, ...}
    POST /control/mutate                 {inventory: n, sku: m}   seeded random changes
    POST /control/faults                 {faults: [{count, path?, http_status?, code?,
                                          retry_after?, delay_seconds?}]}  (or one fault)
    POST /control/faults/clear
    POST /control/tokens/expire          every access_token answers code 100 from now on
    POST /control/quota                  {enabled?, per_second?, per_minute?}
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from common.settings import JushuitanSettings, SimulatorSettings
from connectors.simulator.gateway import Fault, Gateway, Reply, SimulatorConfig
from connectors.simulator.store import ErpStore, ParameterError

log = logging.getLogger(__name__)

ControlRoute = Callable[[dict[str, Any], dict[str, str]], Any]


def _control_routes(store: ErpStore, gateway: Gateway) -> dict[tuple[str, str], ControlRoute]:
    def state(body: dict[str, Any], query: dict[str, str]) -> Any:
        return {**store.summary(), **gateway.state()}

    def inventory(body: dict[str, Any], query: dict[str, str]) -> Any:
        wms_co_id = int(query["wms_co_id"]) if query.get("wms_co_id") else None
        return {"rows": store.inventory_rows(wms_co_id)}

    def set_inventory(body: dict[str, Any], query: dict[str, str]) -> Any:
        values = dict(body)
        return {
            "row": store.set_inventory(
                str(values.pop("sku_id")), int(values.pop("wms_co_id")), **values
            )
        }

    def update_sku(body: dict[str, Any], query: dict[str, str]) -> Any:
        values = dict(body)
        return {"row": store.update_sku(str(values.pop("sku_id")), **values)}

    def mutate(body: dict[str, Any], query: dict[str, str]) -> Any:
        return store.mutate_random(int(body.get("inventory", 0)), int(body.get("sku", 0)))

    def add_faults(body: dict[str, Any], query: dict[str, str]) -> Any:
        known = {item.name for item in fields(Fault)}
        items = body.get("faults", [body])
        faults = [Fault(**{k: v for k, v in item.items() if k in known}) for item in items]
        return {"pending": gateway.add_faults(faults)}

    def clear_faults(body: dict[str, Any], query: dict[str, str]) -> Any:
        gateway.clear_faults()
        return {}

    def quota(body: dict[str, Any], query: dict[str, str]) -> Any:
        gateway.set_quota(body.get("enabled"), body.get("per_second"), body.get("per_minute"))
        return gateway.state()["config"]

    return {
        ("GET", "/control/state"): state,
        ("GET", "/control/inventory"): inventory,
        ("GET", "/control/skus"): lambda body, query: {"rows": store.sku_rows()},
        ("GET", "/control/shops"): lambda body, query: {"rows": [dict(r) for r in store.shops]},
        ("GET", "/control/warehouses"): lambda body, query: {"rows": store.warehouses},
        ("POST", "/control/inventory/set"): set_inventory,
        ("POST", "/control/sku/update"): update_sku,
        ("POST", "/control/mutate"): mutate,
        ("POST", "/control/faults"): add_faults,
        ("POST", "/control/faults/clear"): clear_faults,
        ("POST", "/control/tokens/expire"): lambda body, query: {
            "expired": gateway.expire_tokens()
        },
        ("POST", "/control/quota"): quota,
    }


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
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def build_server(host: str, port: int, store: ErpStore, gateway: Gateway) -> ThreadingHTTPServer:
    handler = type(
        "BoundSimulatorHandler",
        (SimulatorHandler,),
        {"gateway": gateway, "control": _control_routes(store, gateway)},
    )
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def start_simulator(
    settings: SimulatorSettings | None = None,
    jushuitan: JushuitanSettings | None = None,
    *,
    port: int | None = None,
    config: SimulatorConfig | None = None,
    store: ErpStore | None = None,
) -> RunningSimulator:
    """Build the seeded ERP and serve it in a daemon thread (``port=0``: any free port).

    App credentials default to ``jushuitan`` settings so the connectors sign correctly.
    """
    settings = settings if settings is not None else SimulatorSettings()
    jushuitan = jushuitan if jushuitan is not None else JushuitanSettings()
    if config is None:
        config = SimulatorConfig(
            app_key=jushuitan.app_key,
            app_secret=jushuitan.app_secret.get_secret_value(),
            enforce_quota=settings.enforce_quota,
        )
    if store is None:
        store = ErpStore(
            settings.seed,
            settings.sku_count,
            settings.warehouse_count,
            ts_inclusive=config.ts_inclusive,
        )
    gateway = Gateway(store, config)
    server = build_server(settings.host, settings.port if port is None else port, store, gateway)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="jushuitan-simulator",
        daemon=True,
    )
    thread.start()
    log.info(
        "Jushuitan simulator on http://%s:%s (%d SKUs, %d warehouses, quota %s)",
        settings.host,
        server.server_address[1],
        len(store.skus),
        len(store.warehouses),
        "on" if config.enforce_quota else "off",
    )
    return RunningSimulator(server, thread, store, gateway)
