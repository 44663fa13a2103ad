"""The warehouse's column definitions, read from the migrations themselves.

Whoever writes into ClickHouse (the Flink job's validation, the tests that hold the job's
rows against the tables) asks this module what a column can hold, so the DDL in
``warehouse/migrations/`` stays the one place a column type is written. It reads the
``CREATE TABLE`` column lists and the ``ALTER TABLE ... ADD/MODIFY/DROP COLUMN`` clauses of
every migration, in order; a test checks the result against ``system.columns`` of a
migrated server. Pure text: no ClickHouse client, so the Flink virtualenv can import it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_CLAUSE_WORDS = ("DEFAULT", "MATERIALIZED", "ALIAS", "EPHEMERAL", "COMMENT", "CODEC", "TTL")
_INTEGER_BITS = {"8": 8, "16": 16, "32": 32, "64": 64, "128": 128, "256": 256}
# DateTime is seconds since the epoch in a UInt32: its range, independent of the time zone.
DATETIME_FIRST = 0
DATETIME_LAST = 2**32 - 1
_COLUMN_CLAUSE = re.compile(
    r"(ADD|MODIFY|DROP|RENAME)\s+COLUMN\s+(?:IF\s+(?:NOT\s+)?EXISTS\s+)?(.*)$", flags=re.S | re.I
)
_DROP_TABLE = re.compile(r"DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:\w+\.)?`?(\w+)`?", flags=re.I)


@dataclass(frozen=True)
class ColumnType:
    """One ClickHouse column type, as far as the values it can hold are concerned."""

    text: str  # as written in the DDL, e.g. "Nullable(DateTime('Asia/Shanghai'))"
    base: str  # without Nullable/LowCardinality, e.g. "DateTime('Asia/Shanghai')"
    nullable: bool
    has_default: bool = False

    @property
    def family(self) -> str:
        """``UInt``, ``Int``, ``Decimal``, ``DateTime``, ``DateTime64``, ``String``, ... ."""
        match = re.match(r"\w+", self.base)
        name = match.group(0) if match else self.base
        if re.fullmatch(r"U?Int\d+", self.base):
            return "UInt" if self.base.startswith("U") else "Int"
        return name

    def integer_range(self) -> tuple[int, int]:
        """Smallest and largest value of an ``Int*``/``UInt*`` column."""
        bits = _INTEGER_BITS[re.sub(r"\D", "", self.base)]
        if self.family == "UInt":
            return 0, 2**bits - 1
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

    def decimal_precision_scale(self) -> tuple[int, int]:
        match = re.fullmatch(r"Decimal\((\d+),\s*(\d+)\)", self.base)
        if match is None:
            raise ValueError(f"not a Decimal(P, S) column: {self.text}")
        return int(match.group(1)), int(match.group(2))

    def decimal_limit(self) -> Decimal:
        """Every value must be strictly less than this in absolute value."""
        precision, scale = self.decimal_precision_scale()
        return Decimal(10) ** (precision - scale)

    def time_zone(self) -> str:
        match = re.search(r"'([^']+)'", self.base)
        return match.group(1) if match else "UTC"

    def datetime_range_text(self) -> tuple[str, str]:
        """First and last wall-clock time a ``DateTime`` column holds, in its own zone."""
        zone = ZoneInfo(self.time_zone())
        first, last = (
            datetime.fromtimestamp(moment, zone) for moment in (DATETIME_FIRST, DATETIME_LAST)
        )
        return first.strftime("%Y-%m-%d %H:%M:%S"), last.strftime("%Y-%m-%d %H:%M:%S")


def parse_type(text: str, has_default: bool = False) -> ColumnType:
    base, nullable = text.strip(), False
    while True:
        wrapper = re.fullmatch(r"(Nullable|LowCardinality)\((.*)\)", base)
        if wrapper is None:
            break
        nullable = nullable or wrapper.group(1) == "Nullable"
        base = wrapper.group(2).strip()
    return ColumnType(text.strip(), base, nullable, has_default)


def _top_level(text: str) -> Iterator[int]:
    """Indexes of the characters outside parentheses and quoted text."""
    depth, quote = 0, ""
    for index, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'`\"":
            quote = char
        elif char in "()":
            depth += 1 if char == "(" else -1
        elif depth == 0:
            yield index


def _split_top_level(text: str, separator: str = ",") -> list[str]:
    """Split on ``separator`` outside parentheses and quotes."""
    cuts = [index for index in _top_level(text) if text[index] == separator]
    bounds = zip([-1, *cuts], [*cuts, len(text)], strict=True)
    parts = [text[start + 1 : end] for start, end in bounds]
    return [part.strip() for part in parts if part.strip()]


def _column_definition(definition: str) -> tuple[str, ColumnType] | None:
    """``name Type [DEFAULT ...] [COMMENT '...']`` -> (name, type); None for INDEX etc."""
    match = re.match(r"`?(\w+)`?\s+(.*)$", definition, flags=re.S)
    if match is None or match.group(1).upper() in ("INDEX", "PROJECTION", "CONSTRAINT"):
        return None
    rest = match.group(2)
    cut = len(rest)
    for word in _CLAUSE_WORDS:
        found = _keyword_outside_parentheses(rest, word)
        if found is not None:
            cut = min(cut, found)
    has_default = any(
        _keyword_outside_parentheses(rest, word) is not None
        for word in ("DEFAULT", "MATERIALIZED", "ALIAS", "EPHEMERAL")
    )
    return match.group(1), parse_type(rest[:cut], has_default)


def _keyword_outside_parentheses(text: str, word: str) -> int | None:
    pattern = re.compile(rf"(?<![\w]){word}\b")
    return next((index for index in _top_level(text) if pattern.match(text, index)), None)


def _statements(path: Path) -> list[str]:
    text = "\n".join(
        line for line in path.read_text().splitlines() if not line.strip().startswith("--")
    )
    return [part.strip() for part in re.split(r";\s*$", text, flags=re.M) if part.strip()]


def _create_table(statement: str, tables: dict[str, dict[str, ColumnType]]) -> None:
    head = re.match(r"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:\w+\.)?`?(\w+)`?\s*(.*)$",
                    statement, flags=re.S | re.I)  # fmt: skip
    if head is None:
        return
    name, rest = head.group(1), head.group(2)
    as_other = re.match(r"AS\s+(?:\w+\.)?`?(\w+)`?", rest, flags=re.I)
    if as_other is not None:
        tables[name] = dict(tables.get(as_other.group(1), {}))
        return
    if not rest.startswith("("):
        return
    depth = 0
    for index, char in enumerate(rest):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            body = rest[1:index]
            break
    else:
        raise ValueError(f"unbalanced column list in CREATE TABLE {name}")
    columns = {}
    for definition in _split_top_level(body):
        parsed = _column_definition(definition)
        if parsed is not None:
            columns[parsed[0]] = parsed[1]
    tables[name] = columns


def _alter_table(statement: str, tables: dict[str, dict[str, ColumnType]]) -> None:
    head = re.match(r"ALTER\s+TABLE\s+(?:\w+\.)?`?(\w+)`?\s+(.*)$", statement, flags=re.S | re.I)
    if head is None or head.group(1) not in tables:
        return
    columns = tables[head.group(1)]
    for clause in _split_top_level(head.group(2)):
        action = _COLUMN_CLAUSE.match(clause)
        if action is None:
            continue
        verb, rest = action.group(1).upper(), action.group(2)
        if verb == "DROP":
            columns.pop(rest.strip(" `"), None)
        elif verb == "RENAME":
            old, _, new = rest.partition(" TO ")
            columns[new.strip(" `")] = columns.pop(old.strip(" `"))
        else:
            rest = re.sub(r"\s+(FIRST|AFTER\s+\w+)\s*$", "", rest, flags=re.I)
            parsed = _column_definition(rest)
            keeps_type = verb == "MODIFY" and parsed is not None and not parsed[1].base
            if (
                parsed is not None and not keeps_type
            ):  # MODIFY COLUMN c COMMENT '...' keeps c's type
                columns[parsed[0]] = parsed[1]


@cache
def warehouse_columns(directory: Path = MIGRATIONS_DIR) -> dict[str, dict[str, ColumnType]]:
    """Table -> column -> type, after every migration in ``directory`` (views excluded)."""
    tables: dict[str, dict[str, ColumnType]] = {}
    for path in sorted(directory.glob("[0-9][0-9][0-9][0-9]_*.sql")):
        for statement in _statements(path):
            if re.match(r"CREATE\s+TABLE", statement, flags=re.I):
                _create_table(statement, tables)
            elif re.match(r"ALTER\s+TABLE", statement, flags=re.I):
                _alter_table(statement, tables)
            elif drop := _DROP_TABLE.match(statement):
                tables.pop(drop.group(1), None)
    return tables


def table_columns(table: str) -> dict[str, ColumnType]:
    """The columns of one table; a KeyError names the table when no migration creates it."""
    tables = warehouse_columns()
    if table not in tables:
        raise KeyError(f"no migration in {MIGRATIONS_DIR} creates the table {table}")
    return tables[table]
