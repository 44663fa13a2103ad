"""Exceptions for every connector; each class name says what the caller should do next.

* ``Fatal*``      stop the sync and fix configuration or code; retrying will not help.
* ``Retriable*``  try the same call again later (with backoff); nothing is wrong on our side.
* ``TokenExpiredError``  renew the access token once, then retry the call.
* ``Skippable*``  the record is unusable: send it to the dead-letter topic and go on.
"""

from __future__ import annotations

from typing import Any


class ConnectorError(Exception):
    """Base class of every error raised by ``connectors``."""


class FatalApiError(ConnectorError):
    """The API refused the call for a reason retrying cannot fix (sign, IP, permission...)."""

    def __init__(self, message: str, *, code: int | None = None, http_status: int | None = None):
        super().__init__(message)
        self.code = code
        self.http_status = http_status


class FatalParameterError(FatalApiError):
    """The request parameters are invalid (code 130): a bug in the caller."""


class FatalConfigurationError(ConnectorError):
    """Settings are missing or inconsistent (unknown stream, empty credentials...)."""


class CursorNotAdvancingError(ConnectorError):
    """A ts-cursor page said ``has_next`` but brought nothing newer: abort, never loop."""


class RetriableError(ConnectorError):
    """Something transient failed: the whole sync step may be re-run later."""


class RetriableApiError(RetriableError):
    """Transient failure (rate limit, 5xx, timeout, clock skew): back off and retry.

    ``retry_after`` is the server's hint (Retry-After header or error-code default), seconds.
    """

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        http_status: int | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.code = code
        self.http_status = http_status
        self.retry_after = retry_after


class RateLimitedError(RetriableApiError):
    """Over the per-app quota (codes 199/200, HTTP 429): slow down, then retry."""


class RetriableTransportError(RetriableApiError):
    """Connection reset, timeout or an unreadable response body."""


class TokenExpiredError(ConnectorError):
    """access_token invalid or expired (code 100): refresh it once, then retry the call."""

    def __init__(self, message: str, *, code: int | None = 100):
        super().__init__(message)
        self.code = code


class DeliveryFailedError(RetriableError):
    """Kafka did not acknowledge every record: do not save the cursor; re-run the sync."""


class SkippableRecordError(ConnectorError):
    """One record failed validation: dead-letter it and continue with the rest."""


class SyncIncompleteError(RetriableError):
    """A one-shot sync finished but parked windows remain: run the sync again later.

    ``reports`` holds what was done, per stream; the parked windows are in the cursor
    state (``retry_windows``) and are read first by the next sync.
    """

    def __init__(self, message: str, reports: dict[str, Any]):
        super().__init__(message)
        self.reports = reports


class SyncStoppedError(RetriableError):
    """The sync was asked to stop while waiting (e.g. for quota); nothing was committed."""
