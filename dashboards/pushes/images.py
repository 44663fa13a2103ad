"""How a push's picture reaches each vendor, and what to say when it cannot.

- DingTalk fetches the picture itself: it is written into the picture folder, which the
  push service serves on ``push.image_port``, and linked under ``push.image_base_url``
  (the public address a reverse proxy gives that folder). No base URL: no picture.
- Feishu shows an ``image_key``: the picture is uploaded through a Feishu app
  (``push.feishu_app_id``/``feishu_app_secret``; a custom bot cannot upload). No app: no
  picture.
- WeCom takes the picture inline (base64 + MD5, at most 2 MB), always.
- the webhook gets the URL when there is one.

Without a route the message says so and carries the screen's link instead.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import requests
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from common.settings import Settings
from dashboards.notifiers.message import ChatImage, Vendor

NO_ROUTE = {
    Vendor.dingtalk: "未配置图片公网地址(push.image_base_url),本次只发文字和大屏链接",
    Vendor.feishu: "未配置飞书应用(push.feishu_app_id),本次只发文字和大屏链接",
    Vendor.webhook: "未配置图片公网地址(push.image_base_url),本次只发文字和大屏链接",
}


class ImageUploadFailed(RuntimeError):
    """Feishu refused the app's credentials or the upload; names the code, not the secret."""


def image_dir(settings: Settings) -> Path:
    return settings.push.image_dir or settings.paths.data_dir / "push" / "images"


def publish(settings: Settings, png: bytes, push: str, day: date) -> str | None:
    """Write the picture where the push service serves it; its public URL, or None."""
    if not settings.push.image_base_url:
        return None
    folder = image_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    # An unguessable name: the folder is public, the screens behind it are not.
    name = f"{push}-{day:%Y%m%d}-{secrets.token_urlsafe(12)}.png"
    (folder / name).write_bytes(png)
    forget_old(folder, settings.push.keep_images_days)
    return settings.push.image_base_url.rstrip("/") + "/" + name


def forget_old(folder: Path, days: int) -> None:
    cutoff = time.time() - days * 86_400
    for old in folder.glob("*.png"):
        if old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)


@dataclass
class FeishuApp:
    """Upload through a Feishu app: a tenant access token, then ``im/v1/images``."""

    base: str
    app_id: str
    app_secret: str
    session: requests.Session

    def _token(self) -> str:
        answer = self.session.post(
            f"{self.base}/open-apis/auth/v3/tenant_access_token/internal",
            json={"app_id": self.app_id, "app_secret": self.app_secret},
            timeout=10,
        ).json()
        if answer.get("code") != 0:
            raise ImageUploadFailed(f"feishu app: token refused ({answer.get('code')})")
        return str(answer["tenant_access_token"])

    def upload(self, png: bytes) -> str:
        for attempt in Retrying(
            retry=retry_if_exception_type(requests.RequestException),
            wait=wait_exponential(multiplier=0.5, max=10),
            stop=stop_after_attempt(5),
            reraise=True,
        ):
            with attempt:
                answer = self.session.post(
                    f"{self.base}/open-apis/im/v1/images",
                    headers={"Authorization": f"Bearer {self._token()}"},
                    data={"image_type": "message"},
                    files={"image": ("screen.png", png, "image/png")},
                    timeout=30,
                ).json()
        if answer.get("code") != 0:
            raise ImageUploadFailed(f"feishu app: upload refused ({answer.get('code')})")
        return str(answer["data"]["image_key"])


def feishu_key(settings: Settings, png: bytes) -> str | None:
    push = settings.push
    if not push.feishu_app_id:
        return None
    app = FeishuApp(
        push.feishu_api_base.rstrip("/"),
        push.feishu_app_id,
        push.feishu_app_secret.get_secret_value(),
        requests.Session(),
    )
    return app.upload(png)


def image_for(vendor: Vendor, settings: Settings, png: bytes, url: str | None) -> ChatImage | None:
    """The picture as ``vendor`` takes it, or None when it has no route there."""
    if vendor is Vendor.wecom:
        return ChatImage(png)
    if vendor is Vendor.feishu:
        key = feishu_key(settings, png)
        return ChatImage(png, feishu_key=key) if key else None
    return ChatImage(png, url=url) if url else None
