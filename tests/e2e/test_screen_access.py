"""A shop owner at the screens: only their shops, on every screen, at every moment.

The shop sheet gives alice, bob and carol two shops each; alice and bob have logins
(e2e conftest), carol has none. After provisioning, alice opens every screen in a real
Chromium and through the chart data API: every chart renders with data, and every shop
she sees is hers. SQL Lab is closed to her. Then one of her shops moves to bob in the
sheet: from the moment the sheet lands she never sees it again, and bob does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from conftest import OWNER_LOGINS
from pydantic import SecretStr
from test_inventory_slice import poll
from test_metrics import load_sheet, shop_sheet

from common.settings import PROJECT_ROOT, Settings
from dashboards import wall_check
from dashboards.assets_spec import ENGINEER_SCREENS, load_assets
from dashboards.provision import chart_data, provision
from dashboards.superset_client import SupersetApiError, SupersetClient
from erp_simulator.control import SimulatorControl

pytestmark = pytest.mark.e2e

ARTIFACTS = PROJECT_ROOT / ".run" / "artifacts" / "screens"
SHEET_LANDS_SECONDS = 120.0
SHOP_LABEL = "店铺"


def owners_landed(warehouse: Client, sheet: dict[int, dict[str, Any]]) -> bool:
    wanted = {(shop_id, row["owner"]) for shop_id, row in sheet.items()}
    rows = warehouse.query("SELECT shop_id, owner FROM shop_access").result_rows
    return {(int(shop_id), owner) for shop_id, owner in rows} == wanted


def login_as(settings: Settings, owner: str) -> SupersetClient:
    viewer = {"admin_user": owner, "admin_password": SecretStr(OWNER_LOGINS[owner])}
    return SupersetClient.login(settings.superset.model_copy(update=viewer))


@pytest.fixture(scope="module")
def sheet(
    screens_ready: Settings, erp: SimulatorControl, warehouse: Client,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[int, dict[str, Any]]]:  # fmt: skip
    sheet = shop_sheet(erp)
    folder = tmp_path_factory.mktemp("sheet")
    load_sheet(screens_ready, sheet, folder)
    assert poll(lambda: owners_landed(warehouse, sheet), SHEET_LANDS_SECONDS), "sheet never landed"
    result = provision(screens_ready)
    assert result.access is not None
    assert result.access.logins == ["alice", "bob"] and result.access.without_password == ["carol"]
    yield sheet
    load_sheet(screens_ready, sheet, folder)  # as it was, whatever a test moved


def owner_screens() -> list[Any]:
    """The screens a shop owner opens (the engineer's 异常监控 is not listed for them)."""
    return [board for board in load_assets().dashboards if board.slug not in ENGINEER_SCREENS]


def shop_names(erp: SimulatorControl, shop_ids: set[int]) -> set[str]:
    return {str(shop["shop_name"]) for shop in erp.shops() if int(shop["shop_id"]) in shop_ids}


def owned(sheet: dict[int, dict[str, Any]], owner: str) -> set[int]:
    return {shop_id for shop_id, row in sheet.items() if row["owner"] == owner}


def shops_on_screens(settings: Settings, viewer: SupersetClient) -> dict[str, set[str]]:
    """Chart name -> the shop names its rows carry (charts broken down by shop)."""
    admin = SupersetClient.login(settings.superset)
    seen: dict[str, set[str]] = {}
    for board in owner_screens():
        for chart in board.charts:
            rows = chart_data(settings, chart.name, client=viewer, labels_client=admin)
            assert rows, f"{board.slug}: {chart.name} has no rows for the shop owner"
            if rows and SHOP_LABEL in rows[0]:
                seen[chart.name] = {str(row[SHOP_LABEL]) for row in rows}
    return seen


def test_a_shop_owner_sees_only_their_shops_in_every_chart(
    screens_ready: Settings, erp: SimulatorControl, sheet: dict[int, dict[str, Any]],
    warehouse: Client,
) -> None:  # fmt: skip
    alice = login_as(screens_ready, "alice")
    mine = shop_names(erp, owned(sheet, "alice"))
    seen = shops_on_screens(screens_ready, alice)
    assert seen, "no chart is broken down by shop"
    for chart, shops in seen.items():
        assert shops <= mine, f"{chart}: alice sees {sorted(shops - mine)}"
    # A total is her shops' total, as the warehouse computes it (admin login, all rows).
    expected = warehouse.query(
        "SELECT toFloat64(sum(outbound_amount)) FROM metric_outbound_daily "
        "WHERE day > toDate(now(), 'Asia/Shanghai') - 7 AND shop_id IN {shops:Array(Int64)}",
        parameters={"shops": sorted(owned(sheet, "alice"))},
    ).result_rows[0][0]
    rows = chart_data(screens_ready, "近7天店铺出库与退款", client=alice,
                      labels_client=SupersetClient.login(screens_ready.superset))  # fmt: skip
    assert sum(row["出库金额"] for row in rows) == pytest.approx(expected, rel=1e-9)


def test_a_shop_owners_screens_render_whole_with_only_their_shops(
    screens_ready: Settings, erp: SimulatorControl, sheet: dict[int, dict[str, Any]]
) -> None:
    superset = screens_ready.superset
    others = shop_names(erp, set(sheet) - owned(sheet, "alice"))
    problems = []
    with wall_check.headless_chromium() as driver:
        wall_check.log_in(driver, superset.url, "alice", OWNER_LOGINS["alice"])
        for board in owner_screens():
            report = wall_check.open_screen(driver, superset.url, board.slug, len(board.charts))
            shot = wall_check.save(report, ARTIFACTS, f"alice-{board.slug}")
            problems += [f"{board.slug}: {p} ({shot})" for p in report.problems(len(board.charts))]
            text = wall_check.visible_text(driver)
            problems += [f"{board.slug}: shows {name}" for name in others if name in text]
        # the shop table of screen 2 is text on the page: her shops are there
        wall_check.open_screen(driver, superset.url, "outbound-trend", 9)
        text = wall_check.visible_text(driver)
        assert all(name in text for name in shop_names(erp, owned(sheet, "alice")))
    assert not problems, "\n".join(problems)


def test_sql_lab_is_closed_to_shop_owners(
    screens_ready: Settings, sheet: dict[int, dict[str, Any]]
) -> None:
    alice = login_as(screens_ready, "alice")
    response = alice.session.post(
        f"{screens_ready.superset.url}/api/v1/sqllab/execute/",
        json={"database_id": 1, "sql": "SELECT * FROM erp.dwd_sale_out", "runAsync": False},
        headers=alice.session.headers, timeout=30,
    )  # fmt: skip
    assert response.status_code in (401, 403), response.text[:300]
    page = alice.session.get(f"{screens_ready.superset.url}/sqllab/", timeout=30)
    assert page.status_code == 403 or "/login" in page.url


def test_moving_a_shop_in_the_sheet_moves_it_between_owners(
    screens_ready: Settings, erp: SimulatorControl, sheet: dict[int, dict[str, Any]],
    warehouse: Client, tmp_path_factory: pytest.TempPathFactory,
) -> None:  # fmt: skip
    moved = min(owned(sheet, "alice"))
    (moved_name,) = shop_names(erp, {moved})
    alice_before = shop_names(erp, owned(sheet, "alice"))
    changed = {**sheet, moved: {**sheet[moved], "owner": "bob"}}
    alice, bob = login_as(screens_ready, "alice"), login_as(screens_ready, "bob")
    admin = SupersetClient.login(screens_ready.superset)
    load_sheet(screens_ready, changed, tmp_path_factory.mktemp("moved"))
    landed = False
    # Until the new sheet is in the warehouse alice may still see the shop (it is hers);
    # from the first query after it landed she must not (no cached result survives: the
    # rendered RLS clause names her shops), and at no moment does she see anybody else's.
    for _ in range(int(SHEET_LANDS_SECONDS)):
        landed = owners_landed(warehouse, changed)
        rows = chart_data(screens_ready, "近7天店铺出库与退款", client=alice, labels_client=admin)
        shops = {str(row[SHOP_LABEL]) for row in rows}
        assert shops <= alice_before, f"alice saw {sorted(shops - alice_before)}"
        if landed:
            assert moved_name not in shops, "alice still sees the shop after the sheet moved it"
            break
    assert landed, "the changed sheet never reached the warehouse"
    provision(screens_ready)  # re-provisioning changes nothing for her: the rule reads the sheet
    rows = chart_data(screens_ready, "近7天店铺出库与退款", client=alice, labels_client=admin)
    assert moved_name not in {str(row[SHOP_LABEL]) for row in rows}
    rows = chart_data(screens_ready, "近7天店铺出库与退款", client=bob, labels_client=admin)
    assert moved_name in {str(row[SHOP_LABEL]) for row in rows}


def test_an_owner_leaving_the_sheet_loses_the_login(
    screens_ready: Settings, erp: SimulatorControl, sheet: dict[int, dict[str, Any]],
    warehouse: Client, tmp_path_factory: pytest.TempPathFactory,
) -> None:  # fmt: skip
    without_bob = {shop_id: {**row, "owner": "carol" if row["owner"] == "bob" else row["owner"]}
                   for shop_id, row in sheet.items()}  # fmt: skip
    load_sheet(screens_ready, without_bob, tmp_path_factory.mktemp("without-bob"))
    assert poll(lambda: owners_landed(warehouse, without_bob), SHEET_LANDS_SECONDS)
    result = provision(screens_ready)
    assert result.access is not None and "bob" in result.access.deactivated
    with pytest.raises(SupersetApiError, match="401"):
        login_as(screens_ready, "bob")
