"""ClickHouse's external data: tables uploaded with a query and gone when it ends.

A multipart request may carry files; each is a table named after its form field, read in
`<name>_format` (TabSeparated by default), with columns from `<name>_structure`
(`id UInt32, name String`) or `<name>_types` (`UInt32,String`, named _1, _2, ...). The
engine creates them as temporary tables on the connection that runs the query and drops
them afterwards (engine.py), which is what ClickHouse does within the query's context.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from warehouse.server.body import FormFile
from warehouse.server.errors import BAD_ARGUMENTS, ClickHouseError
from warehouse.server.sqltext import quote_identifier, tokens

_SUFFIXES = ("_format", "_structure", "_types")


@dataclass(frozen=True)
class ExternalTable:
    """One uploaded table: its name, column list, input format and content."""

    name: str
    columns: str  # `a UInt32, b String`, ready for CREATE TABLE
    input_format: str
    content: bytes

    def create_sql(self) -> str:
        return (
            f"CREATE TEMPORARY TABLE {quote_identifier(self.name)} ({self.columns}) ENGINE = Memory"
        )

    def insert_head(self) -> str:
        return f"INSERT INTO {quote_identifier(self.name)}"

    def drop_sql(self) -> str:
        return f"DROP TEMPORARY TABLE IF EXISTS {quote_identifier(self.name)}"


def external_tables(params: Mapping[str, str], files: Sequence[FormFile]) -> list[ExternalTable]:
    """The external tables a request uploads; a clear error when one cannot be described."""
    tables = []
    for file in files:
        structure = params.get(f"{file.name}_structure")
        types = params.get(f"{file.name}_types")
        if structure:
            columns = structure
        elif types:
            columns = ", ".join(
                f"_{index} {type_name.strip()}"
                for index, type_name in enumerate(_split_types(types), start=1)
            )
        else:
            raise ClickHouseError.of(
                BAD_ARGUMENTS,
                f"Neither structure nor types have not been provided for external table "
                f"{file.name}. Use fields {file.name}_structure or {file.name}_types to do so.",
            )
        input_format = params.get(f"{file.name}_format") or "TabSeparated"
        tables.append(ExternalTable(file.name, columns, input_format, file.content))
    return tables


def is_external_table_param(key: str, tables: Sequence[ExternalTable]) -> bool:
    """Whether a URL/form parameter describes one of the uploaded tables (not a setting)."""
    return any(key == table.name + suffix for table in tables for suffix in _SUFFIXES)


def _split_types(types: str) -> list[str]:
    """`UInt32,Tuple(a UInt8, b String),String` split at the top-level commas only."""
    parts: list[str] = []
    depth = 0
    start = 0
    for token in tokens(types):
        if token.text == "(":
            depth += 1
        elif token.text == ")":
            depth -= 1
        elif token.text == "," and depth == 0:
            parts.append(types[start : token.start])
            start = token.end
    parts.append(types[start:])
    return [part for part in parts if part.strip()]
