"""Scans take turns; small statements never wait behind them.

What the operator and the wall screens feel: with 30 dashboards scanning at once, the scans
run a core's worth at a time, in order, instead of all sharing two cores (so none takes
16 times longer); a health check or a small lookup starts at once whatever runs; and
someone exploring a large table never holds every lane.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from clickhouse_targets import Target

from warehouse.server import WarehouseServer
from warehouse.server.heavy_statements import LONG_SECONDS, SCAN_ROWS, HeavyStatements, Weight

SCAN, FEW = SCAN_ROWS * 10, 10


def run_once(gate: HeavyStatements, key: str, read_rows: int, seconds: float = 0.1) -> None:
    with gate.turn(key) as cost:
        cost.read_rows, cost.seconds = read_rows, seconds


def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "condition not reached within 10 s"
        time.sleep(0.001)


class Holder(threading.Thread):
    """Runs `key` through the gate and stays inside until released."""

    def __init__(self, gate: HeavyStatements, key: str) -> None:
        super().__init__(daemon=True)
        self.gate, self.key = gate, key
        self.entered, self.release = threading.Event(), threading.Event()

    def run(self) -> None:
        with self.gate.turn(self.key) as cost:
            self.entered.set()
            self.release.wait(10)
            cost.read_rows, cost.seconds = SCAN, 0.1


def holding(gate: HeavyStatements, key: str) -> Holder:
    holder = Holder(gate, key)
    holder.start()
    return holder


def test_a_statement_weighs_what_it_read_last_time() -> None:
    gate = HeavyStatements(slots=2)
    assert gate.weight("scan") is Weight.LIGHT  # never seen: starts at once
    run_once(gate, "scan", SCAN, 0.1)
    run_once(gate, "explore", SCAN, LONG_SECONDS * 3)
    run_once(gate, "sleep", FEW, 3.0)  # sleep(3): long, but it loads nothing
    assert [gate.weight(key) for key in ("scan", "explore", "sleep")] == [
        Weight.SCAN, Weight.LONG_SCAN, Weight.LIGHT,
    ]  # fmt: skip
    run_once(gate, "scan", FEW)  # the data shrank: light again
    assert gate.weight("scan") is Weight.LIGHT


def test_scans_take_turns_in_order_and_light_statements_pass() -> None:
    gate = HeavyStatements(slots=1)
    run_once(gate, "scan", SCAN)
    first = holding(gate, "scan")
    assert first.entered.wait(10)
    second = holding(gate, "scan")
    until(lambda: gate.waiting() == 1)
    third = holding(gate, "scan")
    until(lambda: gate.waiting() == 2)
    run_once(gate, "SELECT 1", FEW)  # passes while the scan lane is taken
    assert not second.entered.is_set() and not third.entered.is_set()
    first.release.set()
    assert second.entered.wait(10)
    assert not third.entered.is_set()  # first come, first served
    second.release.set()
    assert third.entered.wait(10)
    third.release.set()
    for holder in (first, second, third):
        holder.join(10)
    assert gate.running() == 0


def test_explorers_never_take_every_lane() -> None:
    gate = HeavyStatements(slots=2)
    run_once(gate, "explore", SCAN, LONG_SECONDS * 3)
    run_once(gate, "screen", SCAN)
    explorer = holding(gate, "explore")
    assert explorer.entered.wait(10)
    second_explorer = holding(gate, "explore")
    until(lambda: gate.waiting() == 1)
    screen = holding(gate, "screen")
    assert screen.entered.wait(10)  # the second lane serves the screen
    assert not second_explorer.entered.is_set()
    for holder in (explorer, second_explorer, screen):
        holder.release.set()
    for holder in (explorer, second_explorer, screen):
        holder.join(10)
    assert gate.running() == 0


def test_a_failed_run_keeps_what_the_last_good_run_said() -> None:
    gate = HeavyStatements(slots=1)
    run_once(gate, "scan", SCAN)
    with pytest.raises(RuntimeError), gate.turn("scan"):
        raise RuntimeError("cancelled by the client")
    assert gate.weight("scan") is Weight.SCAN


@pytest.mark.integration
@pytest.mark.parametrize("target", ["chdb"], indirect=True)
def test_the_server_learns_which_reads_scan(target: Target, chdb_server: WarehouseServer) -> None:
    scan = "SELECT sum(cityHash64(number)) FROM numbers(1000000)"
    for sql in (scan, "SELECT 1", "SELECT sleep(0.1)"):
        target.sql(sql)
    database = chdb_server.config.database
    weights = [chdb_server.engine.heavy.weight((database, sql))
               for sql in (scan, "SELECT 1", "SELECT sleep(0.1)")]  # fmt: skip
    assert weights == [Weight.SCAN, Weight.LIGHT, Weight.LIGHT]
