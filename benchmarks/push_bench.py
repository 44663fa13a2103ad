"""The morning push's time: render (Chromium, checked), content (KPIs, explain-change,
analyses), send (DingTalk with its picture, to a strict local receiver). Prints a table.

    .cache/venvs/core/bin/python benchmarks/push_bench.py [--running] [--runs 3]

On the stack `erpbi up` started (``--running``) or one started here (3 days of history).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent

from alerts_bench import measured_stack  # noqa: E402

from common.settings import Settings  # noqa: E402
from dashboards.pushes.content import build  # noqa: E402
from dashboards.pushes.render import render  # noqa: E402
from dashboards.pushes.runner import compose, deliver, warehouse_login  # noqa: E402
from dashboards.pushes.schedule import serve_pictures  # noqa: E402
from dashboards.pushes.spec import load_pushes  # noqa: E402
from testkit.chat_receivers import ChatReceivers  # noqa: E402
from testkit.support import exit_through_finally_on_sigterm, free_port  # noqa: E402


def measure(settings: Settings, runs: int) -> dict[str, list[float]]:
    push = load_pushes()["morning_report"]
    day = datetime.now(ZoneInfo("Asia/Shanghai")).date() - timedelta(days=1)
    times: dict[str, list[float]] = {"render": [], "content": [], "send": [], "total": []}
    with ChatReceivers() as receivers, tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        settings = settings.model_copy(update={
            "alerts": settings.alerts.model_copy(update={
                "dingtalk": receivers.settings().dingtalk}),
            "push": settings.push.model_copy(update={
                "image_port": port, "image_base_url": f"http://127.0.0.1:{port}/",
                "image_dir": Path(tmp)})})  # fmt: skip
        server = serve_pictures(settings)
        try:
            for _ in range(runs):
                started = time.monotonic()
                report = render(settings, push)
                rendered = time.monotonic()
                client = warehouse_login(settings, push)
                try:
                    content = build(client, day, push.analyses)
                finally:
                    client.close()
                built = time.monotonic()
                bodies = compose(settings, push, day, content, report.png)
                results = {c: deliver(settings, c, b, {}) for c, b in bodies.items()}
                sent = time.monotonic()
                if set(results.values()) != {"delivered"}:
                    raise SystemExit(f"not delivered: {results}")
                times["render"].append(rendered - started)
                times["content"].append(built - rendered)
                times["send"].append(sent - built)
                times["total"].append(sent - started)
        finally:
            server.shutdown()
            server.server_close()
        if not all(p and p.startswith(b"\x89PNG") for p in receivers.pictures["dingtalk"]):
            raise SystemExit("DingTalk could not fetch a picture")
    return times


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--running",
        action="store_true",
        help="measure the stack `erpbi up` started (default: start one)",
    )
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    exit_through_finally_on_sigterm()
    with measured_stack(args.running) as settings:
        times = measure(settings, args.runs)
    print(f"\nmorning_report push, {args.runs} runs ({platform.machine()}, {os.cpu_count()} cores)")
    print(f"{'step':<10}{'median':>9}{'max':>9}")
    for step, values in times.items():
        print(f"{step:<10}{statistics.median(values):>8.1f}s{max(values):>8.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
