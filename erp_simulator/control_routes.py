"""The control API: read what the ERP has, change it, inject faults, drive traffic.

JSON in, JSON out; no signature, never rate limited, never faulted. Routes:

    GET  /control/state                  counters, config, storm, traffic, document counts
    GET  /control/inventory[?wms_co_id=] every current inventory row (with wms_co_id)
    GET  /control/skus | /control/shops | /control/warehouses
    GET  /control/rows?stream=S[&since_ts=N]  latest version of every record of stream S
                                         (outbound, refund, aftersale_received, inventory,
                                          sku, shops, warehouse)
    POST /control/inventory/set          {sku_id, wms_co_id, qty, ...other qty fields}
    POST /control/sku/update             {sku_id, name?, category?, sale_price?, ...}
    POST /control/mutate                 {inventory: n, sku: m}   seeded random changes
    POST /control/touch                  {stream, key?, modified_offset_seconds?}  re-save a
                                         record (negative offset: out-of-order modified)
    POST /control/faults                 {faults: [{count, path?, http_status?, code?,
                                          retry_after?, delay_seconds?, first_page_only?,
                                          effect?, rows?, modified_offset_seconds?}]}
    POST /control/faults/clear           drop pending faults, end a storm
    POST /control/storm                  {seconds, http_status?=429, code?, retry_after?=1}
    POST /control/tokens/expire          every access_token answers code 100 from now on
    POST /control/tokens/lifetime        {seconds}  lifetime of tokens issued from now on
    POST /control/quota                  {enabled?, per_second?, per_minute?}
    GET  /control/traffic                live traffic state (rate, promotions, counts)
    POST /control/traffic/start          {orders_per_hour?, speed?}
    POST /control/traffic/stop
    POST /control/promotion/start        {orders_per_hour, duration_seconds?}
    POST /control/promotion/stop
    POST /control/orders/generate        {count, settle_seconds?}  place orders now; then
                                         run their lifecycle events due within settle_seconds
    POST /control/advance                {seconds}  run lifecycle events due within seconds now
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from datetime import timedelta
from typing import Any

from erp_simulator.engine import ErpEngine
from erp_simulator.faults import Fault
from erp_simulator.gateway import Gateway
from erp_simulator.store import ErpStore
from erp_simulator.traffic import LiveTraffic

ControlRoute = Callable[[dict[str, Any], dict[str, str]], Any]


def control_routes(
    store: ErpStore, gateway: Gateway, engine: ErpEngine, traffic: LiveTraffic
) -> dict[tuple[str, str], ControlRoute]:
    def state(body: dict[str, Any], query: dict[str, str]) -> Any:
        return {**store.summary(), **gateway.state(), "traffic": traffic.state()}

    def inventory(body: dict[str, Any], query: dict[str, str]) -> Any:
        wms_co_id = int(query["wms_co_id"]) if query.get("wms_co_id") else None
        return {"rows": store.inventory_rows(wms_co_id)}

    def rows(body: dict[str, Any], query: dict[str, str]) -> Any:
        found = store.rows(query["stream"])
        if query.get("since_ts"):
            since = int(query["since_ts"])
            found = [row for row in found if int(row.get("ts") or 0) > since]
        return {"rows": found}

    def set_inventory(body: dict[str, Any], query: dict[str, str]) -> Any:
        values = dict(body)
        sku_id, wms_co_id = str(values.pop("sku_id")), int(values.pop("wms_co_id"))
        return {"row": store.set_inventory(sku_id, wms_co_id, **values)}

    def update_sku(body: dict[str, Any], query: dict[str, str]) -> Any:
        values = dict(body)
        return {"row": store.update_sku(str(values.pop("sku_id")), **values)}

    def touch(body: dict[str, Any], query: dict[str, str]) -> Any:
        offset = float(body.get("modified_offset_seconds", 0.0))
        late = bool(body.get("late_commit", False))
        row = store.touch(str(body["stream"]), body.get("key"), modified_offset_seconds=offset,
                          late_commit=late)  # fmt: skip
        return {"row": row}

    def add_faults(body: dict[str, Any], query: dict[str, str]) -> Any:
        known = {item.name for item in fields(Fault)}
        items = body.get("faults", [body])
        faults = [Fault(**{k: v for k, v in item.items() if k in known}) for item in items]
        return {"pending": gateway.add_faults(faults)}

    def clear_faults(body: dict[str, Any], query: dict[str, str]) -> Any:
        gateway.clear_faults()
        return {}

    def storm(body: dict[str, Any], query: dict[str, str]) -> Any:
        return gateway.start_storm(
            float(body["seconds"]),
            http_status=body.get("http_status", 429),
            code=body.get("code"),
            retry_after=float(body.get("retry_after", 1.0)),
        )

    def token_lifetime(body: dict[str, Any], query: dict[str, str]) -> Any:
        gateway.config.token_lifetime_seconds = int(body["seconds"])
        return {"token_lifetime_seconds": gateway.config.token_lifetime_seconds}

    def quota(body: dict[str, Any], query: dict[str, str]) -> Any:
        gateway.set_quota(body.get("enabled"), body.get("per_second"), body.get("per_minute"))
        return gateway.state()["config"]

    def traffic_start(body: dict[str, Any], query: dict[str, str]) -> Any:
        rate, speed = body.get("orders_per_hour"), body.get("speed")
        traffic.start(
            None if rate is None else float(rate), None if speed is None else float(speed)
        )
        return traffic.state()

    def traffic_stop(body: dict[str, Any], query: dict[str, str]) -> Any:
        traffic.stop()
        return traffic.state()

    def promotion_start(body: dict[str, Any], query: dict[str, str]) -> Any:
        seconds = body.get("duration_seconds")
        duration = timedelta(seconds=float(seconds)) if seconds else None
        engine.start_promotion(float(body["orders_per_hour"]), traffic.clock(), duration)
        return traffic.state()

    def promotion_stop(body: dict[str, Any], query: dict[str, str]) -> Any:
        engine.stop_promotions(traffic.clock())
        return traffic.state()

    def generate_orders(body: dict[str, Any], query: dict[str, str]) -> Any:
        count = int(body.get("count", 1))
        if not 0 <= count <= 1_000_000:
            raise ValueError("count must be between 0 and 1,000,000")
        now = traffic.clock()
        with store.lock:
            placed = [engine.place_order(max(now, engine.floor))["io_id"] for _ in range(count)]
            settled = engine.advance(float(body.get("settle_seconds", 0.0)), now)
        return {"io_ids": placed, "lifecycle_writes": settled, "max_ts": store.max_ts()}

    def advance(body: dict[str, Any], query: dict[str, str]) -> Any:
        writes = engine.advance(float(body.get("seconds", 0.0)), traffic.clock())
        return {"writes": writes, "max_ts": store.max_ts()}

    return {
        ("GET", "/control/state"): state,
        ("GET", "/control/inventory"): inventory,
        ("GET", "/control/skus"): lambda body, query: {"rows": store.sku_rows()},
        ("GET", "/control/shops"): lambda body, query: {"rows": store.shop_rows()},
        ("GET", "/control/warehouses"): lambda body, query: {"rows": store.warehouses},
        ("GET", "/control/rows"): rows,
        ("GET", "/control/traffic"): lambda body, query: traffic.state(),
        ("POST", "/control/inventory/set"): set_inventory,
        ("POST", "/control/sku/update"): update_sku,
        ("POST", "/control/mutate"): lambda body, query: store.mutate_random(
            int(body.get("inventory", 0)), int(body.get("sku", 0))
        ),
        ("POST", "/control/touch"): touch,
        ("POST", "/control/faults"): add_faults,
        ("POST", "/control/faults/clear"): clear_faults,
        ("POST", "/control/storm"): storm,
        ("POST", "/control/tokens/expire"): lambda body, query: {
            "expired": gateway.expire_tokens()
        },
        ("POST", "/control/tokens/lifetime"): token_lifetime,
        ("POST", "/control/quota"): quota,
        ("POST", "/control/traffic/start"): traffic_start,
        ("POST", "/control/traffic/stop"): traffic_stop,
        ("POST", "/control/promotion/start"): promotion_start,
        ("POST", "/control/promotion/stop"): promotion_stop,
        ("POST", "/control/orders/generate"): generate_orders,
        ("POST", "/control/advance"): advance,
    }
