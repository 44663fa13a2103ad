from __future__ import annotations

from datetime import datetime

import pytest

from connectors.models import BEIJING, InventoryRow, SkuRow, parse_erp_time
from erp_simulator.catalog import generate
from erp_simulator.store import ErpStore

pytestmark = pytest.mark.unit

NOW = datetime(2026, 7, 1, 12, 0, 0, tzinfo=BEIJING)


def test_same_seed_same_data_other_seed_other_data() -> None:
    first, second = generate(11, 300, 3, NOW), generate(11, 300, 3, NOW)
    assert first.skus == second.skus and first.inventory == second.inventory
    assert first.next_ts == second.next_ts
    assert generate(12, 300, 3, NOW).skus != first.skus


def test_counts_and_warehouse_provinces() -> None:
    catalog = generate(1, 250, 4, NOW)
    assert len(catalog.skus) == 250
    assert len(catalog.inventory) == 250 * 4
    assert len({w["province"] for w in catalog.warehouses}) == 4
    assert len({w["wms_co_id"] for w in catalog.warehouses}) == 4


def test_rows_match_the_api_models_and_realistic_shapes() -> None:
    catalog = generate(3, 2000, 2, NOW)
    skus = [SkuRow.model_validate(row) for row in catalog.skus.values()]
    assert len({row.category for row in skus}) > 5 and len({row.brand for row in skus}) > 5
    assert all(
        row.cost_price and row.sale_price and row.sale_price > row.cost_price for row in skus
    )
    rows = [InventoryRow.model_validate(row) for row in catalog.inventory.values()]
    assert any(row.qty < 0 for row in rows), "some negative stock, for the anomaly rules"
    assert any(row.min_qty is not None and row.qty < row.min_qty for row in rows)
    assert any(row.max_qty is not None and row.qty > row.max_qty for row in rows)


def test_ts_is_unique_and_follows_modified() -> None:
    catalog = generate(5, 500, 3, NOW)
    rows = sorted(catalog.inventory.values(), key=lambda row: row["ts"])
    assert len({row["ts"] for row in rows}) == len(rows)
    modified = [parse_erp_time(row["modified"]) for row in rows]
    assert modified == sorted(modified)
    assert catalog.next_ts > rows[-1]["ts"] > 10**11


def test_mutations_are_seeded_and_bump_ts() -> None:
    first = ErpStore(9, 100, 2, clock=lambda: NOW)
    second = ErpStore(9, 100, 2, clock=lambda: NOW)
    top = first.max_ts()
    changed = first.mutate_random(inventory_changes=10, sku_changes=3)
    assert changed == second.mutate_random(inventory_changes=10, sku_changes=3)
    assert first.inventory_rows() == second.inventory_rows()
    bumped = [row for row in first.inventory_rows() if row["ts"] > top]
    assert len(bumped) in range(1, 11), f"{len(bumped)} inventory rows got a new ts"
    assert all(row["modified"] == "2026-07-01 12:00:00" for row in bumped)
    assert all(first.skus[sku_id]["modified"] == "2026-07-01 12:00:00" for sku_id in changed["sku"])


def test_a_simulator_restarted_later_writes_above_every_ts_of_the_earlier_run() -> None:
    """`erpbi down` / `erpbi up` keeps the connector's cursors but restarts the simulator:
    every change it makes after the restart must be above what was read before it, or
    the screens would freeze while the pipeline looks healthy."""
    earlier = ErpStore(9, 300, 2, clock=lambda: NOW)
    for _ in range(20):
        earlier.mutate_random(inventory_changes=50, sku_changes=5)
    cursor = earlier.max_ts()
    later = NOW.replace(minute=5)  # five minutes on
    restarted = ErpStore(9, 300, 2, clock=lambda: later)
    before = restarted.max_ts()
    restarted.mutate_random(inventory_changes=10, sku_changes=3)
    changed = [row for row in restarted.inventory_rows() if row["ts"] > before]
    assert changed and all(row["ts"] > cursor for row in changed)
