from __future__ import annotations

import pytest

from connectors.errors import (
    FatalApiError,
    FatalParameterError,
    RateLimitedError,
    RetriableApiError,
    TokenExpiredError,
)
from connectors.jushuitan.errors import (
    API_CODE_RULES,
    Action,
    raise_for_api_code,
    raise_for_http_status,
    rule_for_api_code,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("code", "action"),
    [
        (0, Action.OK),
        (10, Action.FAIL),
        (100, Action.REFRESH_TOKEN),
        (110, Action.FAIL),
        (130, Action.FAIL_PARAMETER),
        (140, Action.RETRY),
        (150, Action.FAIL),
        (190, Action.FAIL),
        (199, Action.BACK_OFF),
        (200, Action.BACK_OFF),
    ],
)
def test_documented_codes_have_their_action(code: int, action: Action) -> None:
    assert API_CODE_RULES[code].action is action


@pytest.mark.parametrize(
    ("code", "error_type"),
    [
        (10, FatalApiError),
        (100, TokenExpiredError),
        (110, FatalApiError),
        (130, FatalParameterError),
        (140, RetriableApiError),
        (150, FatalApiError),
        (190, FatalApiError),
        (199, RateLimitedError),
        (200, RateLimitedError),
        (12345, FatalApiError),
    ],
)
def test_codes_raise_the_exception_that_says_what_to_do(code: int, error_type: type) -> None:
    with pytest.raises(error_type) as caught:
        raise_for_api_code(code, "msg", "/open/x")
    assert getattr(caught.value, "code", code) == code


def test_code_zero_does_not_raise() -> None:
    raise_for_api_code(0, "执行成功", "/open/x")


def test_quota_codes_carry_a_wait_hint() -> None:
    with pytest.raises(RateLimitedError) as per_second:
        raise_for_api_code(199, "", "/p")
    with pytest.raises(RateLimitedError) as per_minute:
        raise_for_api_code(200, "", "/p")
    assert per_second.value.retry_after == 1.0
    assert per_minute.value.retry_after is not None and per_minute.value.retry_after > 1.0


def test_unknown_code_is_fatal() -> None:
    assert rule_for_api_code(999).action is Action.FAIL


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (429, RateLimitedError),
        (500, RetriableApiError),
        (502, RetriableApiError),
        (503, RetriableApiError),
        (599, RetriableApiError),
        (404, FatalApiError),
        (401, FatalApiError),
    ],
)
def test_http_statuses(status: int, error_type: type) -> None:
    with pytest.raises(error_type):
        raise_for_http_status(status, "/p")


def test_retry_after_header_overrides_the_hint() -> None:
    with pytest.raises(RateLimitedError) as caught:
        raise_for_http_status(429, "/p", retry_after=7.0)
    assert caught.value.retry_after == 7.0
    assert not isinstance(caught.value, FatalApiError)


def test_http_2xx_does_not_raise() -> None:
    raise_for_http_status(200, "/p")
