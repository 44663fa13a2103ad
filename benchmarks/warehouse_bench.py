"""Warehouse benchmark: 10 M outbound item rows, 1 M after-sale rows, 30,000 SKUs. Prints tables.

1. Generates the data inside the engine (INSERT ... SELECT FROM numbers()) on the
   single-machine server: 3.4 M outbound documents with 10 M items over 365 days, 1 M
   after-sale documents with 1 M items, 30,000 SKUs x 4 warehouses of inventory, shops.
   Also measures inserts the way the Flink sink sends them (HTTP, JSONEachRow batches).
2. Refreshes the DWS serving tables (what the refreshable views do every 10-30 s) and
   reports how long each refresh takes.
3. Runs every dashboard query (the metric views, as the screens query them) with 1 client
   and with 30 concurrent clients, and prints p50/p99 per query: first with scheduled
   refreshes held and every query run in the engine, then with the query-cache settings
   Superset's connection sends (clickhouse.dashboard_cache_seconds), then the same again
   for 130 s with the scheduled refreshes running (each one on a schedule of a minute
   or less runs at least twice; the hourly `_history` rebuilds do not).
4. Measures small queries beside slow ones: p50/p99 of `SELECT 1` while two 3-second
   queries run, and the wall time of 10 parallel `SELECT sleep(0.1)`.
5. Prints the disk footprint per table.

Usage: .cache/venvs/core/bin/python benchmarks/warehouse_bench.py [--items 10000000]
       [--refunds 1000000] [--skus 30000] [--rounds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from common.settings import ClickHouseSettings, Settings  # noqa: E402
from erpbi import stack  # noqa: E402
from testkit.support import exit_through_finally_on_sigterm, isolated_settings  # noqa: E402
from warehouse import serving  # noqa: E402
from warehouse.client import connect  # noqa: E402

START = "toDateTime('{start}', 'Asia/Shanghai')"
SHOPS = 12

# What the eight screens ask, through the metric views (no FINAL anywhere).
DASHBOARD_QUERIES = {
    "inventory by warehouse": "SELECT * FROM metric_inventory_warehouse",
    "inventory overview": "SELECT * FROM metric_inventory_overview",
    "stock warnings (top 50 cover)": "SELECT * FROM metric_inventory_sku "
        "WHERE inventory_days_of_cover IS NOT NULL ORDER BY inventory_days_of_cover LIMIT 50",
    "hourly curve yesterday+today": "SELECT hour, sum(outbound_hourly_amount) FROM "
        "metric_outbound_hourly WHERE hour >= toStartOfDay(now('Asia/Shanghai')) - INTERVAL 1 DAY "
        "GROUP BY hour ORDER BY hour",
    "24 h forecast": "SELECT * FROM metric_outbound_forecast ORDER BY hour_of_day",
    "shop ranking 7 days": "SELECT shop_name, sum(outbound_amount) AS amount FROM "
        "metric_outbound_daily WHERE day > toDate(now(), 'Asia/Shanghai') - 7 "
        "GROUP BY shop_name ORDER BY amount DESC",
    "outbound KPIs today": "SELECT sum(outbound_documents), sum(outbound_orders), "
        "sum(outbound_amount) FROM metric_outbound_daily "
        "WHERE day = toDate(now(), 'Asia/Shanghai')",
    "trend 30 days": "SELECT * FROM metric_outbound_trend WHERE day > "
        "toDate(now(), 'Asia/Shanghai') - 30 ORDER BY day",
    "top 10 SKUs today": "SELECT sku_name, outbound_sku_amount FROM metric_outbound_sku_daily "
        "WHERE day = toDate(now(), 'Asia/Shanghai') ORDER BY outbound_sku_rank LIMIT 10",
    "after-sale TOP10 SKU rate 7 d": "SELECT sku_id, avg(aftersale_sku_rate) FROM "
        "metric_aftersale_sku_daily WHERE day > toDate(now(), 'Asia/Shanghai') - 7 "
        "GROUP BY sku_id ORDER BY 2 DESC LIMIT 10",
    "after-sale by shop 7 d": "SELECT shop_id, avg(aftersale_rate), "
        "avg(aftersale_refund_amount_rate) "
        "FROM metric_aftersale_rate_daily WHERE day > toDate(now(), 'Asia/Shanghai') - 7 "
        "GROUP BY shop_id",
    "finance 30 days": "SELECT day, sum(finance_gmv), sum(finance_platform_fee), "
        "sum(finance_net_received) FROM metric_finance_daily WHERE day > "
        "toDate(now(), 'Asia/Shanghai') - 30 GROUP BY day ORDER BY day",
    "backlog": "SELECT * FROM metric_outbound_backlog",
}  # fmt: skip


def generate(client: object, items: int, refunds: int, skus: int) -> list[tuple[str, int, float]]:
    """Fill the DWD/DWS tables inside the engine; returns (table, rows, seconds)."""
    documents = items // 3
    start = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() - 365 * 86400))
    origin = START.format(start=start)
    span = 365 * 86400
    statements = {
        "dim_shop": (SHOPS, f"""INSERT INTO dim_shop (shop_id, shop_name, platform, shop_owner,
            platform_fee_rate, _version) SELECT 16000001 + number, concat('店铺', toString(number)),
            ['淘宝','天猫','京东','拼多多'][number % 4 + 1], """
            f"""['alice','bob','carol'][number % 3 + 1],
            0.05, 1 FROM numbers({SHOPS})"""),
        "dws_inventory": (skus * 4, f"""INSERT INTO dws_inventory (sku_id, wms_co_id, """
            f"""warehouse_name,
            province, sku_name, category, qty, order_lock, min_qty, max_qty, available_qty,
            cost_price, stock_value, dim_status, modified, ts, _version)
            SELECT concat('SKU-', toString(intDiv(number, 4))), 10200001 + number % 4,
            concat('仓', toString(number % 4)), ['浙江','广东','上海','四川'][number % 4 + 1],
            concat('商品', toString(intDiv(number, 4))), """
            f"""concat('类目', toString(intDiv(number, 4) % 40)),
            cityHash64(number) % 800, cityHash64(number, 1) % 50, 50, 600,
            cityHash64(number) % 800 - cityHash64(number, 1) % 50, 20, """
            f"""(cityHash64(number) % 800) * 20,
            'ok', now(), number, number FROM numbers({skus * 4})"""),
        "dwd_sale_out": (documents, f"""INSERT INTO dwd_sale_out (io_id, o_id, shop_id, shop_name,
            platform, shop_owner, platform_fee_rate, status, pay_amount, free_amount, freight,
            logistics_company, created, modified, io_date, pay_date, ts, _version)
            SELECT toString(number), toString(intDiv(number * 10, 11)), 16000001 + number % {SHOPS},
            concat('店铺', toString(number % {SHOPS})), """
            f"""['淘宝','天猫','京东','拼多多'][number % 4 + 1],
            ['alice','bob','carol'][number % 3 + 1], 0.05,
            if(number % 50 = 0, 'Cancelled', if(number % 97 = 0, 'WaitConfirm', 'Confirmed')),
            (cityHash64(number) % 40000) / 100, (cityHash64(number) % 3) * 5, 0,
            ['顺丰','中通','圆通','韵达'][number % 4 + 1],
            {origin} + intDiv(number * {span}, {documents}),
            {origin} + intDiv(number * {span}, {documents}),
            {origin} + intDiv(number * {span}, {documents}) + 3600 + cityHash64(number) % 20000,
            {origin} + intDiv(number * {span}, {documents}), number, number
            FROM numbers({documents})"""),
        "dwd_sale_out_item": (items, f"""INSERT INTO dwd_sale_out_item (io_id, ioi_id, o_id, """
            f"""shop_id,
            platform, shop_owner, status, created, modified, io_date, sku_id, sku_name, category,
            qty, sale_price, sale_amount, ts, _version)
            SELECT toString(intDiv(number, 3)), toString(number), toString(intDiv(number * 10, 33)),
            16000001 + intDiv(number, 3) % {SHOPS}, """
            f"""['淘宝','天猫','京东','拼多多'][intDiv(number, 3) % 4 + 1],
            ['alice','bob','carol'][intDiv(number, 3) % 3 + 1],
            if(intDiv(number, 3) % 50 = 0, 'Cancelled', """
            f"""if(intDiv(number, 3) % 97 = 0, 'WaitConfirm', 'Confirmed')),
            {origin} + intDiv(intDiv(number, 3) * {span}, {documents}),
            {origin} + intDiv(intDiv(number, 3) * {span}, {documents}),
            {origin} + intDiv(intDiv(number, 3) * {span}, {documents}) + 3600,
            concat('SKU-', toString(cityHash64(number) % {skus})),
            concat('商品', toString(cityHash64(number) % {skus})),
            concat('类目', toString(cityHash64(number) % {skus} % 40)),
            1 + number % 3, 59.9, 59.9 * (1 + number % 3), intDiv(number, 3), intDiv(number, 3)
            FROM numbers({items})"""),
        "dwd_refund": (refunds, f"""INSERT INTO dwd_refund (as_id, as_date, o_id, type, created,
            modified, status, status_label, confirm_date, refund, shop_id, platform, shop_owner,
            question_type, ts, _version)
            SELECT toString(number), {origin} + intDiv(number * {span}, {refunds}), """
            f"""toString(number * 3),
            ['普通退货','仅退款','换货'][number % 3 + 1], """
            f"""{origin} + intDiv(number * {span}, {refunds}),
            {origin} + intDiv(number * {span}, {refunds}), """
            f"""if(number % 10 = 0, 'Cancelled', 'Confirmed'),
            if(number % 10 = 0, '已取消', '已确认'),
            {origin} + intDiv(number * {span}, {refunds}) + 7200, """
            f"""(cityHash64(number) % 20000) / 100,
            16000001 + number % {SHOPS}, ['淘宝','天猫','京东','拼多多'][number % 4 + 1],
            ['alice','bob','carol'][number % 3 + 1], """
            f"""['质量问题','尺码不合适','七天无理由'][number % 3 + 1],
            number, number FROM numbers({refunds})"""),
        "dwd_refund_item": (refunds, f"""INSERT INTO dwd_refund_item (as_id, asi_id, o_id, shop_id,
            status, created, modified, as_date, sku_id, category, qty, r_qty, amount, ts, _version)
            SELECT toString(number), toString(number), toString(number * 3), """
            f"""16000001 + number % {SHOPS},
            if(number % 10 = 0, 'Cancelled', 'Confirmed'),
            {origin} + intDiv(number * {span}, {refunds}), """
            f"""{origin} + intDiv(number * {span}, {refunds}),
            {origin} + intDiv(number * {span}, {refunds}), """
            f"""concat('SKU-', toString(cityHash64(number) % {skus})),
            concat('类目', toString(cityHash64(number) % {skus} % 40)), 1, 1, 59.9, number, number
            FROM numbers({refunds})"""),
    }  # fmt: skip
    timings = []
    for table, (rows, sql) in statements.items():
        began = time.monotonic()
        client.command(sql, settings={"max_insert_threads": 2})  # type: ignore[attr-defined]
        timings.append((table, rows, time.monotonic() - began))
        print(f"  generated {table:<20} {rows:>12,} rows in {timings[-1][2]:6.1f} s", flush=True)
    return timings


def http_insert_rate(client: object, rows: int, batch: int = 20_000) -> float:
    """Rows/s for JSONEachRow batches over HTTP, as the Flink sink sends them."""
    lines = [json.dumps({"io_id": f"HTTP-{n // 3}", "ioi_id": f"HTTP-{n}", "shop_id": 16000001,
                         "status": "Confirmed", "sku_id": f"SKU-{n % 30000}", "qty": 1,
                         "sale_amount": "59.9", "modified": "2026-11-22 10:00:00", "ts": n,
                         "_version": n}) for n in range(rows)]  # fmt: skip
    began = time.monotonic()
    for offset in range(0, rows, batch):
        body = ("\n".join(lines[offset : offset + batch]) + "\n").encode()
        client.raw_insert("dwd_sale_out_item", insert_block=body, fmt="JSONEachRow",  # type: ignore[attr-defined]
                          settings={"date_time_input_format": "best_effort"})  # fmt: skip
    return rows / (time.monotonic() - began)


def refresh_times(client: object) -> list[tuple[str, float]]:
    """Each serving view refreshed alone (the others held), so each time is its own cost."""
    timings = []
    for view in serving.refreshable_views(client):
        client.command(f"SYSTEM START VIEW {view}")  # type: ignore[attr-defined]
        began = time.monotonic()
        client.command(f"SYSTEM REFRESH VIEW {view}")  # type: ignore[attr-defined]
        client.command(f"SYSTEM WAIT VIEW {view}")  # type: ignore[attr-defined]
        timings.append((view, time.monotonic() - began))
        client.command(f"SYSTEM STOP VIEW {view}")  # type: ignore[attr-defined]
    return timings


def stop_scheduled_refreshes(client: object) -> None:
    """Hold the scheduled refreshes: their cost is measured on its own (refresh_times)."""
    for view in serving.refreshable_views(client):
        client.command(f"SYSTEM STOP VIEW {view}")  # type: ignore[attr-defined]


def client_loop(
    clickhouse: ClickHouseSettings, index: int, rounds: int, cached: bool, seconds: float
) -> tuple[dict[str, list[float]], list[str]]:
    """One dashboard client: every query ``rounds`` times (or for ``seconds`` if given),
    starting on its own screen.

    ``cached``: with the settings Superset's connection sends (the query cache), else
    every query runs in the engine.
    """
    timings: dict[str, list[float]] = {name: [] for name in DASHBOARD_QUERIES}
    errors: list[str] = []
    client = connect(
        clickhouse, query_settings=clickhouse.dashboard_query_settings() if cached else None
    )
    names = list(DASHBOARD_QUERIES)
    try:
        until = time.monotonic() + seconds
        round_number = 0
        while round_number < rounds if not seconds else time.monotonic() < until:
            round_number += 1
            offset = (index + round_number) % len(names)  # clients start on different screens
            for name in names[offset:] + names[:offset]:
                began = time.perf_counter()
                try:
                    client.query(DASHBOARD_QUERIES[name])
                except Exception as error:  # noqa: BLE001 - counted and reported
                    errors.append(f"{name}: {error}")
                    continue
                timings[name].append((time.perf_counter() - began) * 1000)
    finally:
        client.close()
    return timings, errors


def run_clients(
    settings: Settings, clients: int, rounds: int, cached: bool = False, seconds: float = 0
) -> dict[str, list[float]]:
    """``clients`` dashboard clients at once, each its own process (as browsers would be:
    threads of one Python process would measure the client's own GIL too)."""
    timings: dict[str, list[float]] = {name: [] for name in DASHBOARD_QUERIES}
    errors: list[str] = []
    with ProcessPoolExecutor(max_workers=clients, mp_context=get_context("fork")) as pool:
        list(pool.map(int, range(clients)))  # every worker forked before the clock starts
        began = time.perf_counter()
        futures = [
            pool.submit(client_loop, settings.clickhouse, n, rounds, cached, seconds)
            for n in range(clients)
        ]
        for future in futures:
            client_timings, client_errors = future.result(timeout=1800)
            errors += client_errors
            for name, values in client_timings.items():
                timings[name] += values
        wall = time.perf_counter() - began
    if errors:
        print(f"  {len(errors)} errors with {clients} clients, e.g. {errors[0][:200]}")
    answered = sum(map(len, timings.values()))
    print(f"  {clients} clients: {answered:,} queries in {wall:.1f} s = {answered / wall:,.1f} "
          "queries/s", flush=True)  # fmt: skip
    return timings


def small_beside_slow(settings: Settings, probes: int = 300) -> tuple[list[float], float]:
    """SELECT 1 latencies (ms) while two 3-second queries run; wall time of 10 sleep(0.1)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    stop = threading.Event()

    def slow() -> None:
        slow_client = connect(settings.clickhouse)
        while not stop.is_set():
            slow_client.command("SELECT sleep(3)")
        slow_client.close()

    probe = connect(settings.clickhouse)
    latencies: list[float] = []
    with ThreadPoolExecutor(2) as pool:
        slow_runs = [pool.submit(slow) for _ in range(2)]
        time.sleep(0.5)  # let both slow statements reach the engine before probing
        for _ in range(probes):
            started = time.perf_counter()
            probe.command("SELECT 1")
            latencies.append((time.perf_counter() - started) * 1000)
            time.sleep(0.01)
        stop.set()
        for run in slow_runs:
            run.result()
    clients = [connect(settings.clickhouse) for _ in range(10)]
    started = time.perf_counter()
    with ThreadPoolExecutor(10) as pool:
        list(pool.map(lambda c: c.command("SELECT sleep(0.1)"), clients))
    parallel = time.perf_counter() - started
    for each in [probe, *clients]:
        each.close()
    return latencies, parallel


def percentile(values: list[float], level: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(level * len(ordered)))] if ordered else float("nan")


def main() -> int:
    exit_through_finally_on_sigterm()  # stops the stack on the way out
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=10_000_000)
    parser.add_argument("--refunds", type=int, default=1_000_000)
    parser.add_argument("--skus", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=20, help="query mix rounds per client")
    parser.add_argument(
        "--busy-seconds", type=float, default=130,
        help="length of the run with refreshes (default: every per-minute refresh runs twice)",
    )  # fmt: skip
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="erpbi-warehouse-bench-"))
    settings = isolated_settings(workdir / "run")
    try:
        stack.up(settings, ["clickhouse"], report=lambda line: None)
        client = connect(settings.clickhouse)
        stop_scheduled_refreshes(client)
        print("generating data ...", flush=True)
        generated = generate(client, args.items, args.refunds, args.skus)
        http_rate = http_insert_rate(client, 200_000)
        refreshes = refresh_times(client)
        single = run_clients(settings, 1, args.rounds)
        many = run_clients(settings, 30, max(2, args.rounds // 4))
        cache_seconds = settings.clickhouse.dashboard_cache_seconds
        cached = run_clients(settings, 30, args.rounds, cached=True)
        for view in serving.refreshable_views(client):  # the scheduled refreshes, running
            client.command(f"SYSTEM START VIEW {view}")
        # long enough for every per-minute refresh to run twice
        busy = run_clients(settings, 30, 0, cached=True, seconds=args.busy_seconds)
        probe_ms, ten_sleeps = small_beside_slow(settings)
        disk = client.query(
            "SELECT table, sum(rows), sum(bytes_on_disk) FROM system.parts WHERE active "
            "AND database = currentDatabase() GROUP BY table ORDER BY sum(bytes_on_disk) DESC"
        ).result_rows
        client.close()
    finally:
        stack.down(settings, report=lambda line: None)
        shutil.rmtree(workdir, ignore_errors=True)

    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    print("\n| generated (INSERT ... SELECT inside the engine) | rows | rows/s |\n|---|---:|---:|")
    for table, rows, seconds in generated:
        print(f"| {table} | {rows:,} | {rows / seconds:,.0f} |")
    print(
        f"| HTTP JSONEachRow batches of 20,000 (as the Flink sink) | 200,000 | {http_rate:,.0f} |"
    )
    print("\n| serving table refresh, each alone (reads DWD with FINAL) | seconds |\n|---|---:|")
    for view, seconds in refreshes:
        print(f"| {view} | {seconds:.2f} |")
    print(
        "\n| dashboard query | 1 client p50 ms | p99 ms | 30 clients p50 ms | p99 ms "
        f"| 30 clients, query cache {cache_seconds} s: p50 ms | p99 ms "
        "| same, refreshes running: p50 ms | p99 ms |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    runs = (single, many, cached, busy)
    for name in DASHBOARD_QUERIES:
        cells = " | ".join(
            f"{statistics.median(run[name]):.1f} | {percentile(run[name], 0.99):.1f}"
            for run in runs
        )
        print(f"| {name} | {cells} |")
    totals = [[value for values in run.values() for value in values] for run in runs[1:]]
    cells = " | ".join(f"{statistics.median(t):.1f} | {percentile(t, 0.99):.1f}" for t in totals)
    print(f"| **all queries, 30 clients** | | | {cells} |")
    cells = " | ".join(f"{statistics.fmean(t):.1f} | " for t in totals)
    print(f"| all queries, 30 clients: mean ms | | | {cells} |")
    print(
        f"\nqueries measured: 1 client {sum(map(len, single.values())):,}, "
        + ", ".join(f"{sum(map(len, run.values())):,}" for run in runs[1:])
        + " (30-client runs: engine every time; query cache; query cache + refreshes)"
    )
    print("\n| small queries beside slow ones | value |\n|---|---:|")
    print(
        f"| SELECT 1 while two 3-second queries run: p50 ms | {statistics.median(probe_ms):.1f} |"
    )
    print(f"| SELECT 1 while two 3-second queries run: p99 ms | {percentile(probe_ms, 0.99):.1f} |")
    print(f"| 10 parallel SELECT sleep(0.1): wall seconds | {ten_sleeps:.2f} |")
    print("\n| table | rows | MiB on disk |\n|---|---:|---:|")
    for table, rows, size in disk:
        print(f"| {table} | {rows:,} | {size / 2**20:,.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
