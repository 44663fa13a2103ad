"""Dashboards read through the server's query cache, as `erpbi up` starts it.

What a user sees: within the cache period a dashboard may show the previous answer, a
read without the cache always sees the newest rows, and a shop owner is never served a
result computed for someone else.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest
from clickhouse_connect.driver.client import Client
from pydantic import SecretStr

from common.settings import Settings
from erpbi import stack
from erpbi.services import by_name
from testkit.support import isolated_settings
from warehouse.client import connect

pytestmark = pytest.mark.integration

COUNT_SQL = "SELECT count() FROM dwd_sale_out WHERE io_id LIKE 'QC-%'"


def add_document(client: Client, number: int, shop: int) -> None:
    row = {"io_id": f"QC-{number}", "o_id": f"O-{number}", "shop_id": shop, "status": "Confirmed",
           "pay_amount": "10", "modified": "2026-11-20 10:00:00", "io_date": "2026-11-20 10:00:00",
           "ts": 1, "_version": 1}  # fmt: skip
    client.command("INSERT INTO dwd_sale_out SETTINGS date_time_input_format = 'best_effort' "
                   "FORMAT JSONEachRow " + json.dumps(row))  # fmt: skip


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    settings = isolated_settings(
        tmp_path_factory.mktemp("query-cache") / "run",
        clickhouse={"shop_owners": {"alice": "alice-pw"}, "dashboard_cache_seconds": 600},
    )
    stack.start_service(settings, by_name("clickhouse"), report=lambda line: None)
    admin = connect(settings.clickhouse)
    shop = {"shop_id": 770001, "shop_name": "甲店", "shop_owner": "alice", "_version": 1}
    admin.command("INSERT INTO dim_shop FORMAT JSONEachRow " + json.dumps(shop))
    add_document(admin, 1, 770001)
    add_document(admin, 2, 770002)
    admin.close()
    yield settings
    stack.down(settings, ["clickhouse"], report=lambda line: None)


def dashboard_client(settings: Settings, user: str = "", password: str = "") -> Client:
    clickhouse = settings.clickhouse
    if user:
        clickhouse = clickhouse.model_copy(update={"user": user, "password": SecretStr(password)})
    return connect(clickhouse, query_settings=clickhouse.dashboard_query_settings())


def count(client: Client, **settings: object) -> int:
    return int(client.query(COUNT_SQL, settings=settings or None).result_rows[0][0])


def test_dashboards_see_the_cached_answer_and_plain_reads_the_newest(served: Settings) -> None:
    dashboard = dashboard_client(served)
    plain = connect(served.clickhouse)
    before = count(dashboard)
    add_document(plain, 100, 770002)
    assert count(dashboard) == before, "within the cache period the dashboard's answer is kept"
    assert count(plain) == before + 1, "a read without the cache sees the new row at once"
    assert count(dashboard, enable_reads_from_query_cache=0) == before + 1
    assert count(dashboard) == before + 1, "that fresh run replaced the cached answer"
    plain.command("SYSTEM DROP QUERY CACHE")
    add_document(plain, 101, 770002)
    assert count(dashboard) == before + 2, "SYSTEM DROP QUERY CACHE empties it"
    dashboard.close()
    plain.close()


def test_a_shop_owner_is_never_served_the_admins_cached_result(served: Settings) -> None:
    admin = dashboard_client(served)
    alice = dashboard_client(served, "alice", "alice-pw")
    everything = count(admin)
    assert everything >= 2
    assert count(alice) == 1, "alice owns one shop with one document"
    assert count(admin) == everything
    admin.close()
    alice.close()


def test_supersets_connection_uri_turns_the_cache_on(served: Settings) -> None:
    """Superset connects with sqlalchemy_uri(): its queries must carry the cache settings."""
    python = served.paths.venv_python("superset")
    script = (
        "import sys, sqlalchemy\n"
        "engine = sqlalchemy.create_engine(sys.argv[1])\n"
        "with engine.connect() as connection:\n"
        "    print(connection.execute(sqlalchemy.text(sys.argv[2])).scalar())\n"
    )
    uri = served.clickhouse.sqlalchemy_uri()
    sql = COUNT_SQL + " AND shop_id > 0"  # a query of its own: no entry from other tests

    def superset_reads(query: str) -> str:
        done = subprocess.run([str(python), "-c", script, uri, query], capture_output=True,
                              text=True, timeout=120, check=True)  # fmt: skip
        return done.stdout.strip()

    plain = connect(served.clickhouse)
    first = superset_reads(sql)
    add_document(plain, 200, 770002)
    assert superset_reads(sql) == first, "Superset's second read came from the cache"
    assert int(plain.query(sql).result_rows[0][0]) == int(first) + 1
    plain.close()
