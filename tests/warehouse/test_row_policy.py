"""Row-level security on the single-machine server: a shop owner reads only their shops.

The server runs as `erpbi up` starts it, with two shop-owner logins from the settings;
who owns which shop comes only from dim_shop (the shop sheet), through `shop_access`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError
from shop_owners import ALICE_SHOPS, BOB_SHOPS, login

from common.settings import Settings
from warehouse import access
from warehouse.client import connect

pytestmark = pytest.mark.integration


def shops_seen(client: Client, sql: str) -> set[int]:
    return {int(row[0]) for row in client.query(sql).result_rows}


def test_the_source_of_truth_is_dim_shop_owner(secured: Settings) -> None:
    admin = connect(secured.clickhouse)
    owned = access.owners(admin)
    assert owned["alice"] == list(ALICE_SHOPS) and owned["bob"] == list(BOB_SHOPS)
    assert "dwd_sale_out" in access.shop_tables(admin)
    policies = access.row_policy_statements("erp", ["dwd_sale_out"], ["default"])
    assert "currentUser()" in policies[0] and "erp.shop_access" in policies[0]
    admin.close()


def test_a_shop_owner_reads_only_their_shops_everywhere(alice: Client, secured: Settings) -> None:
    mine = set(ALICE_SHOPS)
    assert shops_seen(alice, "SELECT shop_id FROM dwd_sale_out") == mine
    assert shops_seen(alice, "SELECT shop_id FROM erp.dwd_sale_out WHERE shop_id = 880002") == set()
    functions_are_fine = "WHERE io_id LIKE 'RLS-%' AND lower(status) = 'confirmed'"
    assert shops_seen(alice, f"SELECT shop_id FROM dwd_sale_out {functions_are_fine}") == mine
    assert shops_seen(alice, "SELECT shop_id FROM metric_outbound_daily") == mine  # view over DWS
    assert shops_seen(alice, "SELECT shop_id FROM (SELECT * FROM dws_sale_out_hourly)") == mine
    assert shops_seen(alice, "SELECT d.shop_id FROM dwd_sale_out AS d "
                             "JOIN dim_shop AS s ON s.shop_id = d.shop_id") == mine  # fmt: skip
    bob = login(secured, "bob", "bob-pw")
    assert shops_seen(bob, "SELECT shop_id FROM dwd_sale_out") == set(BOB_SHOPS)
    bob.close()
    admin = connect(secured.clickhouse)
    assert shops_seen(admin, "SELECT shop_id FROM dwd_sale_out") == {
        *ALICE_SHOPS,
        *BOB_SHOPS,
        880004,
    }
    admin.close()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT shop_id FROM dwd_sale_out SETTINGS additional_table_filters = {}",
        "SET additional_table_filters = {}",
        "SELECT shop_id FROM merge('erp', '^dwd_sale_out$')",
        "INSERT INTO dim_shop (shop_id, shop_owner, _version) VALUES (880002, 'alice', 9)",
        "ALTER TABLE dwd_sale_out DELETE WHERE 1",
        # the setting's name quoted or escaped, as the engine accepts it
        "SELECT shop_id FROM dwd_sale_out SETTINGS `additional_table_filters` = {}",
        'SELECT shop_id FROM dwd_sale_out SETTINGS "additional_table_filters" = {}',
        "SELECT shop_id FROM dwd_sale_out SETTINGS `additional_table_filter\\x73` = {}",
        # the clause hidden behind what only looks like a string to a naive lexer
        "SELECT shop_id FROM dwd_sale_out // '\n SETTINGS `additional_table_filters` = {} --'",
        "SELECT shop_id /* /* */ ' */ FROM dwd_sale_out SETTINGS `additional_table_filters` = {}"
        " --'",
        "SELECT $$'$$, shop_id FROM dwd_sale_out SETTINGS `additional_table_filters` = {} --'",
        "SELECT \u2018'\u2019, shop_id FROM dwd_sale_out SETTINGS `additional_table_filters` = {}"
        " --'",
    ],
)
def test_a_shop_owner_cannot_lift_the_filter(alice: Client, sql: str) -> None:
    with pytest.raises(DatabaseError, match="ACCESS_DENIED|Not enough privileges"):
        alice.command(sql)


def test_a_table_function_is_refused_in_any_output_format(alice: Client) -> None:
    """clickhouse-connect's query() asks for Native output; the check must not depend on it."""
    with pytest.raises(DatabaseError, match="table function merge"):
        alice.query("SELECT shop_id FROM merge('erp', '^dwd_sale_out$') WHERE shop_id > 0")


def test_a_shop_owner_cannot_pass_the_filter_setting_in_the_url(alice: Client) -> None:
    with pytest.raises(DatabaseError, match="ACCESS_DENIED|Not enough privileges"):
        alice.query("SELECT shop_id FROM dwd_sale_out", settings={"additional_table_filters": "{}"})


def test_shop_owner_passwords_stay_off_the_command_line(secured: Settings) -> None:
    pid_file = secured.paths.run_dir / "pids" / "clickhouse.pid"
    command = Path(f"/proc/{pid_file.read_text().split()[0]}/cmdline").read_bytes()
    assert b"alice-pw" not in command
    owners_file = secured.paths.shop_owner_logins
    assert owners_file.stat().st_mode & 0o077 == 0


def test_operators_see_who_owns_which_shop(secured: Settings) -> None:
    import subprocess
    import sys

    from common.settings import PROJECT_ROOT

    result = subprocess.run(
        [sys.executable, "-m", "erpbi", "warehouse", "access"],
        env=secured.environment, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(maxsplit=1) for line in result.stdout.splitlines())
    assert lines["alice"] == "880001, 880003" and lines["bob"] == "880002"


class PolicedServer:
    """A real server's answers, as far as keeping row policies goes."""

    def __init__(self, policies: int, tables: list[str]) -> None:
        self.policies, self.tables, self.commands = policies, tables, []

    def query(self, sql: str) -> Any:
        rows = [[self.policies]] if "system.row_policies" in sql else [[t] for t in self.tables]
        return type("Result", (), {"result_rows": rows})()

    def command(self, sql: str) -> None:
        self.commands.append(sql)


def test_a_table_a_migration_adds_gets_the_row_policy_once_policies_are_in_use() -> None:
    server = PolicedServer(policies=9, tables=["dwd_sale_out", "dws_sale_out_item_daily_recent"])
    assert access.keep_row_policies(server, "erp", ["default"]) == 2
    assert any("ON erp.dws_sale_out_item_daily_recent FOR SELECT" in sql for sql in server.commands)
    unpoliced = PolicedServer(policies=0, tables=["dwd_sale_out"])
    assert access.keep_row_policies(unpoliced, "erp", ["default"]) == 0 and not unpoliced.commands


def test_the_single_machine_server_keeps_no_policies_and_migrates(secured: Settings) -> None:
    """No access control there (the filter is applied per request): migrate skips them."""
    admin = connect(secured.clickhouse)
    assert access.policies_in_use(admin) is False
    assert access.keep_row_policies(admin, secured.clickhouse.database, ["default"]) == 0
