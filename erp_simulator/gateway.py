"""The open-API gateway of the simulator: envelope checks, tokens, quotas, fault injection.

Check order for a request: 429 storm -> injected fault -> app_key -> timestamp skew (140)
-> sign (10) -> quota (199 per second, 200 per minute; only accepted calls count) ->
access_token (100) -> parameters (130) -> answer. Quotas are per app_key across all APIs.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from connectors.jushuitan.signing import verify_sign
from erp_simulator.faults import Fault, Storm, is_first_page
from erp_simulator.store import ErpStore, ParameterError

__all__ = ["Fault", "Gateway", "Reply", "SimulatorConfig", "Storm", "api_reply"]

SUCCESS_MESSAGE = "执行成功"


@dataclass
class SimulatorConfig:
    """Behaviour knobs; defaults follow jushuitan-api.md (unknown facts are configurable)."""

    app_key: str = "erpbi-local-app"
    app_secret: str = "erpbi-local-secret"
    enforce_quota: bool = True
    quota_per_second: int = 5
    quota_per_minute: int = 100
    max_clock_skew_seconds: int = 600
    token_lifetime_seconds: int = 7 * 24 * 3600  # real lifetime unknown ("several days")
    ts_inclusive: bool = False  # ts filter is "ts > cursor"; True gives ">="
    received_first_page_delay_seconds: float = 0.0  # the real one is "sometimes slow"


@dataclass
class Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        return json.dumps(self.body, ensure_ascii=False).encode("utf-8")


def api_reply(code: int, msg: str, data: Any = None) -> Reply:
    return Reply(200, {"code": code, "msg": msg, "data": data})


class Gateway:
    def __init__(
        self, store: ErpStore, config: SimulatorConfig, clock: Callable[[], float] = time.time
    ):
        self.store = store
        self.config = config
        self.clock = clock
        self.lock = threading.Lock()
        self.faults: list[Fault] = []
        self.access_tokens: dict[str, float] = {}  # token -> expires at
        self.refresh_tokens: set[str] = set()
        self.accepted: dict[str, deque[float]] = {}
        self.requests_by_path: Counter[str] = Counter()
        self.replies_by_code: Counter[str] = Counter()
        self.storm = Storm()
        self.routes: dict[str, Callable[..., dict[str, Any]]] = store.routes

    # -- control --------------------------------------------------------------------------

    def add_faults(self, faults: list[Fault]) -> int:
        with self.lock:
            self.faults.extend(faults)
            return sum(fault.count for fault in self.faults)

    def clear_faults(self) -> None:
        """Drop pending faults and end a storm."""
        with self.lock:
            self.faults.clear()
            self.storm.until = 0.0

    def start_storm(
        self,
        seconds: float,
        http_status: int | None = 429,
        code: int | None = None,
        retry_after: float = 1.0,
    ) -> dict[str, Any]:
        """Throttle every call for ``seconds`` (HTTP 429 by default, or an API code)."""
        with self.lock:
            if code is not None:
                http_status = None
            self.storm = Storm(self.clock() + seconds, http_status, code, retry_after)
            return self.storm.describe(self.clock())

    def expire_tokens(self) -> int:
        with self.lock:
            count = len(self.access_tokens)
            self.access_tokens.clear()
            return count

    def set_quota(
        self, enabled: bool | None, per_second: int | None, per_minute: int | None
    ) -> None:
        with self.lock:
            if enabled is not None:
                self.config.enforce_quota = enabled
            if per_second is not None:
                self.config.quota_per_second = per_second
            if per_minute is not None:
                self.config.quota_per_minute = per_minute
            self.accepted.clear()

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {
                "config": {k: v for k, v in asdict(self.config).items() if k != "app_secret"},
                "faults_pending": [asdict(fault) for fault in self.faults if fault.count > 0],
                "requests_by_path": dict(self.requests_by_path),
                "replies_by_code": dict(self.replies_by_code),
                "active_access_tokens": len(self.access_tokens),
                "storm": self.storm.describe(self.clock()),
            }

    # -- requests ---------------------------------------------------------------------------

    def handle(self, path: str, form: dict[str, str]) -> Reply:
        with self.lock:
            self.requests_by_path[path] += 1
        reply = self._handle(path, form)
        key = str(reply.body.get("code")) if reply.status == 200 else f"http_{reply.status}"
        with self.lock:
            self.replies_by_code[key] += 1
        return reply

    def _take_fault(self, path: str, form: dict[str, str]) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.matches(path, form):
                    fault.count -= 1
                    return fault
            return None

    def _storm_reply(self) -> Reply | None:
        with self.lock:
            storm = self.storm
            if not storm.active(self.clock()):
                return None
            storm.answered += 1
        headers = {"Retry-After": f"{storm.retry_after:g}"}
        if storm.http_status is not None:
            return Reply(storm.http_status, {"error": "throttled (storm)"}, headers)
        return Reply(200, api_reply(storm.code or 199, "throttled (storm)").body, headers)

    def _fault_reply(self, fault: Fault) -> Reply:
        headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
        if fault.http_status is not None:
            return Reply(
                fault.http_status, {"error": f"injected HTTP {fault.http_status}"}, headers
            )
        return Reply(200, api_reply(fault.code or 0, "injected fault").body, headers)

    def _handle(self, path: str, form: dict[str, str]) -> Reply:
        storm = self._storm_reply()
        if storm is not None:
            return storm
        fault = self._take_fault(path, form)
        if fault is not None and fault.delay_seconds:
            time.sleep(fault.delay_seconds)
        if fault is not None and fault.replaces_answer:
            return self._fault_reply(fault)
        is_auth = path.startswith("/openWeb/auth/")
        if not is_auth and path not in self.routes:
            return Reply(404, {"error": f"no API {path}"})
        if form.get("app_key") != self.config.app_key:
            return api_reply(10, "app_key invalid")
        try:
            skew = abs(self.clock() - int(form.get("timestamp", "")))
        except ValueError:
            return api_reply(140, "timestamp invalid")
        if skew > self.config.max_clock_skew_seconds:
            return api_reply(140, f"timestamp out of range ({skew:.0f} s skew)")
        if not verify_sign(self.config.app_secret, form):
            return api_reply(10, "sign invalid")
        quota_code = self._over_quota(form["app_key"])
        if quota_code is not None:
            return quota_code
        if is_auth:
            return self._auth(path, form)
        if self.access_tokens.get(form.get("access_token", ""), 0) < self.clock():
            return api_reply(100, "access_token invalid or expired")
        try:
            biz = json.loads(form.get("biz") or "{}")
            if not isinstance(biz, dict):
                raise ParameterError("biz must be a JSON object")
            return api_reply(0, SUCCESS_MESSAGE, self._answer(path, biz, form, fault))
        except (ParameterError, json.JSONDecodeError) as error:
            return api_reply(130, f"parameter error: {error}")

    def _answer(
        self, path: str, biz: dict[str, Any], form: dict[str, str], fault: Fault | None
    ) -> dict[str, Any]:
        """The route's page, disturbed by a data fault if one matched."""
        delay = self.config.received_first_page_delay_seconds
        if delay and path == "/open/aftersale/received/query" and is_first_page(form):
            time.sleep(delay)
        effect = fault.effect if fault is not None else ""
        if fault is not None and effect == "out_of_order":
            stream = self.store.stream_of_path(path)
            if stream is not None:
                for _ in range(fault.rows):
                    self.store.touch(stream, modified_offset_seconds=fault.modified_offset_seconds)
        overlap = fault.rows if fault is not None and effect == "duplicate" else 0
        data = self.routes[path](biz, overlap=overlap) if overlap else self.routes[path](biz)
        if fault is not None and effect == "shift":
            list_key = "inventorys" if "inventorys" in data else "datas"
            self.store.touch_page(path, biz, data.get(list_key) or [])
        return data

    def _over_quota(self, app_key: str) -> Reply | None:
        if not self.config.enforce_quota:
            return None
        now = self.clock()
        with self.lock:
            calls = self.accepted.setdefault(app_key, deque())
            while calls and now - calls[0] >= 60.0:
                calls.popleft()
            last_second = sum(1 for t in calls if now - t < 1.0)
            if last_second >= self.config.quota_per_second:
                return api_reply(199, f"over {self.config.quota_per_second} requests per second")
            if len(calls) >= self.config.quota_per_minute:
                return api_reply(200, f"over {self.config.quota_per_minute} requests per minute")
            calls.append(now)
        return None

    def _issue_tokens(self) -> dict[str, Any]:
        access, refresh = uuid.uuid4().hex, uuid.uuid4().hex
        with self.lock:
            self.access_tokens[access] = self.clock() + self.config.token_lifetime_seconds
            self.refresh_tokens.add(refresh)
        return {
            "access_token": access,
            "expires_in": self.config.token_lifetime_seconds,
            "refresh_token": refresh,
            "scope": "all",
        }

    def _auth(self, path: str, form: dict[str, str]) -> Reply:
        if path == "/openWeb/auth/getInitToken":
            if form.get("grant_type") != "authorization_code" or not form.get("code"):
                return api_reply(130, "grant_type=authorization_code and code are required")
            return api_reply(0, SUCCESS_MESSAGE, self._issue_tokens())
        if path == "/openWeb/auth/refreshToken":
            if form.get("grant_type") != "refresh_token":
                return api_reply(130, "grant_type must be refresh_token")
            with self.lock:
                known = form.get("refresh_token", "") in self.refresh_tokens
                if known:  # refreshing rotates both tokens
                    self.refresh_tokens.discard(form["refresh_token"])
            if not known:
                return api_reply(150, "refresh_token invalid: refresh forbidden")
            return api_reply(0, SUCCESS_MESSAGE, self._issue_tokens())
        return Reply(404, {"error": f"no API {path}"})
