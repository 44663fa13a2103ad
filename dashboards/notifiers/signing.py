"""The vendors' signatures, exactly as documented.

- DingTalk custom robot: ``timestamp`` in ms; HMAC-SHA256 keyed by the secret over
  ``timestamp + "\\n" + secret``, base64, then URL-encoded; both go in the query string.
- Feishu custom bot: ``timestamp`` in s; HMAC-SHA256 keyed by ``timestamp + "\\n" +
  secret`` over an empty message, base64 (not URL-encoded); both go in the JSON body.
- Our generic webhook: ``X-ERPBI-Signature: sha256=<hex HMAC of timestamp.body>`` and
  ``X-ERPBI-Timestamp`` (s), so a receiver can refuse replays as the vendors do.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import quote_plus


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256)
    return quote_plus(base64.b64encode(digest.digest()).decode())


def feishu_sign(secret: str, timestamp_s: int) -> str:
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


def webhook_sign(secret: str, timestamp_s: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp_s}.".encode() + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()
