"""Per-shop row-level security on the single-machine server (chDB has no access control).

A real ClickHouse server enforces shop ownership with row policies (warehouse/access.py).
Here the same rule is applied per request: for a shop owner, every table of the warehouse
database that has a ``shop_id`` column is read through ``additional_table_filters`` =
``shop_id IN (<their shops>)``, the shops coming from the ``shop_access`` view (the one
source of truth, fed by the shop sheet). The engine applies the filter to the table itself,
so it holds through views, joins and subqueries. Views and materialized views with a
``shop_id`` column are filtered under their own names as well: reading a materialized view
reads its target table under the view's name, which the target's filter does not reach,
and a view may read what no filter covers. ``system.tables`` and ``system.columns`` show
an owner the warehouse database's rows only (as SHOW TABLES does).

Which tables those are is looked up as the admin and kept a few seconds, and looked up
afresh after every DDL an admin runs through this server (dispatch.py calls
``catalogue_changed``), so a shop table created while an owner is connected is filtered
from the owner's next statement on. (A statement whose filter was made before the DDL
ended and that starts in the engine after it is not re-checked.)

What keeps an owner from lifting it or reading around it: only read statements (and USE)
are allowed; the filter setting may not be named anywhere in the request, and the settings
in PINNED_SETTINGS may not be set (in the URL or a SETTINGS clause, bare or quoted):
``database`` would move unqualified names into another database behind the table check,
``dialect`` would make the engine parse the text differently from the check, the format
schema and template settings read or write files on the host, introspection functions
read the server's memory, admission.OWNER_LIMITS bound a statement's time and memory.
``INTO OUTFILE`` is refused (497 for a shop owner; for everybody, see dispatch.py). What
the statement reads is checked in shop_owner_reads.py: tables of the warehouse database,
a few system tables, no table function but pure generators (``merge()`` would read a
table under another name), no ``file()``. Admins (the server's own user) are not restricted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from warehouse.access import SHOP_COLUMN
from warehouse.server.admission import OWNER_LIMITS
from warehouse.server.ast_dump import MalformedAstDump, parse_ast_dump
from warehouse.server.errors import ACCESS_DENIED, ClickHouseError
from warehouse.server.shop_owner_reads import (
    SYSTEM_DATABASE,
    ReadRefused,
    ShopOwnerReads,
    shop_owner_may_not,
)
from warehouse.server.sqltext import (
    StatementKind,
    Token,
    first_keyword,
    into_outfile_start,
    quote_string,
    settings_clause_names,
    tokens,
    without_output_format,
)

FILTER_SETTING = "additional_table_filters"
PINNED_SETTINGS = frozenset({FILTER_SETTING, "database", "dialect", "output_format_schema",
                             "allow_introspection_functions", *OWNER_LIMITS})  # fmt: skip
PINNED_SETTING_PREFIXES = ("format_schema", "format_template")
ALLOWED_KINDS = frozenset({StatementKind.READ, StatementKind.USE})
# System tables listing every database's tables: an owner sees the warehouse database's.
CATALOGUE_TABLES = ("tables", "columns")


class AdminQuery(Protocol):
    """Runs SQL as the admin (no row filter) and returns its TSV rows."""

    def __call__(
        self, sql: str, parameters: Mapping[str, str] | None = None
    ) -> list[list[str]]: ...


@dataclass
class _Cached:
    value: object
    expires: float


class ShopRowPolicy:
    """Decides, per request, what a user may run and with which row filter."""

    def __init__(self, database: str, admins: frozenset[str], query: AdminQuery,
                 cache_seconds: float = 5.0) -> None:  # fmt: skip
        self._database = database
        self._admins = admins
        self._query = query
        self._cache_seconds = cache_seconds
        self._cache: dict[str, _Cached] = {}
        self._generation = 0  # DDL seen so far: a lookup older than the last one is not kept
        self._lock = threading.Lock()
        self._reads = ShopOwnerReads(database, self._catalogue_columns)

    def restricted(self, user: str) -> bool:
        return user not in self._admins

    def catalogue_changed(self) -> None:
        """An admin's DDL has run: it may have added a shop table, so look everything up again."""
        with self._lock:
            self._generation += 1
            self._cache.clear()

    def check_settings(self, user: str, settings: Mapping[str, str]) -> None:
        """URL settings of a shop owner may not touch the row filter or a pinned setting."""
        if self.restricted(user):
            self._refuse_pinned(user, list(settings))

    def check_insert(self, user: str) -> None:
        if self.restricted(user):
            raise self._denied(user, "may only read (shop owners have read access)")

    def filter_settings(
        self,
        user: str,
        kind: StatementKind,
        sql: str,
        current_database: str,
        query_parameters: Mapping[str, str],
    ) -> dict[str, str]:
        """The settings that restrict ``user``'s statement; refuses what could lift them.

        ``current_database`` is where the statement's unqualified names resolve (the URL's
        ``database``, else the session's USE, else the server's default).
        """
        if not self.restricted(user):
            return {}
        if kind not in ALLOWED_KINDS:
            raise self._denied(user, "may only read (shop owners have read access)")
        if into_outfile_start(sql) is not None:
            raise self._denied(user, "may not write files on the server (INTO OUTFILE)")
        if any(token.is_word and token.text.lower() == FILTER_SETTING for token in tokens(sql)):
            raise self._denied(user, f"may not set {FILTER_SETTING}")
        self._refuse_pinned(user, settings_clause_names(sql))
        if kind is StatementKind.READ:
            try:
                self._check_read(sql, current_database, query_parameters)
            except ReadRefused as refused:
                raise ClickHouseError.of(ACCESS_DENIED, f"{user}: {refused}") from None
        shops = ", ".join(str(shop) for shop in self._shops(user)) or "NULL"
        condition = f"{SHOP_COLUMN} IN ({shops})"
        conditions = {f"{self._database}.{table}": condition for table in self._shop_tables()}
        in_warehouse = f"database = {quote_string(self._database)}"
        conditions.update(
            {f"{SYSTEM_DATABASE}.{table}": in_warehouse for table in CATALOGUE_TABLES}
        )
        filters = ", ".join(
            f"{quote_string(table)}: {quote_string(where)}" for table, where in conditions.items()
        )
        return {FILTER_SETTING: "{" + filters + "}", **OWNER_LIMITS}

    def _refuse_pinned(self, user: str, names: list[str | None]) -> None:
        for name in names:
            lowered = "" if name is None else name.lower()
            if (
                name is None
                or lowered in PINNED_SETTINGS
                or lowered.startswith(PINNED_SETTING_PREFIXES)
            ):
                raise self._denied(user, f"may not set {name or 'a setting named with escapes'}")

    def _check_read(
        self, sql: str, current_database: str, query_parameters: Mapping[str, str]
    ) -> None:
        """What a read statement reads, from the engine's parse of it (see shop_owner_reads)."""
        keyword = first_keyword(sql)
        if keyword == "CHECK":
            raise shop_owner_may_not("run CHECK TABLE")
        all_tokens = list(tokens(sql))
        second_word = all_tokens[1].text.upper() if len(all_tokens) > 1 else ""
        if keyword == "SHOW" and second_word != "CREATE":
            self._reads.check_show_listing(sql, current_database)
            return
        _refuse_forged_lines(all_tokens, query_parameters)
        rows = self._query(f"EXPLAIN AST {without_output_format(sql)}", query_parameters)
        try:
            root = parse_ast_dump("\n".join("\t".join(row) for row in rows))
        except MalformedAstDump:
            raise shop_owner_may_not("run a statement this server cannot check") from None
        self._reads.check_parsed(root, current_database)

    # -- lookups (as the admin, cached) --------------------------------------------------

    def _shops(self, user: str) -> list[int]:
        rows = self._cached(
            f"shops:{user}",
            f"SELECT shop_id FROM {self._database}.shop_access WHERE owner = {quote_string(user)} "
            "ORDER BY shop_id",
        )
        return [int(row[0]) for row in rows]

    def _catalogue_columns(self) -> dict[str, frozenset[str]]:
        """Every column the engine's system.tables and system.columns have."""
        rows = self._cached(
            "catalogue",
            f"SELECT table, name FROM system.columns WHERE database = '{SYSTEM_DATABASE}' "
            "AND table IN ('tables', 'columns')",
        )
        columns: dict[str, set[str]] = {}
        for table, name in rows:
            columns.setdefault(table, set()).add(name)
        return {table: frozenset(names) for table, names in columns.items()}

    def _shop_tables(self) -> list[str]:
        """Everything of the warehouse database with a shop_id column, whatever its engine."""
        rows = self._cached(
            "tables",
            "SELECT DISTINCT table FROM system.columns WHERE database = "
            f"{quote_string(self._database)} AND name = '{SHOP_COLUMN}' ORDER BY table",
        )
        return [row[0] for row in rows]

    def _cached(self, key: str, sql: str) -> list[list[str]]:
        now = time.monotonic()
        with self._lock:
            entry = self._cache.get(key)
            if entry is not None and entry.expires > now:
                return entry.value  # type: ignore[return-value]
            generation = self._generation
        rows = self._query(sql)
        with self._lock:
            if generation == self._generation:  # no DDL ran meanwhile: still current
                self._cache[key] = _Cached(rows, now + self._cache_seconds)
        return rows

    @staticmethod
    def _denied(user: str, what: str) -> ClickHouseError:
        return ClickHouseError.of(
            ACCESS_DENIED, f"{user}: Not enough privileges: a shop owner {what}"
        )


def _refuse_forged_lines(all_tokens: list[Token], query_parameters: Mapping[str, str]) -> None:
    """The engine prints identifiers raw in EXPLAIN AST: one with a line break forges lines.

    Quoted names with a line break or an escape (which could make one) are refused, and so
    are Identifier query parameters holding a line break.
    """
    for token in all_tokens:
        if token.text[:1] in ('"', "`") and ("\n" in token.text or "\\" in token.text):
            raise shop_owner_may_not("use a quoted name with a line break or an escape")
    takes_identifiers = any(token.text.lower() == "identifier" for token in all_tokens)
    if takes_identifiers and any("\n" in value for value in query_parameters.values()):
        raise shop_owner_may_not("pass an Identifier parameter with a line break")
