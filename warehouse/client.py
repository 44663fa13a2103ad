"""The one way every stage opens a ClickHouse connection (HTTP, clickhouse-connect).

With several warehouse servers (``ClickHouseSettings.endpoints``) the client is on the
first that answers, and moves to the next one that answers when its server stops
answering mid-way: the statement that met the dead server is sent once more to the new
one. Only a failure to reach a server moves it (clickhouse-connect's OperationalError);
a server that answers with an error is judging the statement, and that error stands.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, cast

from clickhouse_connect import get_client
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import OperationalError

from common.settings import ClickHouseSettings

log = logging.getLogger(__name__)


def connect(
    settings: ClickHouseSettings,
    database: str | None = None,
    query_settings: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> Client:
    """A client for ``database`` (the configured one by default; '' for none).

    ``query_settings`` are ClickHouse settings sent with every query, e.g.
    ``settings.dashboard_query_settings()`` to read as the dashboards do.
    """

    def open_on(host: str, port: int) -> Client:
        return get_client(
            host=host,
            port=port,
            username=settings.user,
            password=settings.password.get_secret_value(),
            database=settings.database if database is None else database,
            secure=settings.secure,
            compress=False,
            connect_timeout=5,
            send_receive_timeout=60,
            settings=dict(query_settings or {}),
            **kwargs,
        )

    endpoints = settings.endpoints
    if len(endpoints) == 1:
        return open_on(*endpoints[0])
    # Not a Client subclass: it hands every attribute on to the current server's client.
    return cast(Client, FailoverClient(open_on, endpoints))


class NoWarehouseAnswers(OperationalError):
    """None of the configured warehouse servers could be reached."""


class FailoverClient:
    """A clickhouse-connect client on the first server that answers, moving on when it stops.

    Servers are tried in the configured order, starting after the one that failed, so a
    client does not go back to a server that has just refused it.
    """

    def __init__(
        self, open_on: Callable[[str, int], Client], endpoints: list[tuple[str, int]]
    ) -> None:
        self._open_on = open_on
        self._endpoints = list(endpoints)
        self._index = -1
        self._client: Client | None = None
        self._reopen(start=0)

    @property
    def endpoint(self) -> tuple[str, int]:
        """The server in use."""
        return self._endpoints[self._index]

    def _reopen(self, start: int) -> Client:
        failures = []
        for step in range(len(self._endpoints)):
            index = (start + step) % len(self._endpoints)
            host, port = self._endpoints[index]
            try:
                client = self._open_on(host, port)
            except OperationalError as error:
                failures.append(f"{host}:{port} ({type(error).__name__})")
                continue
            if self._index >= 0 and index != self._index:
                old_host, old_port = self._endpoints[self._index]
                log.warning(
                    "warehouse %s:%s does not answer, using %s:%s / 数仓 %s:%s 无响应，改用 %s:%s",
                    old_host, old_port, host, port, old_host, old_port, host, port,
                )  # fmt: skip
            self._index, self._client = index, client
            return client
        raise NoWarehouseAnswers(
            "no warehouse server answers / 所有数仓节点均无响应: " + ", ".join(failures)
        )

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute) or name == "close":
            return attribute

        def call_with_failover(*args: Any, **kwargs: Any) -> Any:
            try:
                return getattr(self._client, name)(*args, **kwargs)
            except OperationalError:
                failed = self._client
                self._reopen(start=self._index + 1)
                _close_quietly(failed)
                return getattr(self._client, name)(*args, **kwargs)

        return call_with_failover


def _close_quietly(client: Client | None) -> None:
    try:
        if client is not None:
            client.close()
    except Exception:  # noqa: BLE001, S110 - a dead server's pool
        pass
