"""Who is asking: ClickHouse's three ways to pass credentials, checked against the users.

ClickHouse accepts HTTP basic auth, `X-ClickHouse-User`/`X-ClickHouse-Key` headers, or
`user`/`password` URL parameters; clickhouse-connect uses basic auth, other tools use the
rest. A wrong password is AUTHENTICATION_FAILED (516, HTTP 403) with the same text a real
server sends, so clients classify it the same way (clickhouse-connect refreshes tokens on it).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from warehouse.server.errors import AUTHENTICATION_FAILED, BAD_ARGUMENTS, ClickHouseError


@dataclass(frozen=True)
class Credentials:
    """A user name and the password presented with it (never logged)."""

    user: str
    password: str = ""

    def __repr__(self) -> str:
        return f"Credentials(user={self.user!r}, password=***)"


def credentials_from_request(headers: Mapping[str, str], params: Mapping[str, str]) -> Credentials:
    """Extract credentials, refusing to mix methods as ClickHouse does."""
    authorization = headers.get("Authorization") or headers.get("authorization")
    header_user = headers.get("X-ClickHouse-User")
    header_key = headers.get("X-ClickHouse-Key")
    param_user = params.get("user")
    param_password = params.get("password")
    uses_headers = header_user is not None or header_key is not None
    uses_params = param_user is not None or param_password is not None
    if authorization:
        if uses_headers or uses_params:
            raise ClickHouseError.of(
                BAD_ARGUMENTS,
                "Invalid authentication: it is not allowed to use Authorization HTTP header "
                "and authentication via parameters simultaneously",
            )
        return _basic_credentials(authorization)
    if uses_headers:
        if uses_params:
            raise ClickHouseError.of(
                BAD_ARGUMENTS,
                "Invalid authentication: it is not allowed to use X-ClickHouse HTTP headers "
                "and other authentication methods simultaneously",
            )
        return Credentials(header_user or "default", header_key or "")
    return Credentials(param_user or "default", param_password or "")


def _basic_credentials(authorization: str) -> Credentials:
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        raise ClickHouseError.of(
            AUTHENTICATION_FAILED, f"Unsupported authentication scheme: {scheme}"
        )
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise ClickHouseError.of(
            BAD_ARGUMENTS, "Invalid Authorization header: not valid base64"
        ) from None
    user, _, password = decoded.partition(":")
    return Credentials(user or "default", password)


class UserDirectory:
    """The configured users and their passwords; checks in constant time."""

    def __init__(self, passwords: Mapping[str, str]) -> None:
        self._passwords = dict(passwords)

    def authenticate(self, credentials: Credentials) -> str:
        """Return the user name, or raise AUTHENTICATION_FAILED with ClickHouse's wording."""
        expected = self._passwords.get(credentials.user)
        # Compare even for unknown users so timing does not reveal which names exist.
        probe = expected if expected is not None else "\0"
        matches = hmac.compare_digest(probe.encode(), credentials.password.encode())
        if expected is None or not matches:
            raise ClickHouseError.of(
                AUTHENTICATION_FAILED,
                f"{credentials.user}: Authentication failed: password is incorrect, "
                "or there is no user with such name",
            )
        return credentials.user
