"""The document APIs answer with the documented fields and enforce the documented rules."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from sim_support import DOCUMENT_PATHS, OUTBOUND, RECEIVED, REFUND, SHOPS, RawCaller

from common.settings import SimulatorSettings
from erp_simulator import RunningSimulator, SimulatorControl

pytestmark = pytest.mark.unit

OUTBOUND_FIELDS = set(
    "co_id shop_id io_id o_id so_id created modified status order_type pay_amount paid_amount "
    "free_amount freight l_id io_date lc_id logistics_company wms_co_id shop_name ts labels "
    "currency pay_date weight items".split()
)
OUTBOUND_ITEM_FIELDS = set(
    "ioi_id sku_id i_id qty name properties_value sale_price sale_amount sale_base_price oi_id "
    "combine_sku_id is_gift".split()
)
REFUND_FIELDS = set(
    "as_id as_date outer_as_id o_id so_id type created modified status confirm_date shop_status "
    "good_status order_status refund payment free_amount freight shop_id shop_name wms_co_id "
    "wh_id warehouse l_id ts question_type labels items".split()
)
REFUND_ITEM_FIELDS = set(
    "asi_id as_id sku_id i_id qty r_qty price amount type defective_qty receive_date name "
    "properties_value".split()
)
RECEIVED_FIELDS = set(
    "io_id o_id so_id as_id io_date warehouse modified shop_id ts status wh_id wms_co_id type "
    "items".split()
)
RECEIVED_ITEM_FIELDS = set("ioi_id sku_id qty name sale_price sale_amount".split())
SHOP_FIELDS = set(
    "shop_id shop_name co_id shop_site shop_url created nick short_name group_id group_name".split()
)


@pytest.mark.parametrize(
    ("path", "fields", "item_fields"),
    [
        (OUTBOUND, OUTBOUND_FIELDS, OUTBOUND_ITEM_FIELDS),
        (REFUND, REFUND_FIELDS, REFUND_ITEM_FIELDS),
        (RECEIVED, RECEIVED_FIELDS, RECEIVED_ITEM_FIELDS),
    ],
)
def test_rows_carry_exactly_the_documented_fields(
    busy_raw: RawCaller, path: str, fields: set[str], item_fields: set[str]
) -> None:
    data = busy_raw.data(path, {"page_size": 50})
    assert {"page_index", "page_size", "has_next", "datas", "data_count", "page_count"} <= set(data)
    assert data["datas"], "history produced documents"
    for row in data["datas"]:
        assert set(row) == fields
        assert row["items"] and all(set(item) == item_fields for item in row["items"])
        assert isinstance(row["ts"], int) and row["ts"] > 10**11


def test_shops_have_the_documented_fields_and_platforms(busy_raw: RawCaller) -> None:
    rows = busy_raw.data(SHOPS, {"page_size": 100})["datas"]
    assert all(set(row) == SHOP_FIELDS for row in rows)
    assert {"淘宝", "天猫", "京东", "拼多多", "抖音"} <= {row["shop_site"] for row in rows}
    assert busy_raw.call(SHOPS, {"page_size": 101})["code"] == 130


def _ids(n: int) -> list[int]:
    return list(range(1, n + 1))


@pytest.mark.parametrize("path", list(DOCUMENT_PATHS.values()))
@pytest.mark.parametrize(
    "biz",
    [
        {"page_size": 51},
        {"page_size": 0},
        {"modified_begin": "2026-01-01 00:00:00"},
        {"modified_end": "2026-01-01 00:00:00"},
        {"modified_begin": "2026-01-01 00:00:00", "modified_end": "2026-01-08 00:00:01"},
        {"modified_begin": "2026-01-02 00:00:00", "modified_end": "2026-01-01 00:00:00"},
        {"o_ids": _ids(51)},
        {"date_type": 3},
        {"start_ts": "not-a-number"},
    ],
)
def test_parameter_rules_are_code_130(busy_raw: RawCaller, path: str, biz: dict[str, Any]) -> None:
    assert busy_raw.call(path, biz)["code"] == 130


@pytest.mark.parametrize(
    ("path", "biz"),
    [
        (OUTBOUND, {"io_ids": _ids(51)}),
        (OUTBOUND, {"so_ids": [str(n) for n in _ids(51)]}),
        (OUTBOUND, {"status": "Shipped"}),
        (REFUND, {"as_ids": _ids(51)}),
        (REFUND, {"status": "Delete"}),
        (REFUND, {"good_status": "LOST"}),
        (REFUND, {"type": "退款"}),
        (RECEIVED, {"io_ids": _ids(51)}),
    ],
)
def test_stream_specific_rules_are_code_130(
    busy_raw: RawCaller, path: str, biz: dict[str, Any]
) -> None:
    assert busy_raw.call(path, biz)["code"] == 130


@pytest.mark.parametrize("path", list(DOCUMENT_PATHS.values()))
def test_maxima_and_seven_day_window_are_accepted(busy_raw: RawCaller, path: str) -> None:
    biz = {
        "page_size": 50,
        "modified_begin": "2026-01-01 00:00:00",
        "modified_end": "2026-01-08 00:00:00",
        "o_ids": _ids(50),
    }
    assert busy_raw.call(path, biz)["code"] == 0


def test_outbound_filters(busy_raw: RawCaller, busy: RunningSimulator) -> None:
    rows = busy.store.rows("outbound")
    shop_id = rows[0]["shop_id"]
    data = busy_raw.data(OUTBOUND, {"shop_id": shop_id, "status": "Confirmed", "page_size": 50})
    expected = [r for r in rows if r["shop_id"] == shop_id and r["status"] == "Confirmed"]
    assert data["data_count"] == len(expected) > 0
    assert all(r["shop_id"] == shop_id and r["status"] == "Confirmed" for r in data["datas"])
    o_ids = [r["o_id"] for r in rows[:5]]
    found = busy_raw.data(OUTBOUND, {"o_ids": o_ids})["datas"]
    assert sorted(r["o_id"] for r in found) == sorted(o_ids)
    so_found = busy_raw.data(OUTBOUND, {"so_ids": ",".join(r["so_id"] for r in rows[:3])})
    assert len(so_found["datas"]) == 3
    assert {r["status"] for r in rows} >= {"WaitConfirm", "Confirmed", "Cancelled", "Delete"}


def test_outbound_date_type_2_filters_on_io_date(
    busy_raw: RawCaller, busy: RunningSimulator
) -> None:
    confirmed = [r for r in busy.store.rows("outbound") if r["status"] == "Confirmed"]
    io_date = confirmed[len(confirmed) // 2]["io_date"]
    biz = {"date_type": 2, "modified_begin": io_date, "modified_end": io_date, "page_size": 50}
    rows = busy_raw.data(OUTBOUND, biz)["datas"]
    assert rows and all(r["io_date"] == io_date for r in rows)


def test_refund_filters(busy_raw: RawCaller, busy: RunningSimulator) -> None:
    rows = busy.store.rows("refund")
    for name in ("status", "good_status", "type"):
        value = rows[0][name]
        data = busy_raw.data(REFUND, {name: value, "page_size": 50})
        assert data["data_count"] == sum(1 for r in rows if r[name] == value)
        assert all(r[name] == value for r in data["datas"])
    as_ids = [r["as_id"] for r in rows[:4]]
    assert sorted(r["as_id"] for r in busy_raw.data(REFUND, {"as_ids": as_ids})["datas"]) == as_ids


def test_received_rows_follow_their_refund(busy_raw: RawCaller, busy: RunningSimulator) -> None:
    refunds = {r["as_id"]: r for r in busy.store.rows("refund")}
    received = busy_raw.cursor_read(RECEIVED)
    assert received
    for row in received:
        refund = refunds[row["as_id"]]
        assert row["wh_id"] in (1, 2, 3, 4) and row["wh_id"] == refund["wh_id"]
        assert refund["good_status"] == "SELLER_RECEIVED" and refund["status"] == "Confirmed"
        assert [i["sku_id"] for i in row["items"]] == [i["sku_id"] for i in refund["items"]]
        assert all(i["r_qty"] == i["qty"] and i["receive_date"] for i in refund["items"])
    one = received[0]
    by_as = busy_raw.data(RECEIVED, {"as_ids": [one["as_id"]]})["datas"]
    assert [r["io_id"] for r in by_as] == [one["io_id"]]
    created = busy_raw.data(
        RECEIVED, {"date_type": 1, "modified_begin": one["io_date"], "modified_end": one["io_date"]}
    )["datas"]
    assert one["io_id"] in {r["io_id"] for r in created}


def test_is_get_total_false_leaves_out_the_counts(busy_raw: RawCaller) -> None:
    data = busy_raw.data(OUTBOUND, {"is_get_total": False, "page_size": 5})
    assert "data_count" not in data and "page_count" not in data and data["has_next"]


def test_envelope_rules_hold_on_the_document_apis(busy_raw: RawCaller) -> None:
    assert busy_raw.post(REFUND, busy_raw.envelope({}), secret="wrong").json()["code"] == 10
    assert busy_raw.call(OUTBOUND, {}, timestamp=int(time.time()) - 3600)["code"] == 140
    assert busy_raw.call(RECEIVED, {}, access_token="x" * 32)["code"] == 100


def test_quota_counts_across_all_apis(
    history_factory: Callable[..., RunningSimulator],
) -> None:
    simulator = history_factory(
        SimulatorSettings(seed=1, sku_count=20, warehouse_count=1, enforce_quota=True),
        quota_per_second=1000,
        quota_per_minute=4,
    )
    caller = RawCaller(simulator)
    caller.login()
    codes = [caller.call(path, {})["code"] for path in (OUTBOUND, REFUND, RECEIVED, OUTBOUND)]
    assert codes == [0, 0, 0, 200]


def test_token_lifetime_is_configurable_and_expiry_is_code_100(
    history_factory: Callable[..., RunningSimulator],
) -> None:
    simulator = history_factory(
        SimulatorSettings(seed=1, sku_count=20, warehouse_count=1, enforce_quota=False),
        token_lifetime_seconds=1,
    )
    caller = RawCaller(simulator)
    assert caller.login()["expires_in"] == 1
    assert caller.call(OUTBOUND, {})["code"] == 0
    time.sleep(1.2)
    assert caller.call(OUTBOUND, {})["code"] == 100
    control = SimulatorControl(simulator.url)
    assert control.set_token_lifetime(3600) == 3600
    assert caller.login()["expires_in"] == 3600
    control.close()
