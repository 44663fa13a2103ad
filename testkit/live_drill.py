"""A backfill and the live sync together on one app key, under the simulator's enforced
quota (5/s, 100/min): the drill behind tests/backfill/test_backfill_with_live.py (short)
and benchmarks/backfill_live_drill.py (10 minutes).

The live sync follows every stream; once it has caught up, a backfill re-pulls past
outbound days on its background share while one new order a few seconds is placed in the
ERP. Measured: the ERP's quota refusals (199/200), each new order's time from placement
to the live sync's produced record, and what the backfill did. Both sides produce to
in-memory producers: the quota, not Kafka, is what they share.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from backfill.days import Day
from backfill.repull import DayRepull, Totals
from common.settings import Settings, SimulatorSettings, load_settings
from connectors.cli import build_connectors, build_source, run_sync
from connectors.errors import SyncStoppedError
from connectors.jushuitan.quota import QuotaBudget
from connectors.kafka_producer import InMemoryProducer
from connectors.models import BEIJING
from connectors.registry import STREAMS
from connectors.state import CursorStore
from connectors.tscursor import TsCursorConnector
from erp_simulator import RunningSimulator, SimulatorControl, start_simulator
from erp_simulator.engine import TrafficSettings
from erp_simulator.gateway import SimulatorConfig

QUOTA_CODES = ("199", "200")


@dataclass
class DrillResult:
    seconds: float
    quota_errors: int
    lags: list[float] = field(default_factory=list)  # order placed -> live record produced
    unseen: int = 0  # orders the live sync had not produced when the drill ended
    backfill: Totals = field(default_factory=Totals)
    live_calls: int = 0
    backfill_calls_per_minute: float = 0.0
    live_calls_per_minute: float = 0.0

    def lag(self, quantile: float) -> float:
        if not self.lags:
            return float("nan")
        if quantile >= 1.0:
            return max(self.lags)
        return statistics.quantiles(self.lags, n=100, method="inclusive")[int(quantile * 100) - 1]


def outbound_ids(producer: InMemoryProducer, start: int) -> tuple[set[str], int]:
    records = producer.records[start:]
    found = {str(r.value_json().get("io_id")) for r in records if r.topic.endswith(".outbound")}
    return found, start + len(records)


def run_drill(
    seconds: float,
    *,
    orders_per_hour: float = 60.0,
    backfill_days: int = 2,
    order_every_seconds: float = 5.0,
    caught_up_timeout: float = 600.0,
    with_backfill: bool = True,
) -> DrillResult:
    sim = start_simulator(
        SimulatorSettings(seed=7, sku_count=200, warehouse_count=2, enforce_quota=True),
        port=0, config=SimulatorConfig(enforce_quota=True),
        traffic=TrafficSettings(orders_per_hour=orders_per_hour, backfill_days=backfill_days + 1.0,
                                follow_curve=False),
    )  # fmt: skip
    control = SimulatorControl(sim.url)
    stop = threading.Event()
    with tempfile.TemporaryDirectory() as tmp:
        base = load_settings()
        settings = base.model_copy(update={
            "jushuitan": sim.jushuitan_settings(page_size=50, quota_ledger_dir=Path(tmp) / "quota"),
            "paths": base.paths.model_copy(update={"run_dir": Path(tmp) / "run"}),
        })  # fmt: skip
        live_producer = InMemoryProducer()
        live_budget = QuotaBudget.from_settings(settings.jushuitan)
        live_source = build_source(settings, Path(tmp) / "live", budget=live_budget)
        live = threading.Thread(
            target=run_sync, args=(settings, list(STREAMS), True, stop),
            kwargs={"producer": live_producer, "source": live_source}, daemon=True,
        )  # fmt: skip
        live.start()
        try:
            return _drill(Drill(sim, control, settings, live_producer, live_budget, stop,
                                Path(tmp)), seconds, backfill_days, order_every_seconds,
                          caught_up_timeout, with_backfill)  # fmt: skip
        finally:
            stop.set()
            live.join(60)
            control.close()
            sim.stop()


@dataclass
class Drill:
    sim: RunningSimulator
    control: SimulatorControl
    settings: Settings
    live_producer: InMemoryProducer
    live_budget: QuotaBudget
    stop: threading.Event
    tmp: Path


def _drill(
    drill: Drill,
    seconds: float,
    backfill_days: int,
    order_every_seconds: float,
    caught_up_timeout: float,
    with_backfill: bool,
) -> DrillResult:
    sim, control, settings, stop, tmp = (
        drill.sim,
        drill.control,
        drill.settings,
        drill.stop,
        drill.tmp,
    )
    live_producer = drill.live_producer
    expected = {str(row["io_id"]) for row in control.outbound()}
    seen: set[str] = set()
    position = 0
    deadline = time.monotonic() + caught_up_timeout
    while not expected <= seen:  # the live sync's first load
        assert time.monotonic() < deadline, "the live sync never caught up"
        found, position = outbound_ids(live_producer, position)
        seen |= found
        stop.wait(0.5)
    budget = QuotaBudget.from_settings(
        settings.jushuitan, background_share=settings.backfill.share_per_minute
    )
    source = build_source(settings, tmp / "backfill-state", budget=budget)
    store = CursorStore(tmp / "backfill")
    backfill_stop = threading.Event()
    [connector] = build_connectors(settings, ["outbound"], source=source,
                                   producer=InMemoryProducer(), store=store,
                                   stop_event=backfill_stop)  # fmt: skip
    assert isinstance(connector, TsCursorConnector)
    today = datetime.now(BEIJING).date()
    days = [Day(today - timedelta(days=n)) for n in range(backfill_days, 0, -1)]
    result = DrillResult(seconds=seconds, quota_errors=0)

    def backfill() -> None:
        try:
            while not backfill_stop.is_set():  # the days again and again, the whole drill
                DayRepull(connector, store, stop_event=backfill_stop).run(days, result.backfill)
                store.save("outbound", {})
        except SyncStoppedError:  # stopped while waiting for a slot: the drill is over
            pass

    before = dict(sim.gateway.state()["replies_by_code"])
    live_before = drill.live_budget.total_calls
    worker = threading.Thread(target=backfill, daemon=True)
    started = time.monotonic()
    if with_backfill:
        worker.start()
    placed: dict[str, float] = {}
    next_order = started
    while (now := time.monotonic()) < started + seconds:
        if now >= next_order:
            for io_id in control.generate_orders(1)["io_ids"]:
                placed[str(io_id)] = time.monotonic()
            next_order += order_every_seconds
        found, position = outbound_ids(live_producer, position)
        for io_id in found & set(placed):
            if io_id not in seen:
                result.lags.append(time.monotonic() - placed[io_id])
        seen |= found
        stop.wait(0.2)
    backfill_stop.set()
    budget.interrupt()
    if with_backfill:
        worker.join(60)
    elapsed = time.monotonic() - started
    after = dict(sim.gateway.state()["replies_by_code"])
    result.quota_errors = sum(after.get(c, 0) - before.get(c, 0) for c in QUOTA_CODES)
    result.unseen = len(set(placed) - seen)
    result.backfill_calls_per_minute = result.backfill.calls / elapsed * 60
    result.live_calls = drill.live_budget.total_calls - live_before
    result.live_calls_per_minute = result.live_calls / elapsed * 60
    return result
