"""Send one body to one robot: signed, within the vendor's rate limit, retried when the
vendor throttles or fails, refused loudly when it says the request itself is wrong.

The vendors answer HTTP 200 with an error code in the body; the tables below say which
codes mean "try again later" and which mean "this will never pass". Retries use tenacity
(exponential backoff, capped), re-signing every attempt since signatures carry a time.
The rate window is ours, per robot and in-process (the alert service is one process):
a message waits for room instead of being dropped. Robot URLs hold their tokens and are
never logged; an error names the vendor only.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential,
)

from common.settings import ChatRobotSettings
from dashboards.notifiers.message import Vendor
from dashboards.notifiers.signing import dingtalk_sign, feishu_sign, webhook_sign

log = logging.getLogger(__name__)

# (messages, seconds) windows per robot, from the vendors' documentation.
RATE_LIMITS: dict[Vendor, tuple[tuple[int, float], ...]] = {
    Vendor.dingtalk: ((20, 60.0),),
    Vendor.feishu: ((5, 1.0), (100, 60.0)),
    Vendor.wecom: ((20, 60.0),),
    Vendor.webhook: (),
}
THROTTLED_CODES = {
    Vendor.dingtalk: {130101: "发送太快,机器人被限流"},
    Vendor.feishu: {11232: "发送频率超限"},
    Vendor.wecom: {45009: "接口调用超过限制"},
}
REFUSED_CODES = {
    Vendor.dingtalk: {310000: "签名、时间戳、关键词或 IP 校验未通过", 300001: "token 无效"},
    Vendor.feishu: {19021: "签名校验失败", 19024: "关键词校验失败", 9499: "请求格式错误",
                    19001: "webhook token 无效"},  # fmt: skip
    Vendor.wecom: {93000: "webhook key 无效", 40008: "消息类型无效", 44004: "内容为空"},
}  # fmt: skip


class DeliveryRefused(RuntimeError):
    """The vendor refused the message itself (signature, token, format): no retry helps."""


class TryAgain(RuntimeError):
    """Throttled, a server error or no connection: worth another attempt later."""


@dataclass(frozen=True)
class Delivered:
    attempts: int
    seconds: float


class RateWindow:
    """At most ``count`` sends per ``seconds`` for each window; :meth:`wait` blocks until
    the next send fits (sliding windows, clock and sleep injectable for tests)."""

    def __init__(self, limits: tuple[tuple[int, float], ...],
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:  # fmt: skip
        self.limits = limits
        self.clock, self.sleep = clock, sleep
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def wait(self) -> float:
        waited = 0.0
        with self._lock:
            while (delay := self._delay(self.clock())) > 0:
                self.sleep(delay)
                waited += delay
            self._sent.append(self.clock())
        return waited

    def would_wait(self) -> float:
        """Seconds the next send would wait now (0: there is room)."""
        with self._lock:
            return self._delay(self.clock())

    def sent(self) -> None:
        """The send :meth:`wait` made room for has been answered: count it from now, since
        the vendor counted it somewhere between the two, so our window never ends first."""
        with self._lock:
            if self._sent:
                self._sent[-1] = max(self._sent[-1], self.clock())

    def _delay(self, now: float) -> float:
        longest = max((seconds for _, seconds in self.limits), default=0.0)
        while self._sent and self._sent[0] <= now - longest:
            self._sent.popleft()
        delay = 0.0
        for count, seconds in self.limits:
            recent = [t for t in self._sent if t > now - seconds]
            if len(recent) >= count:
                delay = max(delay, recent[-count] + seconds - now)
        return delay


class Robot:
    def __init__(self, vendor: Vendor, settings: ChatRobotSettings, *,
                 give_up_after: float = 600.0, max_backoff: float = 60.0,
                 window: RateWindow | None = None,
                 wall_clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self.vendor = vendor
        self.wall_clock = wall_clock  # the signatures' timestamps
        self.settings = settings
        self.give_up_after = give_up_after
        self.max_backoff = max_backoff
        self.window = window or RateWindow(RATE_LIMITS[vendor])
        self.session = requests.Session()

    def send(self, body: dict[str, Any]) -> Delivered:
        """Deliver ``body`` or raise :class:`DeliveryRefused` / :class:`TryAgain` (the
        latter after ``give_up_after`` seconds of retrying)."""
        started = time.monotonic()
        retrying = Retrying(
            retry=retry_if_exception_type(TryAgain),
            wait=wait_exponential(multiplier=0.5, max=self.max_backoff),
            stop=stop_after_delay(self.give_up_after),
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                self.window.wait()
                self._post(body)
        attempts = retrying.statistics.get("attempt_number", 1)
        return Delivered(attempts, time.monotonic() - started)

    def _post(self, body: dict[str, Any]) -> None:
        url, data, headers = self._signed(body)
        try:
            response = self.session.post(url, data=data, headers=headers, timeout=10)
        except requests.RequestException as error:
            raise TryAgain(f"{self.vendor}: no answer ({type(error).__name__})") from None
        finally:
            self.window.sent()
        if response.status_code == 429 or response.status_code >= 500:
            raise TryAgain(f"{self.vendor}: HTTP {response.status_code}")
        if response.status_code >= 400:
            raise DeliveryRefused(f"{self.vendor}: HTTP {response.status_code}")
        self._check_answer(response)

    def _check_answer(self, response: requests.Response) -> None:
        if self.vendor is Vendor.webhook:
            return
        try:
            answer = response.json()
        except ValueError:
            raise TryAgain(f"{self.vendor}: an answer that is not JSON") from None
        code = int(answer.get("errcode", answer.get("code", answer.get("StatusCode", 0))) or 0)
        if code == 0:
            return
        if code in THROTTLED_CODES[self.vendor]:
            raise TryAgain(f"{self.vendor}: {code} {THROTTLED_CODES[self.vendor][code]}")
        meaning = REFUSED_CODES[self.vendor].get(code, answer.get("errmsg") or answer.get("msg"))
        raise DeliveryRefused(f"{self.vendor}: {code} {meaning}")

    def _signed(self, body: dict[str, Any]) -> tuple[str, bytes, dict[str, str]]:
        url = self.settings.url.get_secret_value()
        secret = self.settings.secret.get_secret_value()
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if self.vendor is Vendor.dingtalk and secret:
            now_ms = int(self.wall_clock() * 1000)
            joiner = "&" if urlsplit(url).query else "?"
            url += f"{joiner}timestamp={now_ms}&sign={dingtalk_sign(secret, now_ms)}"
        elif self.vendor is Vendor.feishu and secret:
            now_s = int(self.wall_clock())
            body = {"timestamp": str(now_s), "sign": feishu_sign(secret, now_s), **body}
        data = json.dumps(body, ensure_ascii=False).encode()
        if self.vendor is Vendor.webhook and secret:
            now_s = int(self.wall_clock())
            headers["X-ERPBI-Timestamp"] = str(now_s)
            headers["X-ERPBI-Signature"] = webhook_sign(secret, now_s, data)
        return url, data, headers
