"""The push service's /metrics: each run counted by push and result while the service runs,
and a taken port costs the metrics, never the pushes."""

from __future__ import annotations

import logging
import socket
import threading
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from dashboards.pushes.metrics import result_label
from dashboards.pushes.schedule import Ledger, PushScheduler, ledger_file
from dashboards.pushes.spec import PushSpec
from testkit.support import isolated_settings

pytestmark = pytest.mark.unit

PUSH = PushSpec(name="metrics_morning", title="早报", screen="outbound-trend",
                schedule="30 8 * * *")  # fmt: skip
DUE = datetime(2026, 12, 3, 8, 31, tzinfo=ZoneInfo("Asia/Shanghai"))  # a minute after 08:30


def runs(push: str, result: str) -> float:
    value = REGISTRY.get_sample_value("erpbi_push_runs_total", {"push": push, "result": result})
    return value or 0.0


@pytest.mark.parametrize(
    "result, label",
    [
        ("sent: feishu delivered, dingtalk delivered", "sent"),
        ("failed: feishu failed: 9499 bad token", "failed"),
        ("failed: RuntimeError: superset down", "failed"),
        ("sent", "sent"),
        ("delivered somewhere", "other"),
    ],
)
def test_a_run_s_result_is_one_of_a_few_labels(result: str, label: str) -> None:
    assert result_label(result) == label


def test_each_run_moves_the_counter_of_its_push_and_result(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path / "run")
    pushes = {"a": PUSH.model_copy(update={"name": "metrics_a"}),
              "b": PUSH.model_copy(update={"name": "metrics_b"})}  # fmt: skip

    def send(push: PushSpec, _fire: datetime) -> str:
        if push.name == "metrics_b":
            raise RuntimeError("superset down")
        return "sent: feishu delivered"

    before = {(p, r): runs(p, r) for p in ("metrics_a", "metrics_b") for r in ("sent", "failed")}
    service = PushScheduler(settings, pushes, Ledger(tmp_path / "push.sqlite"), send,
                            lambda: DUE)  # fmt: skip
    assert len(service.tick()) == 2
    assert service.tick() == []  # claimed: not sent, not counted again
    moved = {key: runs(*key) - value for key, value in before.items()}
    assert moved == {("metrics_a", "sent"): 1, ("metrics_a", "failed"): 0,
                     ("metrics_b", "sent"): 0, ("metrics_b", "failed"): 1}  # fmt: skip


def scrape(port: int, deadline: float) -> str:
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as page:
                return str(page.read().decode())
        except OSError:
            assert time.monotonic() < deadline, "no /metrics on the pusher port"
            time.sleep(0.05)


def push_runs(page: str) -> dict[tuple[str, str, str], float]:
    return {
        (sample.name, sample.labels["push"], sample.labels["result"]): sample.value
        for family in text_string_to_metric_families(page)
        if family.name == "erpbi_push_runs"
        for sample in family.samples
        if sample.name == "erpbi_push_runs_total"
    }


def test_the_running_service_serves_its_runs_on_the_pusher_port(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path / "run")
    idle = PUSH.model_copy(update={"name": "metrics_idle", "schedule": "0 3 * * *"})
    service = PushScheduler(settings, {"morning": PUSH, "idle": idle},
                            Ledger(ledger_file(settings)), lambda _push, _fire: "sent: ok",
                            lambda: DUE)  # fmt: skip
    stop = threading.Event()
    thread = threading.Thread(target=service.run, args=(stop,))
    thread.start()
    deadline = time.monotonic() + 10
    try:
        while True:  # the server comes up before the first tick has sent the morning push
            found = push_runs(scrape(settings.monitoring.pusher_port, deadline))
            if found.get(("erpbi_push_runs_total", "metrics_morning", "sent"), 0) >= 1:
                break
            assert time.monotonic() < deadline, f"the due push was never counted: {found}"
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(10)
    assert found[("erpbi_push_runs_total", "metrics_idle", "sent")] == 0  # there before it runs
    assert found[("erpbi_push_runs_total", "metrics_idle", "failed")] == 0
    with pytest.raises(OSError):  # stopped with the service
        urllib.request.urlopen(f"http://127.0.0.1:{settings.monitoring.pusher_port}/metrics",
                               timeout=2)  # fmt: skip


def test_a_taken_port_is_logged_and_the_pushes_go_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = isolated_settings(tmp_path / "run")
    port = settings.monitoring.pusher_port
    sent: list[datetime] = []
    stop = threading.Event()

    def send(_push: PushSpec, fire: datetime) -> str:
        sent.append(fire)
        stop.set()
        return "sent: ok"

    service = PushScheduler(settings, {"morning": PUSH}, Ledger(ledger_file(settings)), send,
                            lambda: DUE)  # fmt: skip
    with socket.socket() as squatter, caplog.at_level(logging.ERROR):
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        service.run(stop)
    assert sent == [DUE.replace(minute=30)]
    assert f"127.0.0.1:{port} is taken" in caplog.text
