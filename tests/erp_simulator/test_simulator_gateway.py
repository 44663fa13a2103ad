"""The simulator enforces the envelope rules; raw signed HTTP posts, no client retries."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import requests

from common.settings import SimulatorSettings
from connectors.jushuitan.signing import signed_form
from connectors.models import format_erp_time
from erp_simulator import RunningSimulator, SimulatorControl
from erp_simulator.store import beijing_now

pytestmark = pytest.mark.unit

INVENTORY = "/open/inventory/query"
SKU = "/open/sku/query"


class RawCaller:
    """Posts signed envelopes by hand so that every field can be broken on purpose."""

    def __init__(self, simulator: RunningSimulator):
        self.simulator = simulator
        self.config = simulator.gateway.config
        self.token = ""

    def post(
        self, path: str, fields: dict[str, Any], secret: str | None = None
    ) -> requests.Response:
        form = signed_form(secret or self.config.app_secret, fields)
        return requests.post(self.simulator.url + path, data=form, timeout=10)

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

    def login(self) -> None:
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

    def call(self, path: str, biz: dict[str, Any], **overrides: Any) -> dict[str, Any]:
        response = self.post(path, self.envelope(biz, **overrides))
        assert response.status_code == 200
        return dict(response.json())


@pytest.fixture
def raw(simulator: RunningSimulator) -> RawCaller:
    caller = RawCaller(simulator)
    caller.login()
    return caller


def test_success_envelope(raw: RawCaller) -> None:
    body = raw.call(INVENTORY, {"page_size": 5})
    assert body["code"] == 0 and body["msg"] == "执行成功"
    assert set(body["data"]) >= {
        "page_index",
        "page_size",
        "has_next",
        "inventorys",
        "data_count",
        "page_count",
    }


def test_bad_sign_is_code_10(raw: RawCaller) -> None:
    response = raw.post(INVENTORY, raw.envelope({}), secret="wrong")
    assert response.json()["code"] == 10


def test_unknown_app_key_is_code_10(raw: RawCaller) -> None:
    assert raw.call(INVENTORY, {}, app_key="someone-else")["code"] == 10


@pytest.mark.parametrize("skew", [-3600, 3600])
def test_timestamp_skew_is_code_140(raw: RawCaller, skew: int) -> None:
    assert raw.call(INVENTORY, {}, timestamp=int(time.time()) + skew)["code"] == 140


def test_small_skew_is_accepted(raw: RawCaller) -> None:
    assert raw.call(INVENTORY, {}, timestamp=int(time.time()) - 300)["code"] == 0


def test_missing_or_unknown_token_is_code_100(raw: RawCaller) -> None:
    assert raw.call(INVENTORY, {}, access_token="")["code"] == 100
    assert raw.call(INVENTORY, {}, access_token="f" * 32)["code"] == 100


@pytest.mark.parametrize(
    ("path", "biz"),
    [
        (INVENTORY, {"page_size": 101}),
        (INVENTORY, {"page_size": 0}),
        (INVENTORY, {"sku_ids": ",".join(f"S{n}" for n in range(101))}),
        (SKU, {"page_size": 51}),
        (SKU, {"sku_ids": [f"S{n}" for n in range(21)]}),
        (SKU, {"date_field": "deleted"}),
        (SKU, {"modified_begin": "2026-01-01 00:00:00"}),
        (SKU, {"modified_begin": "2026-01-01 00:00:00", "modified_end": "2026-01-08 00:00:01"}),
        (SKU, {"modified_begin": "2026-01-02 00:00:00", "modified_end": "2026-01-01 00:00:00"}),
        (INVENTORY, {"modified_begin": "2026/01/01", "modified_end": "2026/01/02"}),
    ],
)
def test_parameter_rules_are_code_130(raw: RawCaller, path: str, biz: dict[str, Any]) -> None:
    assert raw.call(path, biz)["code"] == 130


def test_page_size_maxima_are_accepted(raw: RawCaller) -> None:
    assert raw.call(INVENTORY, {"page_size": 100})["code"] == 0
    assert raw.call(SKU, {"page_size": 50, "sku_ids": "a,b"})["code"] == 0


def test_seven_day_window_is_accepted(raw: RawCaller) -> None:
    biz = {"modified_begin": "2026-01-01 00:00:00", "modified_end": "2026-01-08 00:00:00"}
    assert raw.call(SKU, biz)["code"] == 0


def test_quota_per_second_is_code_199(simulator_factory: Callable[..., RunningSimulator]) -> None:
    simulator = simulator_factory(
        SimulatorSettings(sku_count=5, warehouse_count=1, enforce_quota=True), quota_per_minute=1000
    )
    caller = RawCaller(simulator)
    caller.login()  # the login counts too: 4 more calls fit in this second
    codes = [caller.call(INVENTORY, {})["code"] for _ in range(6)]
    assert codes[:4] == [0, 0, 0, 0]
    assert 199 in codes[4:]


def test_quota_per_minute_is_code_200(simulator_factory: Callable[..., RunningSimulator]) -> None:
    simulator = simulator_factory(
        SimulatorSettings(sku_count=5, warehouse_count=1, enforce_quota=True),
        quota_per_second=100,
        quota_per_minute=5,
    )
    caller = RawCaller(simulator)
    caller.login()
    codes = [caller.call(INVENTORY, {})["code"] for _ in range(6)]
    assert codes == [0, 0, 0, 0, 200, 200]


def test_quota_can_be_switched_off_at_runtime(
    simulator_factory: Callable[..., RunningSimulator],
) -> None:
    simulator = simulator_factory(
        SimulatorSettings(sku_count=5, warehouse_count=1, enforce_quota=True), quota_per_second=2
    )
    SimulatorControl(simulator.url).set_quota(enabled=False)
    caller = RawCaller(simulator)
    caller.login()
    assert {caller.call(INVENTORY, {})["code"] for _ in range(10)} == {0}


def test_injected_http_faults_then_recovery(raw: RawCaller, control: SimulatorControl) -> None:
    control.inject_fault(path=INVENTORY, http_status=429, retry_after=3, count=1)
    control.inject_fault(path=INVENTORY, http_status=500, count=1)
    first = raw.post(INVENTORY, raw.envelope({}))
    assert first.status_code == 429 and first.headers["Retry-After"] == "3"
    assert raw.post(INVENTORY, raw.envelope({})).status_code == 500
    assert raw.call(INVENTORY, {})["code"] == 0
    assert control.state()["faults_pending"] == []


def test_open_api_is_post_only_and_unknown_paths_404(raw: RawCaller) -> None:
    assert requests.get(raw.simulator.url + INVENTORY, timeout=5).status_code == 405
    assert raw.post("/open/nope", raw.envelope({})).status_code == 404


def test_refresh_rotates_tokens_and_unknown_refresh_is_150(raw: RawCaller) -> None:
    fields = {
        "app_key": raw.config.app_key,
        "timestamp": int(time.time()),
        "charset": "utf-8",
        "grant_type": "authorization_code",
        "code": "zzzzzz",
    }
    grant = raw.post("/openWeb/auth/getInitToken", fields).json()["data"]
    refresh = {
        "app_key": raw.config.app_key,
        "timestamp": int(time.time()),
        "charset": "utf-8",
        "grant_type": "refresh_token",
        "refresh_token": grant["refresh_token"],
        "scope": "all",
    }
    renewed = raw.post("/openWeb/auth/refreshToken", refresh).json()
    assert renewed["code"] == 0 and renewed["data"]["refresh_token"] != grant["refresh_token"]
    again = raw.post("/openWeb/auth/refreshToken", {**refresh, "timestamp": int(time.time())})
    assert again.json()["code"] == 150


# -- ts cursor and window semantics ------------------------------------------------------


def test_ts_cursor_pages_with_page_index_one(raw: RawCaller, simulator: RunningSimulator) -> None:
    wms_co_id = simulator.store.warehouse_ids[0]
    expected = sorted(row["ts"] for row in simulator.store.inventory_rows(wms_co_id))
    cursor, seen = 0, []
    for _ in range(10):
        data = raw.call(
            INVENTORY,
            {
                "wms_co_id": wms_co_id,
                "page_index": 1,
                "page_size": 15,
                "ts": cursor,
                "is_get_total": False,
            },
        )["data"]
        page = [row["ts"] for row in data["inventorys"]]
        assert "data_count" not in data
        assert page == sorted(page) and all(ts > cursor for ts in page)
        seen += page
        if not data["has_next"]:
            break
        cursor = max(page)
    assert seen == expected


def test_a_change_gets_a_higher_ts_and_current_modified(
    raw: RawCaller, simulator: RunningSimulator, control: SimulatorControl
) -> None:
    wms_co_id = simulator.store.warehouse_ids[1]
    top = simulator.store.max_ts()
    sku_id = simulator.store.inventory_rows(wms_co_id)[3]["sku_id"]
    row = control.set_inventory(sku_id, wms_co_id, qty=-4)
    assert row["ts"] > top and row["qty"] == -4
    data = raw.call(INVENTORY, {"wms_co_id": wms_co_id, "ts": top})["data"]
    assert [(r["sku_id"], r["qty"]) for r in data["inventorys"]] == [(sku_id, -4)]
    assert "wms_co_id" not in data["inventorys"][0]


def test_warehouse_zero_sums_all_warehouses(raw: RawCaller, simulator: RunningSimulator) -> None:
    rows = simulator.store.inventory_rows()
    sku_id = rows[0]["sku_id"]
    total = sum(row["qty"] for row in rows if row["sku_id"] == sku_id)
    data = raw.call(INVENTORY, {"wms_co_id": 0, "sku_ids": sku_id})["data"]
    assert data["inventorys"][0]["qty"] == total


def test_sku_modified_window_filters_and_orders(raw: RawCaller, control: SimulatorControl) -> None:
    now = beijing_now()
    control.update_sku("I00001-NEW-M", name="新品", category="连衣裙", cost_price=50.0)
    biz = {
        "modified_begin": format_erp_time(now - timedelta(minutes=1)),
        "modified_end": format_erp_time(now + timedelta(minutes=1)),
    }
    rows = raw.call(SKU, biz)["data"]["datas"]
    assert [row["sku_id"] for row in rows] == ["I00001-NEW-M"]
    assert rows[0]["name"] == "新品"


def test_control_rejects_unknown_rows(control: SimulatorControl) -> None:
    with pytest.raises(requests.HTTPError):
        control.set_inventory("no-such-sku", 10200001, qty=1)
    with pytest.raises(requests.HTTPError):
        control.update_sku("I00001-BL-L", colour="red")
