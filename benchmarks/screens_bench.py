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
3. 30 walls: the same users as screens on a wall, each reloading its screen every
   ``--interval`` seconds (30: the live screens' refresh) from a random moment within the
   first interval, for ``--wall-minutes``. Time until the screen's last chart answered.

By default it starts its own stack (nine days of ERP history, as the e2e suite) and waits
until the screens have data; ``--running`` measures the stack `erpbi up` started instead.

Usage: .cache/venvs/core/bin/python benchmarks/screens_bench.py [--running] [--users 30]
       [--rounds 5] [--loads 3] [--sections render,users,forced,walls]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from requests import Session
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

ROOT = Path(__file__).resolve().parent.parent

from common.settings import Settings, load_settings  # noqa: E402
from dashboards import wall_check  # noqa: E402
from dashboards.assets_spec import load_assets  # noqa: E402
from erpbi import stack  # noqa: E402
from erpbi.processes import wait_until  # noqa: E402
from testkit.support import exit_through_finally_on_sigterm, isolated_settings  # noqa: E402
from warehouse.client import connect  # noqa: E402

LOAD_SCREENS = ("inventory-overview", "promotion-live")  # screens 1 and 7
BROWSER_PARALLEL_REQUESTS = 6  # Chromium's connections per host over HTTP/1.1
SECTIONS = ("render", "users", "forced", "walls")


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


def load_once(client: Session, requests: list[dict[str, str]], force: bool) -> float:
    """A browser loading the screen: every chart request, 6 at a time; seconds until the last."""

    def send(request: dict[str, str]) -> None:
        url, body = request["url"], request["body"]
        if "json" in request.get("content_type", "") and body:
            payload = json.loads(body)
            payload["force"] = payload.get("force", False) or force
            body = json.dumps(payload)
        elif force:  # a legacy chart (the map) takes it in the URL
            url += ("&" if "?" in url else "?") + "force=true"
        headers = {"Content-Type": request["content_type"]} if request.get("content_type") else {}
        response = client.request(request["method"], url, data=body.encode() or None,
                                           headers=headers, timeout=120)  # fmt: skip
        response.raise_for_status()
        if "json" not in response.headers.get("Content-Type", ""):
            raise RuntimeError(f"not chart data from {url}: {response.text[:200]}")

    started = time.monotonic()
    with ThreadPoolExecutor(BROWSER_PARALLEL_REQUESTS) as pool:
        list(pool.map(send, requests))
    return time.monotonic() - started


def browser_session(settings: Settings) -> Session:
    """A user logged in through Superset's login form, as a browser is (a session cookie
    and its CSRF token): the legacy map endpoint takes no API token."""
    superset = settings.superset
    session = Session()
    page = session.get(f"{superset.url}/login/", timeout=30).text
    token = re.search(r'id="csrf_token"\s+value="([^"]+)"', page)
    if token is None:
        raise RuntimeError("Superset's login page has no CSRF token")
    form = {"username": superset.admin_user, "csrf_token": token.group(1),
            "password": superset.admin_password.get_secret_value()}  # fmt: skip
    session.post(f"{superset.url}/login/", data=form, timeout=30).raise_for_status()
    csrf = session.get(f"{superset.url}/api/v1/security/csrf_token/", timeout=30)
    csrf.raise_for_status()
    session.headers.update({"X-CSRFToken": csrf.json()["result"], "Referer": superset.url + "/"})
    # gunicorn closes an idle keep-alive connection after 2 s; a browser that sent on one
    # just as it closed sends again on a new one, and so does this user, once.
    once = Retry(total=1, connect=1, read=1, status=0, allowed_methods=None)
    session.mount("http://", HTTPAdapter(pool_maxsize=BROWSER_PARALLEL_REQUESTS, max_retries=once))
    return session


def logged_in_users(settings: Settings, users: int) -> list[Session]:
    return [browser_session(settings) for _ in range(users)]


def concurrent_users(settings: Settings, requests: list[dict[str, str]], users: int,
                     rounds: int, force: bool) -> list[list[float]]:  # fmt: skip
    """Seconds per load, by round: ``[round][user]``."""
    clients = logged_in_users(settings, users)

    def user(client: Session) -> list[float]:
        return [load_once(client, requests, force) for _ in range(rounds)]

    with ThreadPoolExecutor(users) as pool:
        by_user = list(pool.map(user, clients))
    return [list(loads) for loads in zip(*by_user, strict=True)]


def walls(settings: Settings, requests: list[dict[str, str]], users: int, interval: float,
          minutes: float) -> list[float]:  # fmt: skip
    """Screens on walls: each reloads every ``interval`` s from its own random start."""
    clients = logged_in_users(settings, users)
    started = time.monotonic()
    ends = started + minutes * 60
    offsets = random.Random(13).sample(range(int(interval * 1000)), users)

    def wall(client: Session, offset_ms: int) -> list[float]:
        times, due = [], started + offset_ms / 1000
        while due < ends:
            time.sleep(max(0.0, due - time.monotonic()))  # pacing: the wall's refresh timer
            times.append(load_once(client, requests, force=False))
            due += interval
        return times

    with ThreadPoolExecutor(users) as pool:
        return [t for times in pool.map(wall, clients, offsets) for t in times]


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
    parser.add_argument("--interval", type=float, default=30.0,
                        help="seconds between a wall's reloads (section 3)")  # fmt: skip
    parser.add_argument("--wall-minutes", type=float, default=2.0,
                        help="how long the walls run per screen (section 3)")  # fmt: skip
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help="what to measure, comma-separated: " + ",".join(SECTIONS))  # fmt: skip
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    if not sections or not sections <= set(SECTIONS):
        parser.error(f"--sections takes some of {', '.join(SECTIONS)}")
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
        renders = render_times(settings, args.loads) if "render" in sections else {}
        captured = captured_requests(settings) if sections - {"render"} else {}
        loads = {(slug, force): concurrent_users(settings, captured[slug], args.users,
                                                 args.rounds, force)
                 for slug in LOAD_SCREENS for force in (False, True)
                 if ("forced" if force else "users") in sections}  # fmt: skip
        on_walls = {slug: walls(settings, captured[slug], args.users, args.interval,
                                args.wall_minutes)
                    for slug in LOAD_SCREENS if "walls" in sections}  # fmt: skip
    finally:
        if own_stack:
            stack.down(settings, report=lambda line: None)
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}")
    if renders:
        print_render_times(renders)
    if loads:
        print_concurrent_users(loads, captured, args.users, args.rounds)
    if on_walls:
        print_walls(on_walls, args.users, args.interval, args.wall_minutes)
    return 0


def print_render_times(renders: dict[str, list[float]]) -> None:
    print("\n1. time until every chart of a screen has rendered, one Chromium (s)")
    print(f"{'screen':<22}{'first':>8}{'warm median':>13}")
    for slug, times in renders.items():
        warm = statistics.median(times[1:]) if len(times) > 1 else times[0]
        print(f"{slug:<22}{times[0]:>8.2f}{warm:>13.2f}")


def print_concurrent_users(loads: dict[tuple[str, bool], list[list[float]]],
                           captured: dict[str, list[dict[str, str]]], users: int,
                           rounds: int) -> None:  # fmt: skip
    print(f"\n2. {users} users x {rounds} loads, replaying the browser's chart-data "
          "requests: time until the screen's last chart answered (s)")  # fmt: skip
    print(f"{'screen':<22}{'requests':>9}{'mode':>10}{'p50':>8}{'p95':>8}{'max':>8}"
          f"{'round 1 p50':>13}{'round 1 max':>13}")  # fmt: skip
    for (slug, force), by_round in loads.items():
        mode = "forced" if force else "captured"
        times = [seconds for loads_of_round in by_round for seconds in loads_of_round]
        print(f"{slug:<22}{len(captured[slug]):>9}{mode:>10}{percentile(times, 0.5):>8.2f}"
              f"{percentile(times, 0.95):>8.2f}{max(times):>8.2f}"
              f"{percentile(by_round[0], 0.5):>13.2f}{max(by_round[0]):>13.2f}")  # fmt: skip


def print_walls(on_walls: dict[str, list[float]], users: int, interval: float,
                minutes: float) -> None:  # fmt: skip
    print(
        f"\n3. {users} walls reloading every {interval:.0f} s from random starts, "
        f"{minutes:g} min per screen: time until the last chart answered (s)"
    )
    print(f"{'screen':<22}{'loads':>9}{'p50':>8}{'p95':>8}{'max':>8}")
    for slug, times in on_walls.items():
        print(f"{slug:<22}{len(times):>9}{percentile(times, 0.5):>8.2f}"
              f"{percentile(times, 0.95):>8.2f}{max(times):>8.2f}")  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
