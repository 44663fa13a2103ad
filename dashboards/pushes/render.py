"""The push's picture: the screen at 1920x1080 in a real headless Chromium, logged in as
the push's user through Superset's login form (so row-level security applies), and checked
before anything is sent.

Superset's own reports are known to send blank or grey screenshots, or the login page,
as success (apache/superset#29324, #39070, #44005). Here a picture is accepted only when
every chart of the screen drew, none shows an error or an empty state, nothing needs
scrolling and the picture has the colours of a real screen; otherwise the push fails.
"""

from __future__ import annotations

from common.settings import Settings
from dashboards import wall_check
from dashboards.assets_spec import load_assets
from dashboards.pushes.spec import ADMIN, PushSpec


class PushRenderFailed(RuntimeError):
    """The screen did not render as a person would accept it; ``problems`` in zh-CN."""

    def __init__(self, screen: str, problems: list[str], png: bytes = b"") -> None:
        super().__init__(f"{screen}: " + "; ".join(problems))
        self.screen, self.problems, self.png = screen, problems, png


def login_for(settings: Settings, user: str) -> tuple[str, str]:
    """The Superset login and password a push is rendered as."""
    if user in (ADMIN, settings.superset.admin_user):
        return settings.superset.admin_user, settings.superset.admin_password.get_secret_value()
    password = settings.clickhouse.shop_owners.get(user)
    if password is None:
        raise PushRenderFailed("-", [f"{user} 没有 Superset 登录(clickhouse.shop_owners 中无此人)"])
    return user, password.get_secret_value()


def render(settings: Settings, push: PushSpec) -> wall_check.ScreenReport:
    """The checked screenshot, or :class:`PushRenderFailed` saying what is wrong."""
    boards = {board.slug: board for board in load_assets().dashboards}
    if push.screen not in boards:
        raise PushRenderFailed(push.screen, [f"没有大屏 {push.screen}"])
    expected = len(boards[push.screen].charts)
    user, password = login_for(settings, push.as_user)
    try:
        with wall_check.headless_chromium() as driver:
            wall_check.log_in(driver, settings.superset.url, user, password)
            report = wall_check.open_screen(driver, settings.superset.url, push.screen, expected)
    except Exception as error:  # noqa: BLE001 - any failure to render is the push's failure
        raise PushRenderFailed(
            push.screen, [f"大屏打不开: {type(error).__name__}: {error}"[:300]]
        ) from error
    problems = report.problems(expected)
    if problems:
        raise PushRenderFailed(push.screen, problems, report.png)
    return report
