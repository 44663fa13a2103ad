"""One message, laid out the way each vendor takes it.

A :class:`ChatMessage` is vendor-neutral: a title, a severity, markdown-ish lines, a link
to the screen and the owners to @-mention. ``payload(vendor, message, recipients)`` turns
it into the JSON body each robot expects; mentions use what the settings know of each
owner (mobile for DingTalk and WeCom, user ids for Feishu and WeCom markdown).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from common.settings import RecipientSettings


class Vendor(StrEnum):
    feishu = "feishu"
    dingtalk = "dingtalk"
    wecom = "wecom"
    webhook = "webhook"


FEISHU_HEADER = {"critical": "red", "warning": "orange", "info": "blue"}
MAX_BODY_BYTES = {Vendor.feishu: 20_000, Vendor.dingtalk: 20_000, Vendor.wecom: 4_000,
                  Vendor.webhook: 200_000}  # fmt: skip
WECOM_CONTENT_BYTES = {"markdown": 4096, "text": 2048}
LINK_LABEL = "打开大屏"


@dataclass(frozen=True)
class ChatImage:
    """A picture, in the form each vendor takes it: DingTalk fetches ``url`` itself, a
    Feishu card shows an uploaded ``feishu_key``, WeCom takes the PNG inline (a message of
    its own, sent before the text)."""

    png: bytes
    url: str | None = None
    feishu_key: str | None = None


@dataclass(frozen=True)
class ChatMessage:
    title: str
    severity: str  # critical | warning | info
    lines: tuple[str, ...]
    link: str | None = None
    mentions: tuple[str, ...] = ()  # owner names, looked up in the recipients
    image: ChatImage | None = None


def payload(vendor: Vendor, message: ChatMessage,
            recipients: Mapping[str, RecipientSettings]) -> dict[str, Any]:  # fmt: skip
    """The vendor's JSON body, its item lines cut so that it fits the vendor's size limit."""
    build = BUILDERS[vendor]
    people = [recipients.get(name, RecipientSettings()) for name in message.mentions]
    keep = len(message.lines)
    while True:
        shown = list(message.lines[:keep])
        if keep < len(message.lines):
            shown.append(f"…… 另有 {len(message.lines) - keep} 项")
        body = build(message, shown, people)
        if keep == 0 or within_limits(vendor, body):
            return body
        keep -= max(1, keep // 10)


def within_limits(vendor: Vendor, body: dict[str, Any]) -> bool:
    """The vendor takes a body this size (WeCom also limits the text itself: markdown
    content 4096 bytes, text content 2048)."""
    if len(json.dumps(body, ensure_ascii=False).encode()) > MAX_BODY_BYTES[vendor]:
        return False
    kind = body.get("msgtype")
    if vendor is Vendor.wecom and kind in WECOM_CONTENT_BYTES:
        return len(str(body[kind].get("content", "")).encode()) <= WECOM_CONTENT_BYTES[kind]
    return True


def fits(vendor: Vendor, message: ChatMessage,
         recipients: Mapping[str, RecipientSettings]) -> bool:  # fmt: skip
    """Every line of ``message`` fits one body of ``vendor`` (nothing would be cut)."""
    people = [recipients.get(name, RecipientSettings()) for name in message.mentions]
    return within_limits(vendor, BUILDERS[vendor](message, list(message.lines), people))


def _feishu(
    message: ChatMessage, lines: list[str], people: list[RecipientSettings]
) -> dict[str, Any]:
    text = "\n".join(lines)
    ats = " ".join(f"<at id={p.feishu_user_id}></at>" for p in people if p.feishu_user_id)
    elements: list[dict[str, Any]] = [
        {"tag": "div", "text": {"tag": "lark_md", "content": text + (f"\n{ats}" if ats else "")}}
    ]
    if message.image is not None and message.image.feishu_key:
        elements.insert(0, {"tag": "img", "img_key": message.image.feishu_key,
                            "alt": {"tag": "plain_text", "content": message.title}})  # fmt: skip
    if message.link:
        elements.append({"tag": "action", "actions": [{
            "tag": "button", "type": "primary", "url": message.link,
            "text": {"tag": "plain_text", "content": LINK_LABEL}}]})  # fmt: skip
    return {"msg_type": "interactive", "card": {
        "config": {"wide_screen_mode": True},
        "header": {"template": FEISHU_HEADER.get(message.severity, "blue"),
                   "title": {"tag": "plain_text", "content": message.title}},
        "elements": elements}}  # fmt: skip


def _dingtalk(
    message: ChatMessage, lines: list[str], people: list[RecipientSettings]
) -> dict[str, Any]:
    mobiles = [p.mobile for p in people if p.mobile]
    text = f"#### {message.title}\n\n"
    if message.image is not None and message.image.url:
        text += f"![{message.title}]({message.image.url})\n\n"
    text += "\n".join(f"- {line}" for line in lines)
    if message.link:
        text += f"\n\n[{LINK_LABEL}]({message.link})"
    if mobiles:  # DingTalk only notifies a mobile that also appears in the text
        text += "\n\n" + " ".join(f"@{mobile}" for mobile in mobiles)
    return {"msgtype": "markdown", "markdown": {"title": message.title, "text": text},
            "at": {"atMobiles": mobiles, "isAtAll": False}}  # fmt: skip


def _wecom(
    message: ChatMessage, lines: list[str], people: list[RecipientSettings]
) -> dict[str, Any]:
    body = "\n".join(f"> {line}" for line in lines)
    link = f"\n[{LINK_LABEL}]({message.link})" if message.link else ""
    if any(p.mobile and not p.wecom_user_id for p in people):
        # Markdown cannot mention by mobile; a text message can.
        content = "\n".join([message.title, *lines, *([message.link] if message.link else [])])
        return {"msgtype": "text", "text": {
            "content": content,
            "mentioned_mobile_list": [p.mobile for p in people if p.mobile]}}  # fmt: skip
    ats = " ".join(f"<@{p.wecom_user_id}>" for p in people if p.wecom_user_id)
    return {"msgtype": "markdown", "markdown": {
        "content": f"**{message.title}**\n{body}{link}" + (f"\n{ats}" if ats else "")}}  # fmt: skip


def _webhook(
    message: ChatMessage, lines: list[str], _people: list[RecipientSettings]
) -> dict[str, Any]:
    image = message.image.url if message.image is not None else None
    return {"source": "erpbi", "title": message.title, "severity": message.severity,
            "lines": lines, "link": message.link, "mentions": list(message.mentions),
            "image_url": image}  # fmt: skip


WECOM_IMAGE_MAX_BYTES = 2 * 1024 * 1024


def wecom_image(png: bytes) -> dict[str, Any]:
    """WeCom's image message: the picture inline, base64 with its MD5 (at most 2 MB)."""
    if len(png) > WECOM_IMAGE_MAX_BYTES:
        raise ValueError(f"a WeCom image is at most 2 MB; this one is {len(png):,} bytes")
    return {"msgtype": "image", "image": {"base64": base64.b64encode(png).decode(),
                                          "md5": hashlib.md5(png).hexdigest()}}  # noqa: S324  # fmt: skip


BUILDERS = {Vendor.feishu: _feishu, Vendor.dingtalk: _dingtalk, Vendor.wecom: _wecom,
            Vendor.webhook: _webhook}  # fmt: skip
