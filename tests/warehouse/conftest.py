"""Targets for the ClickHouse HTTP contract: the chDB server, and a real server if given.

Every contract test runs against the in-process chDB server (started once per test session
on a free port with a temporary data path). When `CLICKHOUSE_URL` is set
(e.g. http://default:@host:8123) the same tests also run against that real ClickHouse,
which is what keeps the chDB server honest: a behaviour only counts if both agree.

`secured` is the server as `erpbi up` starts it with two shop-owner logins (alice, bob) and
a few documents of their shops and of a shop nobody owns (880004).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_targets import InFlight, Target
from shop_owners import ALICE_SHOPS, BOB_SHOPS, OWNERS, login

from common.settings import Settings
from erpbi import stack
from erpbi.services import by_name
from testkit.support import isolated_settings
from warehouse import serving
from warehouse.client import connect
from warehouse.server import ServerConfig, WarehouseServer

LOCAL_PASSWORD = "contract-pw"

TARGET_NAMES = ["chdb"] + (["real"] if os.environ.get("CLICKHOUSE_URL") else [])


@pytest.fixture(scope="session")
def chdb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WarehouseServer]:
    """The server under test, in-process on a free port (chDB allows one data path per process)."""
    data_path = tmp_path_factory.mktemp("warehouse") / "data"
    config = ServerConfig(data_path=data_path, port=0, database="erp", password=LOCAL_PASSWORD)
    server = WarehouseServer(config).start()
    yield server
    server.stop()


def _real_target() -> Target:
    url = urlsplit(os.environ["CLICKHOUSE_URL"])
    return Target(
        name="real",
        host=url.hostname or "127.0.0.1",
        port=url.port or 8123,
        user=unquote(url.username or "default"),
        password=unquote(url.password or ""),
    )


@pytest.fixture(params=TARGET_NAMES)
def target(request: pytest.FixtureRequest) -> Target:
    """Each contract test runs once per available server."""
    if request.param == "real":
        return _real_target()
    server: WarehouseServer = request.getfixturevalue("chdb_server")
    return Target("chdb", "127.0.0.1", server.port, "default", LOCAL_PASSWORD)


@pytest.fixture
def scratch_db(target: Target) -> Iterator[str]:
    """A fresh database per test, dropped afterwards, so targets never carry state across tests."""
    name = f"contract_{uuid.uuid4().hex[:10]}"
    target.sql(f"CREATE DATABASE {name}")
    yield name
    target.sql(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture(scope="package")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    settings = isolated_settings(
        tmp_path_factory.mktemp("rls") / "run", clickhouse={"shop_owners": OWNERS}
    )
    stack.start_service(settings, by_name("clickhouse"), report=lambda line: None)
    admin = connect(settings.clickhouse)
    shops = [(shop, "alice") for shop in ALICE_SHOPS] + [(shop, "bob") for shop in BOB_SHOPS]
    rows = [{"shop_id": shop, "shop_name": f"店{shop}", "shop_owner": owner, "_version": 1}
            for shop, owner in shops]  # fmt: skip
    rows.append({"shop_id": 880004, "shop_name": "无主店", "shop_owner": "", "_version": 1})
    admin.command("INSERT INTO dim_shop FORMAT JSONEachRow " + "\n".join(map(json.dumps, rows)))
    documents = [
        {"io_id": f"RLS-{shop}", "o_id": f"O-{shop}", "shop_id": shop, "status": "Confirmed",
         "pay_amount": "10", "modified": "2026-11-20 10:00:00",
         "io_date": "2026-11-20 10:00:00", "ts": 1, "_version": 1}
        for shop in (*ALICE_SHOPS, *BOB_SHOPS, 880004)
    ]  # fmt: skip
    admin.command("INSERT INTO dwd_sale_out SETTINGS date_time_input_format = 'best_effort' "
                  "FORMAT JSONEachRow " + "\n".join(map(json.dumps, documents)))  # fmt: skip
    serving.refresh_now(admin)
    admin.close()
    yield settings
    stack.down(settings, ["clickhouse"], report=lambda line: None)


@pytest.fixture
def alice(secured: Settings) -> Iterator[Client]:
    client = login(secured, "alice", OWNERS["alice"])
    yield client
    client.close()


@pytest.fixture
def engine_in_flight(target: Target, request: pytest.FixtureRequest) -> InFlight:
    """Statements inside the engine now, and the most at once since the test began."""
    if target.name != "chdb":
        client = target.client()

        def processes() -> int:  # the real server: its process list, without this query
            return int(client.command("SELECT count() - 1 FROM system.processes"))

        return InFlight(now=processes, peak=None)
    server: WarehouseServer = request.getfixturevalue("chdb_server")
    server.engine.reset_peak_in_flight()
    return InFlight(
        now=lambda: server.engine.in_flight().in_flight,
        peak=lambda: server.engine.in_flight().peak_in_flight,
    )
