"""HTTP client for the Jushuitan open API: signed form envelope, tokens, retries, pacing.

Each call: wait for the :class:`QuotaBudget`, POST the signed form, map HTTP status and
``code`` through the error table. Retriable errors are retried by tenacity with capped,
jittered exponential backoff that honours Retry-After (or the code's wait hint). Code 100
renews the token once and retries. Secrets (app_secret, tokens, sign) are never logged.
Every HTTP attempt is counted in :mod:`connectors.metrics` (path, result, code, duration).
"""

from __future__ import annotations

import json
import logging
import secrets
import string
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)
from tenacity.wait import wait_base

from common.settings import JushuitanSettings
from connectors import metrics
from connectors.errors import (
    ConnectorError,
    FatalApiError,
    FatalConfigurationError,
    RateLimitedError,
    RetriableApiError,
    RetriableTransportError,
    TokenExpiredError,
)
from connectors.jushuitan.errors import raise_for_api_code, raise_for_http_status
from connectors.jushuitan.quota import QuotaBudget
from connectors.jushuitan.signing import encode_biz, signed_form
from connectors.state import atomic_write_json, read_json
from connectors.urgency import ANY_CALL, CallPriority

log = logging.getLogger(__name__)

INIT_TOKEN_PATH = "/openWeb/auth/getInitToken"
REFRESH_TOKEN_PATH = "/openWeb/auth/refreshToken"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded;charset=UTF-8"


@dataclass(frozen=True)
class TokenGrant:
    access_token: str
    refresh_token: str
    expires_in: int
    scope: str = "all"
    obtained_at: float = 0.0


class WaitRetryAfterOrBackoff(wait_base):
    """Exponential backoff with jitter and a cap; a server hint sets the minimum wait."""

    def __init__(self, initial: float, maximum: float, retry_after_cap: float):
        self._backoff = wait_exponential_jitter(multiplier=initial, max=maximum, jitter=initial)
        self._retry_after_cap = retry_after_cap

    def __call__(self, retry_state: RetryCallState) -> float:
        backoff = float(self._backoff(retry_state))
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        hint = getattr(error, "retry_after", None)
        if hint is None:
            return backoff
        return min(max(float(hint), backoff), self._retry_after_cap)


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # HTTP-date form: fall back to our own backoff


class JushuitanClient:
    """One merchant app. Thread-safe; share one instance (and its budget) per app."""

    def __init__(
        self,
        settings: JushuitanSettings,
        *,
        budget: QuotaBudget | None = None,
        session: requests.Session | None = None,
        token_path: Path | None = None,
        max_attempts: int = 8,
        backoff_initial_seconds: float = 0.5,
        backoff_max_seconds: float = 30.0,
        retry_after_cap_seconds: float = 120.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if not settings.app_key or not settings.app_secret.get_secret_value():
            raise FatalConfigurationError("jushuitan.app_key and jushuitan.app_secret are required")
        self.settings = settings
        self.base_url = settings.base_url.rstrip("/")
        self.budget = budget if budget is not None else QuotaBudget.from_settings(settings)
        self._session = session if session is not None else requests.Session()
        self._token_path = token_path
        self._clock = clock
        self._sleep = sleep
        self._max_attempts = max_attempts
        self._wait = WaitRetryAfterOrBackoff(
            backoff_initial_seconds, backoff_max_seconds, retry_after_cap_seconds
        )
        self._token_lock = threading.Lock()
        self._access_token = settings.access_token.get_secret_value()
        self._refresh_token = settings.refresh_token.get_secret_value()
        self._load_saved_token()
        self.calls_made = 0
        self.retries_made = 0

    # -- public -------------------------------------------------------------------------

    def call(
        self,
        path: str,
        biz: Mapping[str, Any],
        *,
        priority: CallPriority = ANY_CALL,
        label: str = "",
    ) -> dict[str, Any]:
        """POST a business API and return its ``data`` object (retries included).

        ``priority`` and ``label`` (the stream) go to the shared :class:`QuotaBudget`.
        """
        if not self._access_token:
            with self._token_lock:  # every stream starts at once: one token request
                if not self._access_token:
                    self.get_init_token()
        try:
            return self._call_with_retries(
                path, biz, authenticated=True, priority=priority, label=label
            )
        except TokenExpiredError:
            log.info("access token rejected on %s: renewing once", path)
            self.renew_token()
            try:
                return self._call_with_retries(
                    path, biz, authenticated=True, priority=priority, label=label
                )
            except TokenExpiredError as error:
                raise FatalApiError(
                    f"{path}: token rejected again right after renewal", code=error.code
                ) from error

    def get_init_token(self) -> TokenGrant:
        """Obtain a token for the merchant's own app (code = 6 random characters)."""
        code = self.settings.authorization_code or "".join(
            secrets.choice(string.ascii_letters + string.digits) for _ in range(6)
        )
        extra = {"grant_type": "authorization_code", "code": code}
        return self._store_grant(self._token_call(INIT_TOKEN_PATH, extra))

    def refresh_access_token(self) -> TokenGrant:
        if not self._refresh_token:
            raise TokenExpiredError("no refresh_token to refresh with", code=None)
        extra = {
            "grant_type": "refresh_token",
            "refresh_token": self._refresh_token,
            "scope": "all",
        }
        return self._store_grant(self._token_call(REFRESH_TOKEN_PATH, extra))

    def renew_token(self) -> None:
        """Refresh the token; if refreshing is impossible, request a new initial token."""
        with self._token_lock:
            try:
                self.refresh_access_token()
            except (FatalApiError, TokenExpiredError) as error:
                log.warning(
                    "token refresh failed (%s); requesting a new token", type(error).__name__
                )
                self.get_init_token()

    def close(self) -> None:
        self._session.close()

    # -- internals ----------------------------------------------------------------------

    def _token_call(self, path: str, extra: Mapping[str, str]) -> dict[str, Any]:
        return self._call_with_retries(path, extra, authenticated=False)

    def _store_grant(self, data: Mapping[str, Any]) -> TokenGrant:
        grant = TokenGrant(
            access_token=str(data["access_token"]),
            refresh_token=str(data.get("refresh_token") or ""),
            expires_in=int(data.get("expires_in") or 0),
            scope=str(data.get("scope") or "all"),
            obtained_at=self._clock(),
        )
        self._access_token = grant.access_token
        self._refresh_token = grant.refresh_token or self._refresh_token
        if self._token_path is not None:
            atomic_write_json(
                self._token_path, {**asdict(grant), "app_key": self.settings.app_key}, mode=0o600
            )
        log.info("obtained access token (expires in %s s)", grant.expires_in)
        return grant

    def _load_saved_token(self) -> None:
        if self._token_path is None:
            return
        saved = read_json(self._token_path)
        if saved and saved.get("app_key") == self.settings.app_key and saved.get("access_token"):
            self._access_token = str(saved["access_token"])
            self._refresh_token = str(saved.get("refresh_token") or self._refresh_token)

    def _form(self, payload: Mapping[str, Any], authenticated: bool) -> dict[str, str]:
        fields: dict[str, str] = {
            "app_key": self.settings.app_key,
            "timestamp": str(int(self._clock())),
            "charset": "utf-8",
        }
        if authenticated:
            fields["access_token"] = self._access_token
            fields["version"] = "2"
            fields["biz"] = encode_biz(payload)
        else:
            fields.update({key: str(value) for key, value in payload.items()})
        return signed_form(self.settings.app_secret.get_secret_value(), fields)

    def _call_with_retries(
        self,
        path: str,
        payload: Mapping[str, Any],
        *,
        authenticated: bool,
        priority: CallPriority = ANY_CALL,
        label: str = "",
    ) -> dict[str, Any]:
        retrying = Retrying(
            retry=retry_if_exception_type(RetriableApiError),
            wait=self._wait,
            stop=stop_after_attempt(self._max_attempts),
            sleep=self._sleep,
            reraise=True,
            before_sleep=self._before_sleep,
        )
        return retrying(self._post_once, path, payload, authenticated, priority, label)

    def _before_sleep(self, retry_state: RetryCallState) -> None:
        self.retries_made += 1
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        wait = retry_state.next_action.sleep if retry_state.next_action else 0.0
        if isinstance(error, RateLimitedError):
            self.budget.note_throttled(wait)
        log.warning(
            "attempt %d failed (%s: %s); retrying in %.2f s",
            retry_state.attempt_number,
            type(error).__name__,
            error,
            wait,
        )

    def _post_once(
        self,
        path: str,
        payload: Mapping[str, Any],
        authenticated: bool,
        priority: CallPriority = ANY_CALL,
        label: str = "",
    ) -> dict[str, Any]:
        with self.budget.slot(priority.urgency, label or path, since=priority.since):
            form = self._form(payload, authenticated)  # fresh timestamp and sign per attempt
            self.calls_made += 1
            started = time.monotonic()
            try:
                response = self._session.post(
                    self.base_url + path,
                    data=form,
                    headers={"Content-Type": FORM_CONTENT_TYPE},
                    timeout=self.settings.timeout_seconds,
                )
            except requests.RequestException as error:  # refused, timed out, cut mid-body
                metrics.count_api_call(path, "network", time.monotonic() - started, error)
                raise RetriableTransportError(f"{path}: {type(error).__name__}") from error
        elapsed = time.monotonic() - started
        log.debug("POST %s -> HTTP %s in %.0f ms", path, response.status_code, elapsed * 1000)
        code = f"http_{response.status_code}"
        try:
            body = self._answer_of(path, response)
            code = str(int(body["code"]))
            data = self._data_of(path, body)
        except Exception as error:
            metrics.count_api_call(path, code, elapsed, error)
            raise
        metrics.count_api_call(path, code, elapsed)
        return data

    @staticmethod
    def _answer_of(path: str, response: requests.Response) -> dict[str, Any]:
        """The JSON answer, once the HTTP status passed the error table."""
        if not 200 <= response.status_code < 300:
            retry_after = _parse_retry_after(response.headers.get("Retry-After"))
            raise_for_http_status(response.status_code, path, retry_after)
        try:
            body = response.json()
        except (json.JSONDecodeError, ValueError) as error:
            raise RetriableTransportError(f"{path}: response is not JSON") from error
        if not isinstance(body, dict) or "code" not in body:
            raise RetriableTransportError(f"{path}: response has no 'code'")
        return body

    @staticmethod
    def _data_of(path: str, body: dict[str, Any]) -> dict[str, Any]:
        """``data`` of an answer whose ``code`` passed the error table."""
        code = int(body["code"])
        raise_for_api_code(code, str(body.get("msg", "")), path)
        data = body.get("data")
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise ConnectorError(f"{path}: 'data' is {type(data).__name__}, expected an object")
        return data
