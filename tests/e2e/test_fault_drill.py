"""The short fault drill on the whole stack (benchmarks/drill.py runs the long one).

Under live ERP traffic and a feed straight onto the ODS topics, with 1 % of the traffic
malformed throughout:
the connector and the Flink job are SIGKILLed and restarted, the warehouse server is
down for 10 s, and ClickHouse refuses a row. After each fault a fresh ERP stock change
reaches the warehouse again; after the traffic stops, every key of the ERP is in the
warehouse once with its latest version and amount (0 lost / 0 duplicated / 0 wrong), and so
is every key the feed sent; the serving layer agrees with the DWD, screen 7's numbers with
the documents, and every malformed record has its dead letter.
"""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.client import Client
from test_inventory_slice import INITIAL_LOAD_DEADLINE_SECONDS, caught_up, poll

from common.settings import Settings
from erp_simulator import SimulatorControl
from testkit.drill import Drill

pytestmark = [pytest.mark.e2e, pytest.mark.drill]


def test_a_short_fault_drill_loses_duplicates_and_bends_nothing(
    running_stack: Settings, erp: SimulatorControl, warehouse: Client
) -> None:
    assert poll(lambda: caught_up(erp, warehouse), INITIAL_LOAD_DEADLINE_SECONDS), "never caught up"
    drill = Drill(running_stack, erp, warehouse, seed=3)
    drill.live_traffic(orders_per_hour=10_000)
    drill.start_feed(records_per_second=200)
    drill.start_malformed(share=0.01)
    faults = [
        ("SIGKILL connector", drill.sigkill("connector")),
        ("SIGKILL flink-pipeline", drill.sigkill("flink-pipeline")),
        ("warehouse down 10 s", drill.warehouse_down(10.0)),
        ("a row ClickHouse refuses", drill.rejected_row),
    ]
    results = [drill.inject(name, fault) for name, fault in faults]
    assert all(r.recovered_s is not None for r in results), results
    report = drill.settle_and_audit(timeout=300.0)
    problems = [f"{a.stream}: lost {a.lost[:5]}, duplicated {a.duplicated[:5]}, wrong {a.wrong[:5]}"
                for a in report.audits if a.lost or a.duplicated or a.wrong]  # fmt: skip
    assert not problems, "\n".join(problems)
    assert all(a.erp_keys > 0 for a in report.audits), report.audits
    assert {a.stream for a in report.audits} >= {"fed stock", "fed outbound"}
    assert not report.serving_differ, report.serving_differ
    assert not report.screen_differ, report.screen_differ
    assert report.bad_injected >= 4  # one of each kind, then 1 % of the traffic
    assert report.bad_dead_lettered == report.bad_injected
    assert report.rejected_dead_lettered == report.rejected_injected == 1
