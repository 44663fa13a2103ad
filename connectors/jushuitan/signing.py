"""The open-platform sign: md5(app_secret + k1v1k2v2...) over sorted, non-empty fields.

``biz`` is signed as the exact JSON string that is sent, so callers must serialise it
once (see :func:`encode_biz`) and use that same string in the form body.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

SIGN_FIELD = "sign"


def encode_biz(biz: Mapping[str, Any]) -> str:
    """Serialise business parameters compactly, keeping Chinese text unescaped."""
    return json.dumps(dict(biz), ensure_ascii=False, separators=(",", ":"))


def sign_fields(app_secret: str, fields: Mapping[str, str | int | None]) -> str:
    """Return the 32-char lowercase hex sign of ``fields`` (``sign`` itself is ignored)."""
    parts = [app_secret]
    for key in sorted(fields):
        value = fields[key]
        if key == SIGN_FIELD or value is None or value == "":
            continue
        parts.append(f"{key}{value}")
    return hashlib.md5("".join(parts).encode("utf-8")).hexdigest()


def signed_form(app_secret: str, fields: Mapping[str, str | int | None]) -> dict[str, str]:
    """The form body to POST: the non-empty fields as strings plus their ``sign``."""
    form = {key: str(value) for key, value in fields.items() if value is not None and value != ""}
    form.pop(SIGN_FIELD, None)
    form[SIGN_FIELD] = sign_fields(app_secret, form)
    return form


def verify_sign(app_secret: str, form: Mapping[str, str]) -> bool:
    """True when ``form['sign']`` matches the other fields (used by the simulator)."""
    expected = sign_fields(app_secret, form)
    return form.get(SIGN_FIELD, "").lower() == expected
