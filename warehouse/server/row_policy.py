"""Per-shop row-level security on the single-machine server (chDB has no access control).

A real ClickHouse server enforces shop ownership with row policies (warehouse/access.py).
Here the same rule is applied per request: for a shop owner, every table of the warehouse
database that has a ``shop_id`` column is read through ``additional_table_filters`` =
``shop_id IN (<their shops>)``, the shops coming from the ``shop_access`` view (the one
source of truth, fed by the shop sheet). The engine applies the filter to the table itself,
so it holds through views, joins and subqueries.

What keeps an owner from lifting it: only read statements (and USE) are allowed; the
setting may not be named anywhere in the request; table functions other than pure
generators are refused (``merge()`` would read a table under another name). Admins (the
server's own user) are not restricted.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from warehouse.access import shop_tables_sql
from warehouse.server.errors import ACCESS_DENIED, ClickHouseError
from warehouse.server.sqltext import StatementKind, quote_string, tokens, without_output_format

FILTER_SETTING = "additional_table_filters"
ALLOWED_KINDS = frozenset({StatementKind.READ, StatementKind.USE})
GENERATOR_FUNCTIONS = frozenset({"numbers", "numbers_mt", "zeros", "zeros_mt", "generateseries",
                                 "generate_series", "values", "null"})  # fmt: skip
# In EXPLAIN AST output (as text: the request's own FORMAT clause is removed first, since
# clickhouse-connect asks for Native, where lines are not separated by newlines) a table
# function is a Function node on the line right under a TableExpression.
_TABLE_FUNCTION = re.compile(r"TableExpression\b[^\n]*\n[^\n]*?Function (\w+)")

Query = Callable[[str], list[list[str]]]  # runs SQL as the admin, returns TSV rows


@dataclass
class _Cached:
    value: object
    expires: float


class ShopRowPolicy:
    """Decides, per request, what a user may run and with which row filter."""

    def __init__(self, database: str, admins: frozenset[str], query: Query,
                 cache_seconds: float = 5.0) -> None:  # fmt: skip
        self._database = database
        self._admins = admins
        self._query = query
        self._cache_seconds = cache_seconds
        self._cache: dict[str, _Cached] = {}
        self._lock = threading.Lock()

    def restricted(self, user: str) -> bool:
        return user not in self._admins

    def check_settings(self, user: str, settings: Mapping[str, str]) -> None:
        """URL or session settings of a shop owner may not touch the row filter."""
        if self.restricted(user) and FILTER_SETTING in settings:
            raise self._denied(user, f"may not set {FILTER_SETTING}")

    def check_insert(self, user: str) -> None:
        if self.restricted(user):
            raise self._denied(user, "may only read (shop owners have read access)")

    def filter_settings(self, user: str, kind: StatementKind, sql: str) -> dict[str, str]:
        """The settings that restrict ``user``'s statement; refuses what could lift them."""
        if not self.restricted(user):
            return {}
        if kind not in ALLOWED_KINDS:
            raise self._denied(user, "may only read (shop owners have read access)")
        if any(token.is_word and token.text.lower() == FILTER_SETTING for token in tokens(sql)):
            raise self._denied(user, f"may not set {FILTER_SETTING}")
        if kind is StatementKind.READ:
            self._refuse_table_functions(user, sql)
        shops = ", ".join(str(shop) for shop in self._shops(user)) or "NULL"
        condition = f"shop_id IN ({shops})"
        filters = ", ".join(
            f"{quote_string(f'{self._database}.{table}')}: {quote_string(condition)}"
            for table in self._shop_tables()
        )
        return {FILTER_SETTING: "{" + filters + "}"}

    # -- lookups (as the admin, cached) --------------------------------------------------

    def _shops(self, user: str) -> list[int]:
        rows = self._cached(
            f"shops:{user}",
            f"SELECT shop_id FROM {self._database}.shop_access WHERE owner = {quote_string(user)} "
            "ORDER BY shop_id",
        )
        return [int(row[0]) for row in rows]

    def _shop_tables(self) -> list[str]:
        rows = self._cached("tables", shop_tables_sql(quote_string(self._database)))
        return [row[0] for row in rows]

    def _cached(self, key: str, sql: str) -> list[list[str]]:
        now = time.monotonic()
        with self._lock:
            entry = self._cache.get(key)
            if entry is not None and entry.expires > now:
                return entry.value  # type: ignore[return-value]
        rows = self._query(sql)
        with self._lock:
            self._cache[key] = _Cached(rows, now + self._cache_seconds)
        return rows

    def _refuse_table_functions(self, user: str, sql: str) -> None:
        ast = self._query(f"EXPLAIN AST {without_output_format(sql)}")
        text = "\n".join("\t".join(row) for row in ast)
        for function in _TABLE_FUNCTION.findall(text):
            if function.lower() not in GENERATOR_FUNCTIONS:
                raise self._denied(user, f"may not use the table function {function}()")

    @staticmethod
    def _denied(user: str, what: str) -> ClickHouseError:
        return ClickHouseError.of(
            ACCESS_DENIED, f"{user}: Not enough privileges: a shop owner {what}"
        )
