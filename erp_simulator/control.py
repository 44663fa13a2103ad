"""Python client of the simulator's control API (tests, demos, load drills)."""

from __future__ import annotations

from typing import Any

import requests


class SimulatorControl:
    def __init__(self, base_url: str, *, timeout_seconds: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self._session = requests.Session()

    def _get(self, path: str, **params: Any) -> Any:
        response = self._session.get(
            self.base_url + path, params=params or None, timeout=self.timeout_seconds
        )
        response.raise_for_status()
        return response.json()

    def _post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self._session.post(
            self.base_url + path, json=body or {}, timeout=self.timeout_seconds
        )
        response.raise_for_status()
        return response.json()

    # -- read what the ERP has ------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return dict(self._get("/control/state"))

    def inventory(self, wms_co_id: int | None = None) -> list[dict[str, Any]]:
        params = {"wms_co_id": wms_co_id} if wms_co_id is not None else {}
        return list(self._get("/control/inventory", **params)["rows"])

    def skus(self) -> list[dict[str, Any]]:
        return list(self._get("/control/skus")["rows"])

    def shops(self) -> list[dict[str, Any]]:
        return list(self._get("/control/shops")["rows"])

    def warehouses(self) -> list[dict[str, Any]]:
        return list(self._get("/control/warehouses")["rows"])

    def rows(self, stream: str, since_ts: int | None = None) -> list[dict[str, Any]]:
        """Latest version of every record of ``stream`` (outbound, refund, ...)."""
        params: dict[str, Any] = {"stream": stream}
        if since_ts is not None:
            params["since_ts"] = since_ts
        return list(self._get("/control/rows", **params)["rows"])

    def outbound(self) -> list[dict[str, Any]]:
        return self.rows("outbound")

    def refunds(self) -> list[dict[str, Any]]:
        return self.rows("refund")

    def received(self) -> list[dict[str, Any]]:
        return self.rows("aftersale_received")

    def traffic(self) -> dict[str, Any]:
        return dict(self._get("/control/traffic"))

    # -- change it ------------------------------------------------------------------------

    def set_inventory(
        self, sku_id: str, wms_co_id: int, qty: int | None = None, **fields: int
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"sku_id": sku_id, "wms_co_id": wms_co_id, **fields}
        if qty is not None:
            body["qty"] = qty
        return dict(self._post("/control/inventory/set", body)["row"])

    def update_sku(self, sku_id: str, **fields: Any) -> dict[str, Any]:
        return dict(self._post("/control/sku/update", {"sku_id": sku_id, **fields})["row"])

    def mutate(self, inventory: int = 0, sku: int = 0) -> dict[str, Any]:
        return dict(self._post("/control/mutate", {"inventory": inventory, "sku": sku}))

    def touch(
        self,
        stream: str,
        key: Any = None,
        *,
        modified_offset_seconds: float = 0.0,
        late_commit: bool = False,
    ) -> dict[str, Any]:
        """Re-save a record: new ts; a negative offset gives an older ``modified``;
        ``late_commit``: a ts just above its old one, behind the live sync's cursor."""
        body = {"stream": stream, "key": key, "modified_offset_seconds": modified_offset_seconds,
                "late_commit": late_commit}  # fmt: skip
        return dict(self._post("/control/touch", body)["row"])

    def inject_fault(
        self,
        *,
        count: int = 1,
        path: str | None = None,
        http_status: int | None = None,
        code: int | None = None,
        retry_after: float | None = None,
        delay_seconds: float = 0.0,
        first_page_only: bool = False,
        effect: str = "",
        rows: int = 1,
        modified_offset_seconds: float = -3600.0,
    ) -> int:
        """Fail or disturb the next ``count`` API calls (on ``path``, or any).

        See :mod:`erp_simulator.faults` for the effects (shift, duplicate,
        out_of_order) and for delays (timeouts, slow first pages).
        """
        fault = {
            "count": count,
            "path": path,
            "http_status": http_status,
            "code": code,
            "retry_after": retry_after,
            "delay_seconds": delay_seconds,
            "first_page_only": first_page_only,
            "effect": effect,
            "rows": rows,
            "modified_offset_seconds": modified_offset_seconds,
        }
        return int(self._post("/control/faults", {"faults": [fault]})["pending"])

    def clear_faults(self) -> None:
        """Drop pending faults and end a storm."""
        self._post("/control/faults/clear")

    def storm(
        self,
        seconds: float,
        *,
        http_status: int | None = 429,
        code: int | None = None,
        retry_after: float = 1.0,
    ) -> dict[str, Any]:
        """Throttle every API call for ``seconds`` (HTTP 429, or an API code like 199)."""
        body = {
            "seconds": seconds,
            "http_status": http_status,
            "code": code,
            "retry_after": retry_after,
        }
        return dict(self._post("/control/storm", body))

    def expire_tokens(self) -> int:
        return int(self._post("/control/tokens/expire")["expired"])

    def set_token_lifetime(self, seconds: int) -> int:
        body = {"seconds": seconds}
        return int(self._post("/control/tokens/lifetime", body)["token_lifetime_seconds"])

    # -- the business ---------------------------------------------------------------------

    def start_traffic(
        self, orders_per_hour: float | None = None, speed: float | None = None
    ) -> dict[str, Any]:
        body = {"orders_per_hour": orders_per_hour, "speed": speed}
        return dict(self._post("/control/traffic/start", body))

    def stop_traffic(self) -> dict[str, Any]:
        return dict(self._post("/control/traffic/stop"))

    def start_promotion(
        self, orders_per_hour: float, duration_seconds: float | None = None
    ) -> dict[str, Any]:
        body = {"orders_per_hour": orders_per_hour, "duration_seconds": duration_seconds}
        return dict(self._post("/control/promotion/start", body))

    def stop_promotion(self) -> dict[str, Any]:
        return dict(self._post("/control/promotion/stop"))

    def generate_orders(self, count: int, settle_seconds: float = 0.0) -> dict[str, Any]:
        """Place ``count`` orders now; run lifecycle events due within ``settle_seconds``."""
        body = {"count": count, "settle_seconds": settle_seconds}
        return dict(self._post("/control/orders/generate", body))

    def advance(self, seconds: float) -> dict[str, Any]:
        """Run, now, the lifecycle events (shipping, after-sales...) due within ``seconds``."""
        return dict(self._post("/control/advance", {"seconds": seconds}))

    def set_quota(
        self,
        enabled: bool | None = None,
        per_second: int | None = None,
        per_minute: int | None = None,
    ) -> dict[str, Any]:
        body = {"enabled": enabled, "per_second": per_second, "per_minute": per_minute}
        return dict(self._post("/control/quota", {k: v for k, v in body.items() if v is not None}))

    def close(self) -> None:
        self._session.close()
