"""What a shop owner's statement may read: the warehouse database and a few system tables.

The row filter (row_policy.py) keeps other shops' rows out of the warehouse tables, but a
server has more to read: ``system.parts`` tells how much data every shop holds, the query
log what everyone asked, ``file()`` any file on the host. So a shop owner reads only

- tables of the warehouse database (under the row filter), and
- the system tables in SHOP_OWNER_SYSTEM_TABLES: what clients read to connect
  (clickhouse-connect: ``system.settings``) and SQL tools to list names, types and
  functions. An allow-list, so a table a new engine version adds stays closed.
  ``system.tables`` and ``system.columns`` also carry sizes (``total_rows``,
  ``data_compressed_bytes``), so of them only the columns in CATALOGUE_COLUMNS may be
  named and ``*`` may not be used. Every other database is closed (a scratch database
  may hold unfiltered copies).

The tables are found in the engine's own parse (``EXPLAIN AST``, see ast_dump.py), which
has resolved escapes and query parameters: every TableIdentifier, the table after IN, and
any ``system.x`` name; an unqualified name belongs to the request's current database (URL
``database``, the session's ``USE``). ``EXPLAIN QUERY TREE`` would resolve CTE names too,
but the analyzer runs scalar subqueries while it explains (``SELECT (SELECT throwIf(...)
FROM system.parts)`` fails inside the EXPLAIN), so it would read the table before the
check refuses it. Instead a CTE name is read as a table of the current database: harmless
in the warehouse database, refused elsewhere.

SHOW statements are rewritten by the engine into reads of system tables that EXPLAIN
does not show, so the listing forms are checked on their tokens; WHERE (which could name
``total_rows``) is refused there. EXPLAIN itself only as AST, SYNTAX or QUERY TREE without
settings: PLAN prints parts and granules of the whole table, ESTIMATE its rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from warehouse.server.ast_dump import AstNode
from warehouse.server.sqltext import Token, identifier_name, tokens

SYSTEM_DATABASE = "system"
SHOP_OWNER_SYSTEM_TABLES = frozenset(
    {
        "aggregate_function_combinators", "build_options", "collations", "columns",
        "contributors", "data_type_families", "database_engines", "databases", "formats",
        "functions", "keywords", "numbers", "numbers_mt", "one", "settings",
        "table_engines", "table_functions", "tables", "time_zones", "zeros", "zeros_mt",
    }
)  # fmt: skip
CATALOGUE_COLUMNS: Mapping[str, frozenset[str]] = {
    "tables": frozenset(
        {
            "database", "name", "uuid", "engine", "is_temporary", "create_table_query",
            "engine_full", "as_select", "parameterized_view_parameters", "partition_key",
            "sorting_key", "primary_key", "sampling_key", "unique_key", "comment",
            "dependencies_database", "dependencies_table", "loading_dependencies_database",
            "loading_dependencies_table", "loading_dependent_database",
            "loading_dependent_table", "target_database", "target_table", "has_own_data",
        }
    ),
    "columns": frozenset(
        {
            "database", "table", "name", "type", "position", "default_kind",
            "default_expression", "comment", "is_in_partition_key", "is_in_sorting_key",
            "is_in_primary_key", "is_in_sampling_key", "compression_codec",
            "character_octet_length", "numeric_precision", "numeric_precision_radix",
            "numeric_scale", "datetime_precision",
        }
    ),
}  # fmt: skip
# Functions that read what the table check cannot see: host files, dictionaries and Join
# tables by name, the host's disk sizes.
DENIED_FUNCTIONS = frozenset(
    {"file", "joinget", "joingetornull", "catboostevaluate", "filesystemavailable",
     "filesystemcapacity", "filesystemunreserved"}
)  # fmt: skip
DENIED_FUNCTION_PREFIXES = ("dict",)  # dictGet, dictHas, dictGetHierarchy ...
# MergeTree virtual columns: part names, block numbers and row offsets count the rows of
# every shop that share a part with the owner's rows.
_VIRTUAL_COLUMN = re.compile(
    r"_(part(_\w+)?|partition_\w+|block_\w+|disk_name|sample_factor|row_exists)"
)
GENERATOR_FUNCTIONS = frozenset({"numbers", "numbers_mt", "zeros", "zeros_mt", "generateseries",
                                 "generate_series", "values", "null"})  # fmt: skip
IN_FUNCTIONS = frozenset({"in", "notIn", "globalIn", "globalNotIn", "nullIn", "notNullIn",
                          "globalNullIn", "globalNotNullIn"})  # fmt: skip
_READS_EVERY_COLUMN = frozenset({"Asterisk", "QualifiedAsterisk", "ColumnsRegexpMatcher",
                                 "ColumnsListMatcher", "QualifiedColumnsRegexpMatcher",
                                 "QualifiedColumnsListMatcher"})  # fmt: skip
_QUERY_ROOTS = frozenset({"SelectWithUnionQuery", "SelectIntersectExceptQuery", "SelectQuery"})
_EXPLAIN_KINDS = frozenset({"EXPLAIN AST", "EXPLAIN SYNTAX", "EXPLAIN QUERY TREE"})
# Statements that name one table, and the privilege ClickHouse would ask for.
_NAMED_TABLE_ROOTS = {
    "ExistsTableQuery": "SHOW TABLES",
    "ExistsViewQuery": "SHOW TABLES",
    "ExistsDictionaryQuery": "SHOW TABLES",
    "ShowCreateTableQuery": "SHOW COLUMNS",
    "ShowCreateViewQuery": "SHOW COLUMNS",
    "ShowCreateDictionaryQuery": "SHOW COLUMNS",
}
_SHOW_MODIFIERS = frozenset({"FULL", "EXTENDED", "TEMPORARY", "CHANGED"})
_SHOW_NAMES_ONLY = frozenset({"DATABASES", "FUNCTIONS", "ENGINES", "SETTINGS", "SETTING"})

CatalogueColumns = Callable[[], Mapping[str, frozenset[str]]]  # system table -> its columns


class ReadRefused(Exception):
    """A shop owner's statement reads something they may not; the text says what."""


def missing_grant(privilege: str, on: str) -> ReadRefused:
    return ReadRefused(
        "Not enough privileges. To execute this query, it's necessary to have "
        f"the grant {privilege} ON {on}"
    )


def shop_owner_may_not(what: str) -> ReadRefused:
    return ReadRefused(f"Not enough privileges: a shop owner may not {what}")


@dataclass(frozen=True)
class ShopOwnerReads:
    """The read rules for one warehouse database."""

    warehouse_database: str
    catalogue_columns: CatalogueColumns  # every column of system.tables/columns (engine's)

    def check_parsed(self, root: AstNode, current_database: str) -> None:
        """Refuse a statement (as EXPLAIN AST parsed it) that reads beyond the allowance."""
        if root.label == "Explain":
            if root.detail not in _EXPLAIN_KINDS:
                raise shop_owner_may_not(
                    f"run {root.detail}: it shows the size of every shop's data "
                    "(EXPLAIN AST, SYNTAX and QUERY TREE are open)"
                )
            if any(child.label == "Set" for child in root.children):
                raise shop_owner_may_not("pass settings to EXPLAIN")
            explained = root.children[-1] if root.children else None
            if explained is None or explained.label not in _QUERY_ROOTS:
                raise shop_owner_may_not("explain anything but a SELECT")
            self._check_query(explained, current_database)
        elif root.label in _QUERY_ROOTS:
            self._check_query(root, current_database)
        elif root.label == "DescribeQuery":
            self._check_query(root, current_database, "SHOW COLUMNS")
        elif root.label in _NAMED_TABLE_ROOTS:
            names = [child.detail for child in root.children if child.label == "Identifier"]
            if len(names) not in (1, 2):
                raise shop_owner_may_not(f"run this {root.label}")
            database, table = names if len(names) == 2 else (current_database, names[0])
            self._check_table(database, table, _NAMED_TABLE_ROOTS[root.label])
        elif root.label == "ExistsDatabaseQuery":
            return  # whether a database exists: no more than SHOW DATABASES tells
        elif root.label == "ShowCreateDatabaseQuery":
            names = [child.detail for child in root.children if child.label == "Identifier"]
            if names != [self.warehouse_database]:
                raise missing_grant("SHOW DATABASES", ".".join(names) or "?")
        else:
            raise shop_owner_may_not(f"run {root.label} (shop owners have read access)")

    def check_show_listing(self, sql: str, current_database: str) -> None:
        """SHOW DATABASES / TABLES / COLUMNS ...: the engine turns them into system reads."""
        words = list(tokens(sql))[1:]
        for token in words:
            if token.text in ("(", "{") or token.text.upper() in ("WHERE", "SELECT"):
                raise shop_owner_may_not("filter SHOW with WHERE or a subquery")
        position = 0
        while position < len(words) and words[position].text.upper() in _SHOW_MODIFIERS:
            position += 1
        what = words[position].text.upper() if position < len(words) else ""
        rest = words[position + 1 :]
        if what in _SHOW_NAMES_ONLY:
            return
        if what == "TABLES":
            names = _names_after_from(rest)
            database = ".".join(names[0]) if names else current_database
            if database != self.warehouse_database:
                raise missing_grant("SHOW TABLES", f"{database}.*")
        elif what in ("COLUMNS", "FIELDS"):
            names = _names_after_from(rest)
            if not names or len(names[0]) > 2 or (len(names) > 1 and len(names[0]) > 1):
                raise shop_owner_may_not("run SHOW COLUMNS without one plain table name")
            table = names[0][-1]
            if len(names) > 1:
                database = ".".join(names[1])
            else:
                database = names[0][0] if len(names[0]) == 2 else current_database
            self._check_table(database, table, "SHOW COLUMNS")
        else:
            raise shop_owner_may_not(f"run SHOW {what} (shop owners see their shops' data only)")

    # -- the parse ------------------------------------------------------------------

    def _check_query(self, root: AstNode, current_database: str, privilege: str = "SELECT") -> None:
        tables: list[tuple[str, str]] = []
        column_names: set[str] = set()
        counts = [node for node in root.walk() if _is_count(node)]
        counted_stars = {id(star) for count in counts for star in count.children[0].children}
        every_column = False
        for node in root.walk():
            if node.label == "TableIdentifier":
                tables.append(_resolve(node.detail, current_database))
            elif node.label == "TableExpression" and node.children:
                _check_table_function(node.children[0])
            elif node.label == "Function":
                _check_function(node)
                in_table = _in_table(node)
                if in_table is not None:
                    tables.append(_resolve(in_table, current_database))
            elif node.label == "Identifier":
                parts = node.detail.split(".")
                column_names.update(parts)
                if len(parts) > 1 and parts[0] == SYSTEM_DATABASE:
                    tables.append((parts[0], parts[1]))
            elif node.label in _READS_EVERY_COLUMN and id(node) not in counted_stars:
                every_column = True
        for name in sorted(column_names):
            if _VIRTUAL_COLUMN.fullmatch(name):
                raise shop_owner_may_not(f"read the virtual column {name}")
        for database, table in tables:
            self._check_table(database, table, privilege)
            if database == SYSTEM_DATABASE and table in CATALOGUE_COLUMNS:
                self._check_catalogue_columns(table, column_names, every_column)

    def _check_table(self, database: str, table: str, privilege: str) -> None:
        if database == self.warehouse_database:
            return
        if database == SYSTEM_DATABASE and table in SHOP_OWNER_SYSTEM_TABLES:
            return
        raise missing_grant(privilege, f"{database}.{table}")

    def _check_catalogue_columns(self, table: str, named: set[str], every_column: bool) -> None:
        """Only CATALOGUE_COLUMNS of it may be named: every other column the engine has is
        closed, so a size column a new engine version adds is closed as well."""
        full_name = f"{SYSTEM_DATABASE}.{table}"
        if every_column:
            raise missing_grant("SELECT(*)", full_name)
        columns = self.catalogue_columns().get(table)
        if not columns:  # the engine did not say which columns it has: refuse, not guess
            raise missing_grant("SELECT", full_name)
        closed = sorted(named & (columns - CATALOGUE_COLUMNS[table]))
        if closed:
            raise missing_grant(f"SELECT({closed[0]})", full_name)


def _resolve(name: str, current_database: str) -> tuple[str, str]:
    """(database, table) of a table name as the dump prints it (`db.table` or `table`)."""
    database, dot, table = name.partition(".")
    return (database, table) if dot else (current_database, name)


def _in_table(node: AstNode) -> str | None:
    """The table name on the right of `x IN t`, if it is a name (not a subquery or tuple)."""
    if node.detail not in IN_FUNCTIONS or not node.children:
        return None
    arguments = node.children[0].children
    if len(arguments) == 2 and arguments[1].label == "Identifier":
        return arguments[1].detail
    return None


def _is_count(node: AstNode) -> bool:
    """count(...): its `*` counts rows and reads no column."""
    return node.label == "Function" and node.detail == "count" and bool(node.children)


def _check_function(node: AstNode) -> None:
    name = node.detail.lower()
    if name in DENIED_FUNCTIONS or name.startswith(DENIED_FUNCTION_PREFIXES):
        raise shop_owner_may_not(f"use the function {node.detail}()")


def _check_table_function(node: AstNode) -> None:
    if node.label == "Function" and node.detail.lower() not in GENERATOR_FUNCTIONS:
        raise shop_owner_may_not(f"use the table function {node.detail}()")


def _names_after_from(words: list[Token]) -> list[list[str]]:
    """The (possibly qualified) names after each FROM / IN; refuses escaped names."""
    names: list[list[str]] = []
    for index, token in enumerate(words):
        if token.text.upper() not in ("FROM", "IN") or index + 1 >= len(words):
            continue
        name: list[str] = []
        position = index + 1
        while position < len(words):
            part = identifier_name(words[position])
            if part is None:
                raise shop_owner_may_not("name a table with escapes in SHOW")
            name.append(part)
            if position + 1 < len(words) and words[position + 1].text == ".":
                position += 2
                continue
            break
        names.append(name)
    return names
