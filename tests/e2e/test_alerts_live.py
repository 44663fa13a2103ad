"""Stock alerts on the real stack: a SKU set to 0 in the ERP simulator reaches a Feishu card
(a strict local receiver: signed, fresh, rate-limited) through connector, Kafka, Flink, the
warehouse and `erpbi alerts run`; silences; 50 at once; a SIGKILL while a card waits.

The alert service here is its own process with its own state file, its robots pointed at
the receiver; the stack's `alerter` (no robot configured) runs beside it untouched.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from test_inventory_slice import poll

from common.settings import PROJECT_ROOT, Settings
from dashboards.alerting.rules import load_rules
from dashboards.alerting.store import AlertStore
from erp_simulator.control import SimulatorControl
from testkit.alert_process import AlertProcess
from testkit.chat_receivers import ChatReceivers

pytestmark = pytest.mark.e2e

CARD_SECONDS = 60.0  # the promise: a card within a minute of the ERP change
QUIET_EVALUATIONS = 3


@pytest.fixture(scope="module")
def alerter(running_stack: Settings, receivers: ChatReceivers,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertProcess]:  # fmt: skip
    state = tmp_path_factory.mktemp("alerts") / "alerts.sqlite"
    process = AlertProcess(running_stack, receivers, state, every_seconds=3.0)
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def positions(warehouse: Client, erp: SimulatorControl) -> Iterator[Callable[[int], list[Any]]]:
    """Sellable, stocked SKU x warehouse positions not used before in this module, each put
    back as the ERP had it when the module ends."""
    query = load_rules()["stock_out"].query
    rows = warehouse.query(
        f"SELECT sku_id, wms_co_id, category FROM ({query}) WHERE value > 5 "
        "ORDER BY sku_id DESC LIMIT 80"
    ).result_rows
    free = [(str(sku), int(wms), str(category)) for sku, wms, category in rows]
    originals: dict[tuple[str, int], dict[str, Any]] = {}

    def take(count: int) -> list[tuple[str, int, str]]:
        taken, free[:] = free[:count], free[count:]
        for sku, wms, _category in taken:
            row = next(r for r in erp.inventory(wms) if r["sku_id"] == sku)
            originals[(sku, wms)] = row
        return taken

    yield take
    for (sku, wms), row in originals.items():
        erp.set_inventory(sku, wms, qty=row["qty"], virtual_qty=row["virtual_qty"],
                          order_lock=row["order_lock"], lock_qty=row["lock_qty"])  # fmt: skip


def empty(erp: SimulatorControl, sku: str, wms: int) -> None:
    erp.set_inventory(sku, wms, qty=0, virtual_qty=0, order_lock=0, lock_qty=0)


def cards_since(receivers: ChatReceivers, start: int, *words: str) -> list[dict[str, Any]]:
    cards = [a.body for a in receivers.received["feishu"][start:]]
    return [c for c in cards if all(word in str(c["card"]) for word in words)]


def wait_evaluations(alerter: AlertProcess, count: int) -> None:
    """Until the service has evaluated every rule ``count`` more times."""
    for _ in range(count):
        seen = alerter.evaluations_seen()
        assert poll(lambda seen=seen: alerter.evaluations_seen() != seen, 60, interval=0.2)


def test_a_sku_running_out_is_one_feishu_card_within_60_s_and_one_when_restocked(
    alerter: AlertProcess, receivers: ChatReceivers, erp: SimulatorControl,
    warehouse: Client, positions: Callable[[int], list[Any]],
) -> None:  # fmt: skip
    ((sku, wms, _category),) = positions(1)
    start = len(receivers.received["feishu"])
    changed = time.monotonic()
    empty(erp, sku, wms)
    assert poll(lambda: cards_since(receivers, start, sku), CARD_SECONDS, interval=0.2), (
        f"no Feishu card named {sku} within {CARD_SECONDS:.0f} s"
    )
    print(f"ERP change -> Feishu card: {time.monotonic() - changed:.1f} s")
    (card,) = cards_since(receivers, start, sku)
    assert card["card"]["header"]["template"] == "red"
    assert "/superset/dashboard/inventory-alert/" in str(card["card"])
    wait_evaluations(alerter, QUIET_EVALUATIONS)
    assert len(cards_since(receivers, start, sku)) == 1, "a still-empty SKU was sent again"

    erp.set_inventory(sku, wms, qty=500)
    assert poll(lambda: cards_since(receivers, start, sku, "已恢复"), CARD_SECONDS, interval=0.2)
    wait_evaluations(alerter, QUIET_EVALUATIONS)
    assert len(cards_since(receivers, start, sku)) == 2

    def recorded() -> list[tuple[str, str]]:  # the stack's own alerter records not_configured
        return [tuple(row) for row in warehouse.query(
            "SELECT state, result FROM alert_notifications WHERE rule = 'stock_out' "
            "AND startsWith(item, {sku:String}) AND result != 'not_configured' "
            "ORDER BY event_time", parameters={"sku": f"{sku}|"}).result_rows]  # fmt: skip

    assert poll(lambda: len(recorded()) >= 2, 30), recorded()
    assert recorded() == [("firing", "delivered"), ("resolved", "delivered")]


def alerts_cli(alerter: AlertProcess, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "erpbi", "alerts", *args],
                          env=alerter.environment, cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_a_silence_holds_the_card_and_its_end_lets_it_through_once(
    alerter: AlertProcess, receivers: ChatReceivers, erp: SimulatorControl,
    positions: Callable[[int], list[Any]],
) -> None:  # fmt: skip
    ((sku, wms, _category),) = positions(1)
    start = len(receivers.received["feishu"])
    out = alerts_cli(alerter, "silence", "stock_out", "--match", f"sku_id={sku}", "--for", "25s",
                     "--comment", "补货在途")  # fmt: skip
    assert sku in alerts_cli(alerter, "silences") and "补货在途" in out + alerts_cli(
        alerter, "silences"
    )
    empty(erp, sku, wms)
    store = AlertStore(alerter.settings.alerts.state_file or Path())
    assert poll(lambda: any(key.startswith(f"{sku}|") and state.phase == "firing"
                            for key, state in store.states("stock_out").items()),
                CARD_SECONDS, interval=0.5), "the silenced SKU never fired"  # fmt: skip
    assert cards_since(receivers, start, sku) == []
    assert poll(lambda: cards_since(receivers, start, sku), 60, interval=0.5), (
        "the silence ended and the still-firing SKU was not sent"
    )
    wait_evaluations(alerter, QUIET_EVALUATIONS)
    assert len(cards_since(receivers, start, sku)) == 1


def test_fifty_skus_out_at_once_arrive_grouped_within_the_rate_limit_none_lost(
    alerter: AlertProcess, receivers: ChatReceivers, erp: SimulatorControl,
    positions: Callable[[int], list[Any]],
) -> None:  # fmt: skip
    taken = positions(50)
    start = len(receivers.received["feishu"])
    refused_before = len(receivers.refused["feishu"])
    for sku, wms, _category in taken:
        empty(erp, sku, wms)

    def all_named() -> bool:
        text = " ".join(str(c["card"]) for c in cards_since(receivers, start))
        return all(sku in text for sku, _, _ in taken)

    assert poll(all_named, 2 * CARD_SECONDS, interval=0.5), "some of the 50 SKUs never arrived"
    cards = cards_since(receivers, start)
    # One card per category owner and evaluation (the 50 land over a few evaluations).
    named = [sum(sku in str(card["card"]) for sku, _, _ in taken) for card in cards]
    assert len(cards) <= 25 and max(named) >= 5, f"{len(cards)} cards for 50 SKUs: {named}"
    assert receivers.refused["feishu"][refused_before:] == []  # never over Feishu's limit


def test_a_sigkill_while_a_card_waits_neither_loses_nor_repeats_it(
    alerter: AlertProcess, receivers: ChatReceivers, erp: SimulatorControl,
    positions: Callable[[int], list[Any]],
) -> None:  # fmt: skip
    ((sku, wms, _category),) = positions(1)
    store = AlertStore(alerter.settings.alerts.state_file or Path())
    wait_evaluations(alerter, 1)
    start = len(receivers.received["feishu"])
    receivers.fail_next("feishu", 100_000, "500")  # Feishu is down: the card waits
    try:
        empty(erp, sku, wms)
        assert poll(lambda: any(sku in str(m.notification.firing) for m in store.outbox()),
                    CARD_SECONDS, interval=0.2), "the card never reached the outbox"  # fmt: skip
        alerter.stop(signal.SIGKILL)
    finally:
        receivers._faults["feishu"].clear()  # Feishu is back
    alerter.start()
    assert poll(lambda: cards_since(receivers, start, sku), CARD_SECONDS, interval=0.5), (
        "the waiting card was lost in the restart"
    )
    wait_evaluations(alerter, QUIET_EVALUATIONS)
    assert len(cards_since(receivers, start, sku)) == 1
    # Other rules may fire meanwhile (a quiet ERP trips data_freshness); of the stock
    # alerts, only the waiting one went out: the restart sent nothing again.
    assert len(cards_since(receivers, start, "库存售罄")) == 1, (
        "the restart sent earlier alerts again"
    )
