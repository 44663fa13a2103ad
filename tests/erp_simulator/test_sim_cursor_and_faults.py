"""ts/start_ts cursor semantics on every ts API, and every injectable fault."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import requests
from sim_support import DOCUMENT_PATHS, INVENTORY, OUTBOUND, RECEIVED, REFUND, SKU, RawCaller

from erp_simulator import RunningSimulator, SimulatorControl

pytestmark = pytest.mark.unit


@pytest.fixture
def fresh(history_factory: Callable[..., RunningSimulator]) -> RunningSimulator:
    return history_factory()


@pytest.fixture
def raw(fresh: RunningSimulator) -> RawCaller:
    caller = RawCaller(fresh)
    caller.login()
    return caller


@pytest.fixture
def control(fresh: RunningSimulator) -> SimulatorControl:
    return SimulatorControl(fresh.url)


@pytest.mark.parametrize("stream", list(DOCUMENT_PATHS))
def test_cursor_reads_every_document_once_in_ts_order(
    busy_raw: RawCaller, busy: RunningSimulator, stream: str
) -> None:
    rows = busy_raw.cursor_read(DOCUMENT_PATHS[stream], page_size=37)
    expected = sorted(busy.store.rows(stream), key=lambda row: row["ts"])
    assert rows == expected


@pytest.mark.parametrize("wms_co_id", [0, 10200001])
def test_inventory_cursor_per_warehouse_and_summed(
    busy_raw: RawCaller, busy: RunningSimulator, wms_co_id: int
) -> None:
    rows = busy_raw.cursor_read(INVENTORY, {"wms_co_id": wms_co_id}, page_size=100)
    assert len(rows) == len(busy.store.skus)
    if wms_co_id:
        expected = {r["sku_id"]: r["ts"] for r in busy.store.inventory_rows(wms_co_id)}
        assert {r["sku_id"]: r["ts"] for r in rows} == expected


@pytest.mark.parametrize("stream", list(DOCUMENT_PATHS))
def test_a_change_comes_back_with_a_higher_ts(
    raw: RawCaller, control: SimulatorControl, fresh: RunningSimulator, stream: str
) -> None:
    top = fresh.store.max_ts()
    old = fresh.store.rows(stream)[0]
    key = "as_id" if stream == "refund" else "io_id"
    touched = control.touch(stream, old[key])
    assert touched["ts"] > top
    data = raw.data(DOCUMENT_PATHS[stream], {"start_ts": top, "is_get_total": False})
    assert [r[key] for r in data["datas"]] == [old[key]]


def test_generated_orders_ship_and_move_stock(
    raw: RawCaller, control: SimulatorControl, fresh: RunningSimulator
) -> None:
    top = fresh.store.max_ts()
    placed = control.generate_orders(5)["io_ids"]
    new = raw.data(OUTBOUND, {"start_ts": top, "is_get_total": False, "page_size": 50})["datas"]
    # An order of the history may ship meanwhile (its event came due): it comes back too,
    # with its new status. The placed ones come in the order they were placed.
    new = [r for r in new if r["io_id"] in placed]
    assert [r["io_id"] for r in new] == placed and {r["status"] for r in new} == {"WaitConfirm"}
    before = {(r["wms_co_id"], r["sku_id"]): r for r in fresh.store.inventory_rows()}
    control.advance(30 * 86400)  # every lifecycle event of those orders, stamped now
    after = {(r["wms_co_id"], r["sku_id"]): r for r in fresh.store.inventory_rows()}
    final = {r["io_id"]: r for r in fresh.store.rows("outbound") if r["io_id"] in placed}
    for row in final.values():
        assert row["status"] in ("Confirmed", "Cancelled", "Delete")
        for item in row["items"]:
            key = (row["wms_co_id"], item["sku_id"])
            assert after[key]["ts"] > before[key]["ts"]
    shipped = [r for r in final.values() if r["status"] == "Confirmed"]
    assert shipped and all(r["l_id"] for r in shipped)


# -- faults -------------------------------------------------------------------------------


def test_http_5xx_and_429_with_retry_after(raw: RawCaller, control: SimulatorControl) -> None:
    control.inject_fault(path=OUTBOUND, http_status=503)
    control.inject_fault(path=OUTBOUND, http_status=429, retry_after=7)
    assert raw.post(OUTBOUND, raw.envelope({})).status_code == 503
    throttled = raw.post(OUTBOUND, raw.envelope({}))
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "7"
    assert raw.call(OUTBOUND, {})["code"] == 0


@pytest.mark.parametrize("code", [199, 200, 100])
def test_api_code_faults(raw: RawCaller, control: SimulatorControl, code: int) -> None:
    control.inject_fault(path=REFUND, code=code, count=2)
    assert [raw.call(REFUND, {})["code"] for _ in range(3)] == [code, code, 0]


def test_timeout_then_normal_answer(raw: RawCaller, control: SimulatorControl) -> None:
    control.inject_fault(path=OUTBOUND, delay_seconds=1.0)
    raw.timeout = 0.3
    with pytest.raises(requests.Timeout):
        raw.post(OUTBOUND, raw.envelope({}))
    raw.timeout = 10
    time.sleep(0.8)  # let the slow answer finish
    assert raw.call(OUTBOUND, {})["code"] == 0


def test_slow_first_page_only(raw: RawCaller, control: SimulatorControl) -> None:
    control.inject_fault(path=RECEIVED, delay_seconds=0.6, first_page_only=True, count=5)
    started = time.monotonic()
    assert raw.call(RECEIVED, {"page_index": 2})["code"] == 0
    assert time.monotonic() - started < 0.4
    started = time.monotonic()
    assert raw.call(RECEIVED, {"page_index": 1})["code"] == 0
    assert time.monotonic() - started >= 0.6


def test_received_first_page_delay_knob(history_factory: Callable[..., RunningSimulator]) -> None:
    simulator = history_factory(received_first_page_delay_seconds=0.5)
    caller = RawCaller(simulator)
    caller.login()
    started = time.monotonic()
    caller.call(RECEIVED, {})
    assert time.monotonic() - started >= 0.5


def test_shift_makes_page_index_paging_miss_rows_but_not_the_cursor(
    raw: RawCaller, control: SimulatorControl, fresh: RunningSimulator
) -> None:
    count = len(fresh.store.rows("outbound"))
    control.inject_fault(path=OUTBOUND, effect="shift", count=1)
    seen: set[int] = set()
    page_index = 1
    while True:
        data = raw.data(OUTBOUND, {"page_index": page_index, "page_size": 50})
        seen |= {r["io_id"] for r in data["datas"]}
        if not data["has_next"]:
            break
        page_index += 1
    assert len(seen) < count, "rows modified while paging by page_index are missed"
    control.inject_fault(path=OUTBOUND, effect="shift", count=1)
    by_cursor = raw.cursor_read(OUTBOUND)
    assert {r["io_id"] for r in by_cursor} == {r["io_id"] for r in fresh.store.rows("outbound")}
    assert len(by_cursor) == count + 50, "the shifted page comes back with higher ts"


def test_duplicate_rows_across_pages(raw: RawCaller, control: SimulatorControl) -> None:
    first = raw.data(REFUND, {"page_size": 10, "start_ts": 0, "is_get_total": False})["datas"]
    cursor = first[-1]["ts"]
    control.inject_fault(path=REFUND, effect="duplicate", rows=2)
    second = raw.data(REFUND, {"page_size": 10, "start_ts": cursor, "is_get_total": False})
    assert [r["as_id"] for r in second["datas"][:2]] == [r["as_id"] for r in first[-2:]]
    assert len(second["datas"]) == 12
    page_1 = raw.data(OUTBOUND, {"page_size": 10, "page_index": 1})["datas"]
    control.inject_fault(path=OUTBOUND, effect="duplicate", rows=3)
    page_2 = raw.data(OUTBOUND, {"page_size": 10, "page_index": 2})["datas"]
    assert page_1[-3:] == page_2[:3]


def test_out_of_order_modified_with_newer_ts(
    raw: RawCaller, control: SimulatorControl, fresh: RunningSimulator
) -> None:
    top = fresh.store.max_ts()
    newest_modified = max(r["modified"] for r in fresh.store.rows("outbound"))
    control.inject_fault(
        path=OUTBOUND, effect="out_of_order", rows=2, modified_offset_seconds=-7200
    )
    rows = raw.data(OUTBOUND, {"start_ts": top, "is_get_total": False})["datas"]
    assert len(rows) == 2
    assert all(r["ts"] > top and r["modified"] < newest_modified for r in rows)
    row = control.touch("inventory", [10200001, fresh.store.inventory_rows(10200001)[0]["sku_id"]],
                        modified_offset_seconds=-86400)  # fmt: skip
    assert row["ts"] > rows[-1]["ts"]


def test_storm_throttles_every_call_for_a_while(raw: RawCaller, control: SimulatorControl) -> None:
    control.storm(0.8, retry_after=2)
    for path in (OUTBOUND, INVENTORY, SKU):
        reply = raw.post(path, raw.envelope({}))
        assert reply.status_code == 429 and reply.headers["Retry-After"] == "2"
    assert control.state()["storm"]["active"]
    time.sleep(0.9)
    assert raw.call(OUTBOUND, {})["code"] == 0
    storm = control.state()["storm"]
    assert not storm["active"] and storm["answered"] == 3


def test_storm_with_api_code_and_early_clear(raw: RawCaller, control: SimulatorControl) -> None:
    control.storm(60, code=199)
    assert raw.call(OUTBOUND, {})["code"] == 199
    control.clear_faults()
    assert raw.call(OUTBOUND, {})["code"] == 0
