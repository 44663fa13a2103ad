"""Error code -> action lookup table for the Jushuitan open API (no if-chains).

The API answers HTTP 200 with ``code != 0`` for business errors; real HTTP 429/5xx
are mapped through :data:`HTTP_STATUS_RULES`. :func:`raise_for_api_code` and
:func:`raise_for_http_status` turn a rule into the exception that says what to do next.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from connectors.errors import (
    FatalApiError,
    FatalParameterError,
    RateLimitedError,
    RetriableApiError,
    TokenExpiredError,
)


class Action(StrEnum):
    OK = "ok"
    FAIL = "fail"  # fatal: stop and fix configuration
    FAIL_PARAMETER = "fail_parameter"  # fatal: bug in the request
    REFRESH_TOKEN = "refresh_token"  # refresh once, then retry
    RETRY = "retry"  # retry soon (fresh timestamp)
    BACK_OFF = "back_off"  # rate limited / server trouble: exponential backoff


@dataclass(frozen=True)
class ErrorRule:
    action: Action
    meaning: str
    wait_hint_seconds: float | None = None  # minimum wait before the retry, if any


API_CODE_RULES: dict[int, ErrorRule] = {
    0: ErrorRule(Action.OK, "success"),
    10: ErrorRule(Action.FAIL, "bad sign (check app_key / app_secret)"),
    100: ErrorRule(Action.REFRESH_TOKEN, "access_token invalid or expired"),
    110: ErrorRule(Action.FAIL, "caller IP not whitelisted"),
    130: ErrorRule(Action.FAIL_PARAMETER, "parameter error"),
    140: ErrorRule(Action.RETRY, "bad timestamp (clock skew)", 1.0),
    150: ErrorRule(Action.FAIL, "token refresh forbidden"),
    190: ErrorRule(Action.FAIL, "no permission for this API"),
    199: ErrorRule(Action.BACK_OFF, "over 5 requests per second", 1.0),
    200: ErrorRule(Action.BACK_OFF, "over 100 requests per minute", 15.0),
}

UNKNOWN_CODE_RULE = ErrorRule(Action.FAIL, "unknown error code")

HTTP_STATUS_RULES: dict[int, ErrorRule] = {
    408: ErrorRule(Action.BACK_OFF, "request timeout"),
    429: ErrorRule(Action.BACK_OFF, "too many requests", 1.0),
    500: ErrorRule(Action.BACK_OFF, "internal server error"),
    502: ErrorRule(Action.BACK_OFF, "bad gateway"),
    503: ErrorRule(Action.BACK_OFF, "service unavailable"),
    504: ErrorRule(Action.BACK_OFF, "gateway timeout"),
}


def rule_for_api_code(code: int) -> ErrorRule:
    return API_CODE_RULES.get(code, UNKNOWN_CODE_RULE)


def rule_for_http_status(status: int) -> ErrorRule:
    if status in HTTP_STATUS_RULES:
        return HTTP_STATUS_RULES[status]
    if 500 <= status < 600:
        return ErrorRule(Action.BACK_OFF, f"server error {status}")
    if 200 <= status < 300:
        return ErrorRule(Action.OK, "http ok")
    return ErrorRule(Action.FAIL, f"http {status}")


def _raise(
    rule: ErrorRule,
    message: str,
    code: int | None,
    http_status: int | None,
    retry_after: float | None,
) -> None:
    wait = retry_after if retry_after is not None else rule.wait_hint_seconds
    if rule.action is Action.OK:
        return
    if rule.action is Action.REFRESH_TOKEN:
        raise TokenExpiredError(message, code=code)
    if rule.action is Action.BACK_OFF:
        is_quota = code in (199, 200) or http_status == 429
        error_type = RateLimitedError if is_quota else RetriableApiError
        raise error_type(message, code=code, http_status=http_status, retry_after=wait)
    if rule.action is Action.RETRY:
        raise RetriableApiError(message, code=code, http_status=http_status, retry_after=wait)
    if rule.action is Action.FAIL_PARAMETER:
        raise FatalParameterError(message, code=code, http_status=http_status)
    raise FatalApiError(message, code=code, http_status=http_status)


def raise_for_api_code(code: int, msg: str, path: str) -> None:
    """Raise the exception the table prescribes for ``code`` (nothing for code 0)."""
    rule = rule_for_api_code(code)
    _raise(rule, f"{path}: code {code} ({rule.meaning}): {msg}", code, None, None)


def raise_for_http_status(status: int, path: str, retry_after: float | None = None) -> None:
    """Raise the exception the table prescribes for a non-2xx HTTP status."""
    rule = rule_for_http_status(status)
    _raise(rule, f"{path}: HTTP {status} ({rule.meaning})", None, status, retry_after)
