"""Helpers for the simulator tests: a raw signed caller and a simulator with history."""

from __future__ import annotations

import json
import time
from typing import Any

import requests

from connectors.jushuitan.signing import signed_form
from erp_simulator import RunningSimulator

OUTBOUND = "/open/orders/out/simple/query"
REFUND = "/open/refund/single/query"
RECEIVED = "/open/aftersale/received/query"
INVENTORY = "/open/inventory/query"
SKU = "/open/sku/query"
SHOPS = "/open/shops/query"
DOCUMENT_PATHS = {"outbound": OUTBOUND, "refund": REFUND, "aftersale_received": RECEIVED}


class RawCaller:
    """Posts signed envelopes by hand so that every field can be broken on purpose."""

    def __init__(self, simulator: RunningSimulator, timeout: float = 10.0):
        self.simulator = simulator
        self.config = simulator.gateway.config
        self.token = ""
        self.timeout = timeout

    def post(
        self, path: str, fields: dict[str, Any], secret: str | None = None
    ) -> requests.Response:
        form = signed_form(secret or self.config.app_secret, fields)
        return requests.post(self.simulator.url + path, data=form, timeout=self.timeout)

    def envelope(self, biz: dict[str, Any], **overrides: Any) -> dict[str, Any]:
        fields = {
            "app_key": self.config.app_key,
            "access_token": self.token,
            "timestamp": int(time.time()),
            "version": 2,
            "charset": "utf-8",
            "biz": json.dumps(biz, ensure_ascii=False),
        }
        fields.update(overrides)
        return fields

    def login(self) -> dict[str, Any]:
        fields = {
            "app_key": self.config.app_key,
            "timestamp": int(time.time()),
            "grant_type": "authorization_code",
            "charset": "utf-8",
            "code": "a1b2c3",
        }
        body = self.post("/openWeb/auth/getInitToken", fields).json()
        assert body["code"] == 0, body
        self.token = body["data"]["access_token"]
        return dict(body["data"])

    def call(self, path: str, biz: dict[str, Any], **overrides: Any) -> dict[str, Any]:
        response = self.post(path, self.envelope(biz, **overrides))
        assert response.status_code == 200, response.text
        return dict(response.json())

    def data(self, path: str, biz: dict[str, Any]) -> dict[str, Any]:
        body = self.call(path, biz)
        assert body["code"] == 0, body
        return dict(body["data"])

    def cursor_read(
        self, path: str, biz: dict[str, Any] | None = None, page_size: int = 50
    ) -> list[dict[str, Any]]:
        """The documented ts loop: page_index=1, start_ts = largest ts seen."""
        param = "ts" if path == INVENTORY else "start_ts"
        cursor, rows = 0, []
        for _ in range(10_000):
            query = {**(biz or {}), "page_index": 1, "page_size": page_size, param: cursor}
            data = self.data(path, {**query, "is_get_total": False})
            key = "inventorys" if path == INVENTORY else "datas"
            page = data[key]
            if not page:
                break
            assert [r["ts"] for r in page] == sorted(r["ts"] for r in page)
            assert all(r["ts"] > cursor for r in page)
            rows += page
            cursor = max(r["ts"] for r in page)
            if not data["has_next"]:
                break
        return rows
