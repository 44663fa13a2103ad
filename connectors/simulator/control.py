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

    def inject_fault(
        self,
        *,
        count: int = 1,
        path: str | None = None,
        http_status: int | None = None,
        code: int | None = None,
        retry_after: float | None = None,
        delay_seconds: float = 0.0,
    ) -> int:
        """Answer the next ``count`` API calls (on ``path``, or any) with a failure."""
        fault = {
            "count": count,
            "path": path,
            "http_status": http_status,
            "code": code,
            "retry_after": retry_after,
            "delay_seconds": delay_seconds,
        }
        return int(self._post("/control/faults", {"faults": [fault]})["pending"])

    def clear_faults(self) -> None:
        self._post("/control/faults/clear")

    def expire_tokens(self) -> int:
        return int(self._post("/control/tokens/expire")["expired"])

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
