"""A small client for Superset's REST API: JWT login, CSRF token, lookups by name.

Superset (Flask-AppBuilder) wants, for every write: a JWT bearer token, the CSRF token
issued to the same session cookie, and a Referer on the same origin. List endpoints
take their filters as a Rison-encoded ``q`` parameter.
"""

from __future__ import annotations

import re
from typing import Any

import requests

from common.settings import SupersetSettings

JsonObject = dict[str, Any]
_RISON_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-/~]*$")


class SupersetApiError(RuntimeError):
    """Superset answered a request with an error status; the body is in the message."""


def rison(value: Any) -> str:
    """Encode ``value`` as Rison (https://github.com/Nanonid/rison), as FAB expects."""
    if value is None:
        return "!n"
    if value is True:
        return "!t"
    if value is False:
        return "!f"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        if _RISON_ID.match(value):
            return value
        return "'" + value.replace("!", "!!").replace("'", "!'") + "'"
    if isinstance(value, list | tuple):
        return "!(" + ",".join(rison(item) for item in value) + ")"
    if isinstance(value, dict):
        return "(" + ",".join(f"{rison(str(k))}:{rison(v)}" for k, v in value.items()) + ")"
    raise TypeError(f"cannot Rison-encode {type(value).__name__}")


class SupersetClient:
    """A logged-in API session; use :meth:`login` to make one."""

    def __init__(self, base_url: str, session: requests.Session, timeout_seconds: float):
        self.base_url = base_url.rstrip("/")
        self.session = session
        self.timeout_seconds = timeout_seconds

    @classmethod
    def login(cls, settings: SupersetSettings, timeout_seconds: float = 30.0) -> SupersetClient:
        session = requests.Session()
        session.headers["Referer"] = settings.url + "/"
        client = cls(settings.url, session, timeout_seconds)
        token = client.request(
            "POST",
            "/api/v1/security/login",
            json={
                "username": settings.admin_user,
                "password": settings.admin_password.get_secret_value(),
                "provider": "db",
                "refresh": False,
            },
        )["access_token"]
        session.headers["Authorization"] = f"Bearer {token}"
        csrf = client.request("GET", "/api/v1/security/csrf_token/")["result"]
        session.headers["X-CSRFToken"] = csrf
        return client

    def request(self, method: str, path: str, **kwargs: Any) -> JsonObject:
        kwargs.setdefault("timeout", self.timeout_seconds)
        response = self.session.request(method, self.base_url + path, **kwargs)
        if response.status_code >= 400:
            raise SupersetApiError(
                f"{method} {path} -> {response.status_code}: {response.text[:2000]}"
            )
        if not response.content:
            return {}
        body: JsonObject = response.json()
        return body

    def get(self, path: str, **params: Any) -> JsonObject:
        return self.request("GET", path, params=params or None)

    def post(self, path: str, payload: JsonObject) -> JsonObject:
        return self.request("POST", path, json=payload)

    def put(self, path: str, payload: JsonObject) -> JsonObject:
        return self.request("PUT", path, json=payload)

    def find(self, resource: str, **equals: Any) -> list[JsonObject]:
        """Rows of ``/api/v1/<resource>/`` whose columns equal the given values."""
        query = {
            "filters": [{"col": col, "opr": "eq", "value": val} for col, val in equals.items()],
            "page_size": 100,
        }
        result: list[JsonObject] = self.get(f"/api/v1/{resource}/", q=rison(query))["result"]
        return sorted(result, key=lambda row: int(row.get("id", 0)))  # oldest first
