"""The big screens as their viewers see them: a real headless Chromium at 1920x1080.

After the pipeline has landed the simulator's days of history and today's live orders,
every screen of ``dashboards/assets`` is opened in wall mode as the admin: every chart
must render (no error, no empty state), the page must not scroll, and the screenshot must
not be blank. Every chart's saved query must also return rows through Superset's chart
data API. Screenshots are kept in ``.run/artifacts/screens/`` for a person to look at.
"""

from __future__ import annotations

import pytest

from common.settings import PROJECT_ROOT, Settings
from dashboards import wall_check
from dashboards.assets_spec import load_assets
from dashboards.provision import chart_data
from dashboards.superset_client import SupersetClient

pytestmark = pytest.mark.e2e

ARTIFACTS = PROJECT_ROOT / ".run" / "artifacts" / "screens"


def test_every_chart_of_every_screen_returns_rows(screens_ready: Settings) -> None:
    client = SupersetClient.login(screens_ready.superset)
    empty = [
        f"{board.slug}: {chart.name}"
        for board in load_assets().dashboards
        for chart in board.charts
        if not [row for row in chart_data(screens_ready, chart.name, client=client)
                if any(value is not None for value in row.values())]
    ]  # fmt: skip
    assert not empty, f"charts without data: {empty}"


def test_every_screen_renders_whole_on_a_1920x1080_wall(screens_ready: Settings) -> None:
    superset = screens_ready.superset
    problems = []
    with wall_check.headless_chromium() as driver:
        wall_check.log_in(driver, superset.url, superset.admin_user,
                          superset.admin_password.get_secret_value())  # fmt: skip
        for board in load_assets().dashboards:
            report = wall_check.open_screen(driver, superset.url, board.slug, len(board.charts))
            shot = wall_check.save(report, ARTIFACTS, f"admin-{board.slug}")
            problems += [f"{board.slug}: {p} ({shot})" for p in report.problems(len(board.charts))]
    assert not problems, "\n".join(problems)
