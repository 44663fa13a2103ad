"""Big screens under load. Prints two tables.

1. Render time: each screen opened in one real headless Chromium (1920x1080, wall mode),
   time from navigation until every chart has drawn; ``--loads`` loads per screen, the
   first cold (Superset's result cache empty), the rest warm.
2. 30 users: the chart-data requests the browser sent for screens 1 and 7 (captured from
   its network log while it loaded them) replayed by ``--users`` concurrent users, each
   with its own login, each loading the screen ``--rounds`` times like a browser does
   (all of a screen's requests at once, at most 6 in flight per user). Time until the
   screen's last chart answered, p50/p95, twice: as captured (``force: false``, Superset's
   10 s result cache shared by the walls) and forced (every request runs in the warehouse).

By default it starts its own stack (nine days of ERP history, as the e2e suite) and waits
until the screens have data; ``--running`` measures the stack `erpbi up` started instead.

Usage: .cache/venvs/core/bin/python benchmarks/screens_bench.py [--running] [--users 30]
       [--rounds 5] [--loads 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "tests"))  # for tests/support.py

from support import exit_through_finally_on_sigterm, isolated_settings  # noqa: E402

from common.settings import Settings, load_settings  # noqa: E402
from dashboards import wall_check  # noqa: E402
from dashboards.assets_spec import load_assets  # noqa: E402
from dashboards.superset_client import SupersetClient  # noqa: E402
from erpbi import stack  # noqa: E402
from erpbi.processes import wait_until  # noqa: E402
from warehouse.client import connect  # noqa: E402

LOAD_SCREENS = ("inventory-overview", "promotion-live")  # screens 1 and 7
BROWSER_PARALLEL_REQUESTS = 6  # Chromium's connections per host over HTTP/1.1


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def screens_have_data(settings: Settings) -> bool:
    client = connect(settings.clickhouse)
    try:
        row = client.query(
            "SELECT (SELECT count() FROM metric_outbound_daily "
            "        WHERE day = toDate(now(), 'Asia/Shanghai')) > 0, "
            "(SELECT count() FROM metric_inventory_warehouse) > 0, "
            "(SELECT count() FROM metric_outbound_forecast) = 24"
        ).result_rows[0]
        return all(row)
    finally:
        client.close()


def render_times(settings: Settings, loads: int) -> dict[str, list[float]]:
    superset = settings.superset
    times: dict[str, list[float]] = {}
    with wall_check.headless_chromium() as driver:
        wall_check.log_in(driver, superset.url, superset.admin_user,
                          superset.admin_password.get_secret_value())  # fmt: skip
        for board in load_assets().dashboards:
            times[board.slug] = [
                wall_check.open_screen(
                    driver, superset.url, board.slug, len(board.charts)
                ).seconds_to_render  # fmt: skip
                for _ in range(loads)
            ]
    return times


def captured_requests(settings: Settings) -> dict[str, list[dict[str, str]]]:
    superset = settings.superset
    captured = {}
    boards = {board.slug: board for board in load_assets().dashboards}
    with wall_check.headless_chromium(capture_network=True) as driver:
        wall_check.log_in(driver, superset.url, superset.admin_user,
                          superset.admin_password.get_secret_value())  # fmt: skip
        for slug in LOAD_SCREENS:
            wall_check.chart_data_requests(driver)  # forget what came before
            wall_check.open_screen(driver, superset.url, slug, len(boards[slug].charts))
            captured[slug] = wall_check.chart_data_requests(driver)
    return captured


def load_once(client: SupersetClient, requests: list[dict[str, str]], force: bool) -> float:
    """A browser loading the screen: every chart request, 6 at a time; seconds until the last."""

    def send(request: dict[str, str]) -> None:
        body = json.loads(request["body"]) if request["body"] else None
        if body is not None and force:
            body["force"] = True
        response = client.session.request(request["method"], request["url"], json=body,
                                           timeout=120)  # fmt: skip
        response.raise_for_status()

    started = time.monotonic()
    with ThreadPoolExecutor(BROWSER_PARALLEL_REQUESTS) as pool:
        list(pool.map(send, requests))
    return time.monotonic() - started


def concurrent_users(settings: Settings, requests: list[dict[str, str]], users: int,
                     rounds: int, force: bool) -> list[float]:  # fmt: skip
    clients = [SupersetClient.login(settings.superset) for _ in range(users)]

    def user(client: SupersetClient) -> list[float]:
        return [load_once(client, requests, force) for _ in range(rounds)]

    with ThreadPoolExecutor(users) as pool:
        return [seconds for times in pool.map(user, clients) for seconds in times]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--running",
        action="store_true",
        help="measure the stack `erpbi up` started (default: start one)",
    )
    parser.add_argument("--users", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--loads", type=int, default=3)
    args = parser.parse_args()
    exit_through_finally_on_sigterm()
    own_stack = not args.running
    if own_stack:
        run_dir = Path(tempfile.mkdtemp(prefix="screens-bench-")) / "run"
        history = {"sku_count": 1000, "warehouse_count": 2, "backfill_days": 9,
                   "orders_per_hour": 13}  # fmt: skip
        settings = isolated_settings(run_dir, simulator=history)
        print(f"starting a stack in {run_dir} ...", flush=True)
        stack.up(settings, report=lambda line: None)
    else:
        settings = load_settings()
    try:
        print("waiting until the screens have data ...", flush=True)
        if not wait_until(lambda: screens_have_data(settings), timeout=900, interval=2.0):
            print("the screens never had data within 15 minutes", file=sys.stderr)
            return 1
        renders = render_times(settings, args.loads)
        captured = captured_requests(settings)
        loads = {(slug, force): concurrent_users(settings, captured[slug], args.users,
                                                 args.rounds, force)
                 for slug in LOAD_SCREENS for force in (False, True)}  # fmt: skip
    finally:
        if own_stack:
            stack.down(settings, report=lambda line: None)
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}")
    print("\n1. time until every chart of a screen has rendered, one Chromium (s)")
    print(f"{'screen':<22}{'first':>8}{'warm median':>13}")
    for slug, times in renders.items():
        warm = statistics.median(times[1:]) if len(times) > 1 else times[0]
        print(f"{slug:<22}{times[0]:>8.2f}{warm:>13.2f}")
    print(f"\n2. {args.users} users x {args.rounds} loads, replaying the browser's chart-data "
          "requests: time until the screen's last chart answered (s)")  # fmt: skip
    print(f"{'screen':<22}{'requests':>9}{'mode':>10}{'p50':>8}{'p95':>8}{'max':>8}")
    for (slug, force), times in loads.items():
        mode = "forced" if force else "captured"
        print(f"{slug:<22}{len(captured[slug]):>9}{mode:>10}{percentile(times, 0.5):>8.2f}"
              f"{percentile(times, 0.95):>8.2f}{max(times):>8.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
