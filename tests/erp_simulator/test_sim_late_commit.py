"""The simulator's late commit: a new version whose ts sits behind a cursor that already
read past it, as a long ERP transaction commits after its rowversion was taken. A ts
cursor never returns it; a day's modified window does (what the reconciliation reads)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from common.settings import SimulatorSettings
from erp_simulator import RunningSimulator, SimulatorControl, start_simulator
from erp_simulator.gateway import SimulatorConfig

pytestmark = pytest.mark.integration


@pytest.fixture
def erp() -> Iterator[tuple[RunningSimulator, SimulatorControl]]:
    settings = SimulatorSettings(seed=3, sku_count=20, warehouse_count=1, enforce_quota=False)
    simulator = start_simulator(settings, port=0, config=SimulatorConfig(enforce_quota=False))
    control = SimulatorControl(simulator.url)
    control.generate_orders(10)
    yield simulator, control
    control.close()
    simulator.stop()


def test_a_late_commit_hides_behind_the_cursor_but_not_from_its_day(
    erp: tuple[RunningSimulator, SimulatorControl],
) -> None:
    simulator, control = erp
    cursor = simulator.store.max_ts()
    document = control.outbound()[0]
    touched = control.touch("outbound", document["io_id"], modified_offset_seconds=-3600,
                            late_commit=True)  # fmt: skip
    assert int(touched["ts"]) == int(document["ts"]) + 1 <= cursor
    table = simulator.store.outbound
    after_cursor = table.query({"start_ts": cursor, "page_size": 50})["datas"]
    assert document["io_id"] not in {row["io_id"] for row in after_cursor}
    day = str(touched["modified"])[:10]
    window = {"modified_begin": f"{day} 00:00:00", "modified_end": f"{day} 23:59:59",
              "page_size": 50, "page_index": 1}  # fmt: skip
    rows: list[dict[str, object]] = []
    while True:
        page = table.query(window)
        rows += page["datas"]
        if not page["has_next"]:
            break
        window["page_index"] = int(str(window["page_index"])) + 1
    found = {row["io_id"]: row["ts"] for row in rows}
    assert found[touched["io_id"]] == touched["ts"]
