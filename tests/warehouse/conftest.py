"""Targets for the ClickHouse HTTP contract: the chDB server, and a real server if given.

Every contract test runs against the in-process chDB server (started once per test session
on a free port with a temporary data path). When `CLICKHOUSE_URL` is set
(e.g. http://default:@host:8123) the same tests also run against that real ClickHouse,
which is what keeps the chDB server honest: a behaviour only counts if both agree.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

import pytest
from clickhouse_targets import Target

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
