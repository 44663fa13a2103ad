"""Local stand-ins for the chat vendors' robot endpoints, as strict as the vendors.

One loopback HTTP server answers all four protocols the way the vendor does (HTTP 200
with an error code in the body): it checks the token, the signature and that its
timestamp is within the hour, enforces the vendor's rate limit (DingTalk also blocks the
robot for 10 minutes), checks the body's size and message type, and records what was
accepted. Faults can be injected: the next N requests answered HTTP 500 or throttled.

- DingTalk  POST /robot/send?access_token=T[&timestamp=ms&sign=...]   errcode
- Feishu    POST /open-apis/bot/v2/hook/T   body {timestamp, sign, msg_type, ...}   code
- WeCom     POST /cgi-bin/webhook/send?key=K   errcode
- webhook   POST /hook   X-ERPBI-Timestamp, X-ERPBI-Signature   HTTP 401 when wrong
- Feishu app  POST /open-apis/auth/v3/tenant_access_token/internal, /open-apis/im/v1/images
  (multipart, Bearer token): the image_key a card's ``img`` element must name

Pictures are checked as the vendor shows them: DingTalk fetches a markdown image's URL
(recorded in ``pictures``, None when it could not), WeCom's inline image must decode,
match its MD5 and be at most 2 MB, a Feishu card may only show an uploaded image_key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
import urllib.request
from collections import defaultdict, deque
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import SecretStr

from common.settings import AlertsSettings, ChatRobotSettings

HOUR_MS = 3_600_000
VENDOR_LIMITS = {  # (messages, seconds) windows, as documented
    "dingtalk": ((20, 60.0),),
    "feishu": ((5, 1.0), (100, 60.0)),
    "wecom": ((20, 60.0),),
    "webhook": (),
}
DINGTALK_BLOCK_SECONDS = 600.0
FEISHU_APP_ID, FEISHU_APP_SECRET = "cli_test_app", "app-secret-xyz"
MARKDOWN_IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")
Checked = tuple[int, dict[str, Any], list[str]]  # HTTP status, answer, who was mentioned


@dataclass(frozen=True)
class Arrived:
    """One request as a vendor's endpoint sees it (``fault``: an injected one, if any)."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    raw: bytes
    body: Any
    fault: str | None


@dataclass
class Arrival:
    body: dict[str, Any]
    at: float
    mentioned: list[str] = field(default_factory=list)  # who would really be notified


class ChatReceivers:
    def __init__(self, token: str = "tok-123", secret: str = "SEC-abc",
                 limits: dict[str, tuple[tuple[int, float], ...]] | None = None,
                 dingtalk_block_seconds: float = DINGTALK_BLOCK_SECONDS) -> None:  # fmt: skip
        self.token, self.secret = token, secret
        self.limits = limits or VENDOR_LIMITS
        self.dingtalk_block_seconds = dingtalk_block_seconds
        self.received: dict[str, list[Arrival]] = defaultdict(list)
        self.pictures: dict[str, list[bytes | None]] = defaultdict(list)  # as shown, per vendor
        self.tenant_tokens: set[str] = set()
        self.image_keys: dict[str, bytes] = {}
        self.refused: dict[str, list[int]] = defaultdict(list)  # vendor error codes sent
        self._times: dict[str, deque[float]] = defaultdict(deque)
        self._blocked_until: dict[str, float] = {}
        self._faults: dict[str, deque[str]] = defaultdict(deque)
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # -- use ----------------------------------------------------------------------------
    def __enter__(self) -> ChatReceivers:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def settings(self, secret: str | None = None) -> AlertsSettings:
        """Alert settings pointing every robot here (``secret`` overrides the signing one)."""
        key = SecretStr(self.secret if secret is None else secret)

        def robot(path: str, signed: bool = True) -> ChatRobotSettings:
            url = SecretStr(self.base_url + path)
            return ChatRobotSettings(url=url, secret=key) if signed else ChatRobotSettings(url=url)

        return AlertsSettings(
            dingtalk=robot(f"/robot/send?access_token={self.token}"),
            feishu=robot(f"/open-apis/bot/v2/hook/{self.token}"),
            wecom=robot(f"/cgi-bin/webhook/send?key={self.token}", signed=False),
            webhook=robot("/hook"),
        )

    def fail_next(self, vendor: str, times: int, how: str = "500") -> None:
        """The next ``times`` requests to ``vendor`` get HTTP 500 (``how="500"``) or the
        vendor's throttling answer (``how="throttle"``)."""
        with self._lock:
            self._faults[vendor].extend([how] * times)

    # -- protocol -----------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receivers = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = receivers.answer(self.path, dict(self.headers), raw)
                data = json.dumps(answer, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def answer(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any]]:
        parts = urlsplit(path)
        if parts.path.startswith(("/open-apis/auth/", "/open-apis/im/")):
            return self._feishu_app(parts.path, headers, raw)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        vendor = {
            "/robot/send": "dingtalk",
            "/cgi-bin/webhook/send": "wecom",
            "/hook": "webhook",
        }.get(parts.path, "feishu" if parts.path.startswith("/open-apis/bot/v2/hook/") else "")
        if not vendor:
            return 404, {"error": "no such endpoint"}
        with self._lock:
            fault = self._faults[vendor].popleft() if self._faults[vendor] else None
        if fault == "500":
            return 500, {"error": "injected server error"}
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        check = {"dingtalk": self._dingtalk, "feishu": self._feishu, "wecom": self._wecom,
                 "webhook": self._webhook}[vendor]  # fmt: skip
        status, answer, mentioned = check(Arrived(parts.path, query, headers, raw, body, fault))
        with self._lock:
            if status == 200 and _code(answer) == 0:
                self.received[vendor].append(Arrival(body or {}, time.monotonic(), mentioned))
            elif status == 200:
                self.refused[vendor].append(_code(answer))
        return status, answer

    def _over_limit(self, vendor: str) -> bool:
        now = time.monotonic()
        with self._lock:
            if self._blocked_until.get(vendor, 0) > now:
                return True
            times = self._times[vendor]
            for count, seconds in self.limits[vendor]:
                if sum(1 for t in times if t > now - seconds) >= count:
                    if vendor == "dingtalk":
                        self._blocked_until[vendor] = now + self.dingtalk_block_seconds
                    return True
            times.append(now)
            while len(times) > 1000:
                times.popleft()
        return False

    def _dingtalk(self, r: Arrived) -> Checked:
        query, fault, body = r.query, r.fault, r.body
        if query.get("access_token") != self.token:
            return 200, {"errcode": 300001, "errmsg": "token is not exist"}, []
        timestamp, sign = query.get("timestamp", ""), query.get("sign", "")
        expected = base64.b64encode(
            hmac.new(
                self.secret.encode(), f"{timestamp}\n{self.secret}".encode(), hashlib.sha256
            ).digest()
        ).decode()
        if (
            not timestamp.isdigit()
            or abs(time.time() * 1000 - int(timestamp)) > HOUR_MS
            or sign != expected
        ):
            return 200, {"errcode": 310000, "errmsg": "sign not match"}, []
        if fault == "throttle" or self._over_limit("dingtalk"):
            return (
                200,
                {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"},
                [],
            )
        if not isinstance(body, dict) or body.get("msgtype") not in {
            "text",
            "link",
            "markdown",
            "actionCard",
            "feedCard",
        }:
            return 200, {"errcode": 40035, "errmsg": "缺少参数 json"}, []
        text = json.dumps(body.get(body["msgtype"], {}), ensure_ascii=False)
        for url in MARKDOWN_IMAGE.findall(str(body.get("markdown", {}).get("text", ""))):
            self.pictures["dingtalk"].append(_fetch(url))  # as DingTalk's servers do
        mobiles = body.get("at", {}).get("atMobiles", [])
        return 200, {"errcode": 0, "errmsg": "ok"}, [m for m in mobiles if f"@{m}" in text]

    def _feishu(self, r: Arrived) -> Checked:
        path, raw, fault, body = r.path, r.raw, r.fault, r.body
        if path.rsplit("/", 1)[-1] != self.token:
            return (
                200,
                {"code": 19001, "msg": "param invalid: incoming webhook access token invalid"},
                [],
            )
        if len(raw) > 20 * 1024 or not isinstance(body, dict) or "msg_type" not in body:
            return 200, {"code": 9499, "msg": "Bad Request"}, []
        timestamp = str(body.get("timestamp", ""))
        expected = base64.b64encode(
            hmac.new(f"{timestamp}\n{self.secret}".encode(), b"", hashlib.sha256).digest()
        ).decode()
        if (
            not timestamp.isdigit()
            or abs(time.time() - int(timestamp)) > 3600
            or body.get("sign") != expected
        ):
            return (
                200,
                {
                    "code": 19021,
                    "msg": "sign match fail or timestamp is not within one hour from current time",
                },
                [],
            )
        if fault == "throttle" or self._over_limit("feishu"):
            return 200, {"code": 11232, "msg": "frequency limited psm"}, []
        ats = json.dumps(body.get("card", body.get("content", {})), ensure_ascii=False)
        shown = [e.get("img_key") for e in body.get("card", {}).get("elements", [])
                 if isinstance(e, dict) and e.get("tag") == "img"]  # fmt: skip
        if any(key not in self.image_keys for key in shown):
            return 200, {"code": 9499, "msg": "Bad Request: invalid image_key"}, []
        self.pictures["feishu"] += [self.image_keys[key] for key in shown]
        mentioned = [chunk.split(">")[0] for chunk in ats.split("<at id=")[1:]]
        return (
            200,
            {"StatusCode": 0, "StatusMessage": "success", "code": 0, "msg": "success"},
            mentioned,
        )

    def _wecom(self, r: Arrived) -> Checked:
        query, fault, body = r.query, r.fault, r.body
        if query.get("key") != self.token:
            return 200, {"errcode": 93000, "errmsg": "invalid webhook url"}, []
        if fault == "throttle" or self._over_limit("wecom"):
            return 200, {"errcode": 45009, "errmsg": "api freq out of limit"}, []
        kind = body.get("msgtype") if isinstance(body, dict) else None
        if kind not in {"text", "markdown", "image", "news", "file", "template_card"}:
            return 200, {"errcode": 40008, "errmsg": "invalid message type"}, []
        if kind == "markdown" and len(body["markdown"].get("content", "").encode()) > 4096:
            return 200, {"errcode": 40058, "errmsg": "markdown.content exceed max length 4096"}, []
        if kind == "text" and len(body["text"].get("content", "").encode()) > 2048:
            return 200, {"errcode": 40058, "errmsg": "text.content exceed max length 2048"}, []
        if kind == "image":
            image = body.get("image", {})
            try:
                png = base64.b64decode(image.get("base64", ""), validate=True)
            except ValueError:
                return 200, {"errcode": 40009, "errmsg": "invalid image size"}, []
            if not png or len(png) > 2 * 1024 * 1024:
                return 200, {"errcode": 40009, "errmsg": "invalid image size"}, []
            if hashlib.md5(png).hexdigest() != image.get("md5"):  # noqa: S324
                return 200, {"errcode": 301019, "errmsg": "media md5 not match"}, []
            self.pictures["wecom"].append(png)
        mentioned = (
            list(body.get("text", {}).get("mentioned_mobile_list", [])) if kind == "text" else []
        )
        return 200, {"errcode": 0, "errmsg": "ok"}, mentioned

    def _webhook(self, r: Arrived) -> Checked:
        headers, raw, body = r.headers, r.raw, r.body
        lower = {k.lower(): v for k, v in headers.items()}
        timestamp = lower.get("x-erpbi-timestamp", "")
        expected = (
            "sha256="
            + hmac.new(
                self.secret.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256
            ).hexdigest()
        )
        if (
            not timestamp.isdigit()
            or abs(time.time() - int(timestamp)) > 300
            or lower.get("x-erpbi-signature") != expected
        ):
            return 401, {"error": "bad signature or stale timestamp"}, []
        if not isinstance(body, dict):
            return 400, {"error": "not JSON"}, []
        return 200, {"ok": True}, list(body.get("mentions", []))

    def _feishu_app(self, path: str, headers: dict[str, str],
                    raw: bytes) -> tuple[int, dict[str, Any]]:  # fmt: skip
        """A Feishu app's token and image upload, as the open platform answers them."""
        if path.endswith("/tenant_access_token/internal"):
            body = json.loads(raw or b"{}")
            if (body.get("app_id"), body.get("app_secret")) != (FEISHU_APP_ID, FEISHU_APP_SECRET):
                return 200, {"code": 10014, "msg": "app secret invalid"}
            token = "t-" + secrets.token_hex(8)
            with self._lock:
                self.tenant_tokens.add(token)
            return 200, {"code": 0, "msg": "ok", "tenant_access_token": token, "expire": 7200}
        lower = {k.lower(): v for k, v in headers.items()}
        if lower.get("authorization", "").removeprefix("Bearer ") not in self.tenant_tokens:
            return 200, {"code": 99991663, "msg": "Invalid access token for authorization"}
        form = BytesParser(policy=email_policy).parsebytes(
            f"Content-Type: {lower.get('content-type', '')}\r\n\r\n".encode() + raw
        )
        fields = {part.get_param("name", header="content-disposition"): part
                  for part in form.iter_parts()}  # fmt: skip
        image = fields.get("image")
        kind = fields.get("image_type")
        png = image.get_payload(decode=True) if image is not None else b""
        if kind is None or kind.get_content().strip() != "message" or not png:
            return 200, {"code": 234001, "msg": "Invalid request param."}
        if len(png) > 10 * 1024 * 1024:
            return 200, {"code": 234006, "msg": "The file size exceed the max value."}
        key = "img_v3_" + secrets.token_hex(8)
        with self._lock:
            self.image_keys[key] = png
        return 200, {"code": 0, "msg": "success", "data": {"image_key": key}}


def _fetch(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
            return bytes(response.read())
    except OSError:
        return None


def _code(answer: dict[str, Any]) -> int:
    return int(answer.get("errcode", answer.get("code", 0)) or 0)
