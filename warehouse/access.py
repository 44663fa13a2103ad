"""Per-shop access: who owns which shop, and the row policies that enforce it.

The source of truth is the ``shop_access`` view (migration 0004): ``dim_shop.shop_owner``,
loaded from the shop sheet. A shop owner logs in to ClickHouse (and Superset) under the
owner name used in the sheet and sees only rows of their shops, in every table that has
a ``shop_id`` column.

- A real ClickHouse server enforces it with one row policy per table whose condition
  reads ``shop_access`` for ``currentUser()`` (``row_policy_statements``), so a change of
  owner in the sheet takes effect without touching the policies.
- The single-machine server (chDB has no access control) applies the same condition per
  request as ``additional_table_filters`` (``warehouse/server/row_policy.py``).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from clickhouse_connect.driver.exceptions import DatabaseError

LOG = logging.getLogger(__name__)
SHOP_COLUMN = "shop_id"
POLICY_NAME = "shop_owner_rows"


def shop_tables_sql(database_expression: str = "currentDatabase()") -> str:
    """Tables (not views) of a database that carry a shop_id column: the ones RLS filters."""
    return (
        "SELECT DISTINCT c.table FROM system.columns AS c "
        "INNER JOIN system.tables AS t ON t.database = c.database AND t.name = c.table "
        f"WHERE c.database = {database_expression} AND c.name = '{SHOP_COLUMN}' "
        "AND t.engine NOT IN ('View', 'MaterializedView') ORDER BY c.table"
    )


def shop_tables(client: Any) -> list[str]:
    """The shop tables of the client's database."""
    return [row[0] for row in client.query(shop_tables_sql()).result_rows]


def owners(client: Any) -> dict[str, list[int]]:
    """Owner -> the shops they own, from ``shop_access``."""
    result = client.query("SELECT owner, shop_id FROM shop_access ORDER BY owner, shop_id")
    owned: dict[str, list[int]] = defaultdict(list)
    for owner, shop_id in result.result_rows:
        owned[owner].append(int(shop_id))
    return dict(owned)


def owner_condition(database: str) -> str:
    """The row condition a real server evaluates for the user running the query."""
    return (
        f"{SHOP_COLUMN} IN (SELECT shop_id FROM {database}.shop_access WHERE owner = currentUser())"
    )


def row_policy_statements(database: str, tables: list[str], admins: list[str]) -> list[str]:
    """One policy per shop table for everybody but the admins (who keep every row)."""
    exempt = ", ".join(admins)
    return [
        f"CREATE ROW POLICY OR REPLACE {POLICY_NAME} ON {database}.{table} "
        f"FOR SELECT USING {owner_condition(database)} TO ALL EXCEPT {exempt}"
        for table in tables
    ]


def apply_row_policies(client: Any, database: str, admins: list[str]) -> int:
    """Create or replace the policy on every shop table; returns how many tables."""
    statements = row_policy_statements(database, shop_tables(client), admins)
    for statement in statements:
        client.command(statement)
    return len(statements)


def policies_in_use(client: Any) -> bool:
    """Whether this database's shop tables are under row policies: a real server where
    ``erpbi warehouse access --apply-row-policies`` has run. False where the server cannot
    tell (the single-machine server has no access control) or the login may not look."""
    try:
        result = client.query(
            "SELECT count() FROM system.row_policies "
            f"WHERE database = currentDatabase() AND short_name = '{POLICY_NAME}'"
        )
    except DatabaseError as error:
        LOG.info("row policies not readable here (%s): none kept up to date", str(error)[:120])
        return False
    return int(result.result_rows[0][0]) > 0


def keep_row_policies(client: Any, database: str, admins: list[str]) -> int:
    """After migrations: once policies are in use, a table a migration added gets one too
    (or its rows would be open to every shop owner until someone re-applied them)."""
    return apply_row_policies(client, database, admins) if policies_in_use(client) else 0
