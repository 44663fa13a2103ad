"""The pure pieces of the shop-owner checks: clause finding, AST dump reading, read rules.

The dumps below are what the engine's `EXPLAIN AST` printed for the statement in the
comment above each (chDB 4.4, engine 26.9).
"""

from __future__ import annotations

import pytest

from warehouse.server.ast_dump import MalformedAstDump, parse_ast_dump
from warehouse.server.shop_owner_reads import ReadRefused, ShopOwnerReads
from warehouse.server.sqltext import into_outfile_start, settings_clause_names

pytestmark = pytest.mark.unit

# SELECT sum(rows) FROM parts
SUM_OF_ROWS_IN_PARTS = """SelectWithUnionQuery (children 1)
 ExpressionList (children 1)
  SelectQuery (children 2)
   ExpressionList (children 1)
    Function sum (children 1)
     ExpressionList (children 1)
      Identifier rows
   TablesInSelectQuery (children 1)
    TablesInSelectQueryElement (children 1)
     TableExpression (children 1)
      TableIdentifier parts
"""
# SELECT 1 FROM erp.t WHERE shop_id IN parts
IN_PARTS = """SelectWithUnionQuery (children 1)
 ExpressionList (children 1)
  SelectQuery (children 3)
   ExpressionList (children 1)
    Literal UInt64_1
   TablesInSelectQuery (children 1)
    TablesInSelectQueryElement (children 1)
     TableExpression (children 1)
      TableIdentifier erp.t
   Function in (children 1)
    ExpressionList (children 2)
     Identifier shop_id
     Identifier parts
"""
# SELECT count(*) FROM system.tables AS tables
COUNT_OF_TABLES = """SelectWithUnionQuery (children 1)
 ExpressionList (children 1)
  SelectQuery (children 2)
   ExpressionList (children 1)
    Function count (children 1)
     ExpressionList (children 1)
      Asterisk
   TablesInSelectQuery (children 1)
    TablesInSelectQueryElement (children 1)
     TableExpression (children 1)
      TableIdentifier system.tables (alias tables)
"""
CATALOGUE = {"tables": frozenset({"database", "name", "total_rows", "engine"})}


def rules() -> ShopOwnerReads:
    return ShopOwnerReads("erp", lambda: CATALOGUE)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1 INTO OUTFILE 'x'",
        "select 1 into outfile 'x' append",
        "SELECT 1 INTO/**/OUTFILE 'x' TRUNCATE",
        "SELECT 1 INTO -- comment\nOUTFILE 'x' AND STDOUT",
        "SELECT 1 FORMAT CSV INTO OUTFILE 'x' COMPRESSION 'gzip'",
        "SELECT $$'$$ INTO OUTFILE 'x' --'",
    ],
)
def test_into_outfile_is_found_in_every_form(sql: str) -> None:
    assert into_outfile_start(sql) is not None


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 'INTO OUTFILE x'",
        "SELECT 1 /* INTO OUTFILE 'x' */",
        "SELECT 1 // INTO OUTFILE 'x'",
        "SELECT 1 AS `into outfile`",
        "INSERT INTO outfile VALUES (1)",
    ],
)
def test_into_outfile_in_text_or_a_table_name_is_not_the_clause(sql: str) -> None:
    assert into_outfile_start(sql) is None


@pytest.mark.parametrize(
    ("sql", "names"),
    [
        ("SELECT 1 SETTINGS max_threads = 1, database = 'system'", ["max_threads", "database"]),
        ("SELECT 1 SETTINGS `database` = 'system'", ["database"]),
        ('SELECT 1 SETTINGS "additional_table_filters" = {}', ["additional_table_filters"]),
        ("SELECT 1 SETTINGS `additional_table_filter\\x73` = {}", [None]),
        ("SELECT 1 SETTINGS a = 1e-5, b = {'x': 'y'}, c = [1, 2]", ["a", "b", "c"]),
        ("SELECT * FROM (SELECT 1 SETTINGS a = 1) WHERE database = 'erp'", ["a"]),
        ("SELECT name FROM system.tables WHERE database = 'erp'", []),
        # where only the engine's own lexing tells the string or comment ends
        ("SELECT 1 // '\n SETTINGS x = 1 --'", ["x"]),
        ("SELECT 1 /* /* */ ' */ SETTINGS x = 1 --'", ["x"]),
        ("SELECT $tag$'$tag$ SETTINGS x = 1 --'", ["x"]),
        ("SELECT 1$tag$'$tag$ SETTINGS x = 1 --'", ["x"]),
        ("SELECT \u2018'\u2019 SETTINGS x = 1 --'", ["x"]),
    ],
)
def test_settings_clauses_are_read_as_the_engine_lexes_them(
    sql: str, names: list[str | None]
) -> None:
    assert settings_clause_names(sql) == names


def test_an_ast_dump_is_read_into_its_tree() -> None:
    root = parse_ast_dump(SUM_OF_ROWS_IN_PARTS)
    assert root.label == "SelectWithUnionQuery"
    table = [node for node in root.walk() if node.label == "TableIdentifier"]
    assert [node.detail for node in table] == ["parts"]
    aliased = parse_ast_dump(COUNT_OF_TABLES)
    assert [n.detail for n in aliased.walk() if n.label == "TableIdentifier"] == ["system.tables"]


@pytest.mark.parametrize(
    "text",
    [
        # a quoted name holding a line break forged a line the tree cannot hold
        SUM_OF_ROWS_IN_PARTS.replace("Identifier rows\n", "Identifier a\nTableIdentifier one\n"),
        SUM_OF_ROWS_IN_PARTS.replace("Identifier rows\n", "Identifier a\n       Literal 1\n"),
        '{"meta": [{"name": "explain"}], "data": []}',  # another output format
        SUM_OF_ROWS_IN_PARTS.replace("(children 2)", "(children 3)"),
        "",
    ],
)
def test_anything_but_a_well_formed_dump_is_refused(text: str) -> None:
    with pytest.raises(MalformedAstDump):
        parse_ast_dump(text)


def test_unqualified_names_belong_to_the_current_database() -> None:
    rules().check_parsed(parse_ast_dump(SUM_OF_ROWS_IN_PARTS), current_database="erp")
    with pytest.raises(ReadRefused, match="grant SELECT ON system.parts"):
        rules().check_parsed(parse_ast_dump(SUM_OF_ROWS_IN_PARTS), current_database="system")
    with pytest.raises(ReadRefused, match="grant SELECT ON system.parts"):
        rules().check_parsed(parse_ast_dump(IN_PARTS), current_database="system")
    with pytest.raises(ReadRefused, match="grant SELECT ON scratch.parts"):
        rules().check_parsed(parse_ast_dump(SUM_OF_ROWS_IN_PARTS), current_database="scratch")


def test_system_tables_open_only_their_name_columns() -> None:
    rules().check_parsed(parse_ast_dump(COUNT_OF_TABLES), current_database="erp")  # count(*)
    total_rows = COUNT_OF_TABLES.replace(
        "    Function count (children 1)\n     ExpressionList (children 1)\n      Asterisk\n",
        "    Identifier tables.total_rows\n",
    )
    with pytest.raises(ReadRefused, match=r"grant SELECT\(total_rows\) ON system.tables"):
        rules().check_parsed(parse_ast_dump(total_rows), current_database="erp")
    every_column = COUNT_OF_TABLES.replace(
        "    Function count (children 1)\n     ExpressionList (children 1)\n      Asterisk\n",
        "    Asterisk\n",
    )
    with pytest.raises(ReadRefused, match=r"grant SELECT\(\*\) ON system.tables"):
        rules().check_parsed(parse_ast_dump(every_column), current_database="erp")


@pytest.mark.parametrize(
    ("sql", "refused"),
    [
        ("SHOW TABLES", ""),
        ("SHOW TABLES FROM erp LIKE 'dwd%'", ""),
        ("SHOW DATABASES", ""),
        ("SHOW COLUMNS FROM dwd_sale_out", ""),
        ("SHOW COLUMNS FROM erp.dwd_sale_out", ""),
        ("SHOW TABLES FROM system", "SHOW TABLES ON system.*"),
        ("SHOW TABLES FROM `system`", "SHOW TABLES ON system.*"),
        ("SHOW COLUMNS FROM parts FROM system", "SHOW COLUMNS ON system.parts"),
        ("SHOW COLUMNS IN system.parts", "SHOW COLUMNS ON system.parts"),
        ("SHOW TABLES WHERE total_rows > 0", "WHERE"),
        ("SHOW PROCESSLIST", "SHOW PROCESSLIST"),
        ("SHOW GRANTS", "SHOW GRANTS"),
    ],
)
def test_show_listings_open_the_warehouse_database_only(sql: str, refused: str) -> None:
    if not refused:
        rules().check_show_listing(sql, current_database="erp")
        return
    with pytest.raises(ReadRefused, match=refused.replace("*", r"\*")):
        rules().check_show_listing(sql, current_database="erp")
