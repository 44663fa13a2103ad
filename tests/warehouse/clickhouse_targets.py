"""The Target type shared by the warehouse server tests (a module, so tests can import it)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import clickhouse_connect
import requests
from clickhouse_connect.driver.client import Client


@dataclass
class Target:
    """One server under test and the ways tests talk to it."""

    name: str
    host: str
    port: int
    user: str
    password: str
    _local: threading.local = field(default_factory=threading.local, repr=False)

    @property
    def http_session(self) -> requests.Session:
        """One keep-alive requests.Session per thread (Session is not thread-safe)."""
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def client(self, **kwargs: Any) -> Client:
        """A clickhouse-connect client; kwargs override (database, compress, settings...)."""
        options: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "username": self.user,
            "password": self.password,
        }
        options.update(kwargs)
        return clickhouse_connect.get_client(**options)

    def http(
        self,
        method: str = "POST",
        path: str = "/",
        params: dict[str, str] | None = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> requests.Response:
        """A raw HTTP request, authenticated as the target user unless `auth` says otherwise."""
        return self.http_session.request(
            method,
            self.base_url + path,
            params=params,
            data=data,
            headers=headers,
            auth=auth or (self.user, self.password),
            timeout=60,
        )

    def sql(self, query: str, **params: str) -> str:
        """Run a statement over raw HTTP, fail the test on any error, return the body text."""
        response = self.http(params={**params}, data=query.encode())
        assert response.status_code == 200, response.text
        return response.text


@dataclass(frozen=True)
class InFlight:
    """How a test sees statements running inside a target's engine."""

    now: Callable[[], int]
    peak: Callable[[], int] | None  # only the chDB server keeps a high-water mark
