"""The shop-owner logins of the secured server (fixture `secured` in conftest.py)."""

from __future__ import annotations

from typing import Any

import requests
from clickhouse_connect.driver.client import Client
from pydantic import SecretStr

from common.settings import Settings
from warehouse.client import connect

ALICE_SHOPS = (880001, 880003)
BOB_SHOPS = (880002,)
OWNERS = {"alice": "alice-pw", "bob": "bob-pw"}


def login(settings: Settings, user: str, password: str) -> Client:
    return connect(
        settings.clickhouse.model_copy(update={"user": user, "password": SecretStr(password)})
    )


def post_as(settings: Settings, user: str, sql: str, **params: str) -> requests.Response:
    """`sql` sent over raw HTTP as `user` (status and exception headers as the server sent)."""
    clickhouse = settings.clickhouse
    password = OWNERS.get(user) or clickhouse.password.get_secret_value()
    query: dict[str, Any] = {"database": clickhouse.database, **params}
    return requests.post(
        f"http://{clickhouse.host}:{clickhouse.port}/",
        params=query,
        data=sql.encode(),
        auth=(user, password),
        timeout=60,
    )
