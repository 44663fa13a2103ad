"""Stock within seconds while orders flow: the reason a merchant watches the inventory
screen during a promotion. Runs last in the e2e session: it starts live traffic.

Through every real component (simulator with its quota enforced -> connector -> Kafka ->
Flink -> ClickHouse), with the document streams carrying live orders at the default
simulator's 1,200 orders/hour while the stock changes.
"""

from __future__ import annotations

import random
import time
from functools import partial

from clickhouse_connect.driver.client import Client
from test_inventory_slice import INITIAL_LOAD_DEADLINE_SECONDS, caught_up, poll, warehouse_row

from common.settings import Settings
from erp_simulator.control import SimulatorControl

LIVE_ORDERS_PER_HOUR = 1200.0
FRESHNESS_SECONDS = 15.0
CHANGES = 4


def outbound_landed(warehouse: Client) -> int:
    return int(warehouse.query("SELECT count() FROM dwd_sale_out FINAL").result_rows[0][0])


def shows(warehouse: Client, sku_id: str, wms_co_id: int, qty: int) -> bool:
    row = warehouse_row(warehouse, sku_id, wms_co_id)
    return row is not None and row["qty"] == qty


def test_a_stock_change_reaches_dws_inventory_within_15_s_while_orders_flow(
    running_stack: Settings, erp: SimulatorControl, warehouse: Client
) -> None:
    assert poll(lambda: caught_up(erp, warehouse), INITIAL_LOAD_DEADLINE_SECONDS), (
        "the initial load never caught up with the ERP"
    )
    documents_before = outbound_landed(warehouse)
    rng = random.Random(20261202)
    skus = [row["sku_id"] for row in erp.skus()]
    warehouses = [int(row["wms_co_id"]) for row in erp.warehouses()]
    erp.start_traffic(orders_per_hour=LIVE_ORDERS_PER_HOUR)
    latencies: list[float] = []
    try:
        # Orders are landing before the first change: the documents carry live traffic.
        assert poll(lambda: outbound_landed(warehouse) > documents_before, 60.0), (
            "no live order reached dwd_sale_out"
        )
        for number in range(CHANGES):
            sku_id, wms_co_id = rng.choice(skus), rng.choice(warehouses)
            new_qty = 700_000 + number
            changed = time.monotonic()
            erp.set_inventory(sku_id, wms_co_id, qty=new_qty)
            landed = poll(partial(shows, warehouse, sku_id, wms_co_id, new_qty),
                          FRESHNESS_SECONDS, interval=0.2)  # fmt: skip
            latencies.append(time.monotonic() - changed)
            assert landed, (
                f"stock of {sku_id} in {wms_co_id} not in dws_inventory within "
                f"{FRESHNESS_SECONDS:.0f} s (change {number + 1}; earlier: {latencies[:-1]})"
            )
            # Spacing, not readiness: the next change falls anywhere in the poll cycle.
            time.sleep(rng.uniform(0.5, 4.0))
        assert erp.traffic()["writes"] > 0
    finally:
        erp.stop_traffic()
