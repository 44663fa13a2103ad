"""Validation that matches the warehouse: what a ClickHouse column can hold, as Flink SQL.

ClickHouse refuses some values outright (a negative number into a ``UInt64``, ``2026-02-30``,
a decimal past its precision) and, worse, silently changes others (a time before 1970 or
after 2106 is clamped to the range's end, ``0000-00-00`` becomes this year's January 1st,
an ``Int8`` wraps). Both must be stopped in the job and dead-lettered with a reason, so
the checks are derived here from the very column types of the DDL
(``warehouse.schema``), not from a second, hand-kept list.

Every check is a ``(condition, reason)`` pair over the record's string column, in the
form ``flink_jobs.sql_builder.problems`` evaluates (the first true condition wins).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from warehouse.schema import ColumnType, table_columns

ERP_TIME = "yyyy-MM-dd HH:mm:ss"
# The widest Flink types a string is read into before the column's own limits are checked.
_FLINK_BIGINT = "BIGINT"
_FLINK_WIDE_DECIMAL = "DECIMAL(38, 10)"


@dataclass(frozen=True)
class TargetColumn:
    """A landing-table column a stream field is written to."""

    table: str
    column: str
    type: ColumnType

    @property
    def where(self) -> str:
        return f"{self.table}.{self.column} {self.type.text}"


def targets_by_field(tables: Iterable[str], renamed: Mapping[str, str] | None = None
                     ) -> dict[str, list[TargetColumn]]:  # fmt: skip
    """Field name -> every column of ``tables`` with that name (``renamed``: field -> column)."""
    renamed = renamed or {}
    found: dict[str, list[TargetColumn]] = {}
    for table in tables:
        for column, column_type in table_columns(table).items():
            field = next((f for f, c in renamed.items() if c == column), column)
            found.setdefault(field, []).append(TargetColumn(table, column, column_type))
    return found


def flink_decimal(targets: list[TargetColumn]) -> str:
    """The Flink DECIMAL a field is typed as: its columns' own precision and scale."""
    kinds = {t.type.decimal_precision_scale() for t in targets if t.type.family == "Decimal"}
    if len(kinds) > 1:
        raise ValueError(f"one field lands in decimals of different sizes: {targets}")
    precision, scale = kinds.pop() if kinds else (18, 4)
    return f"DECIMAL({precision}, {scale})"


def checks_for(column: str, name: str, field_type: str, targets: list[TargetColumn],
               reason_prefix: str = "") -> list[tuple[str, str]]:  # fmt: skip
    """(condition, reason) pairs for one string column of a record, from its target columns.

    ``field_type`` is how the job parses it (``bigint``, ``decimal``, ``time``, ``string``).
    """
    present = f"COALESCE({column}, '') <> ''"
    checks: list[tuple[str, str]] = []
    if field_type == "bigint":
        checks.append((f"{present} AND TRY_CAST({column} AS {_FLINK_BIGINT}) IS NULL",
                       f"{reason_prefix}non-numeric {name}"))  # fmt: skip
        for target in targets:
            if target.type.family in ("Int", "UInt"):
                low, high = target.type.integer_range()
                value = f"TRY_CAST({column} AS {_FLINK_BIGINT})"
                if low > -(2**63):
                    checks.append(
                        (
                            f"{value} < {low}",
                            f"{reason_prefix}{name} below {low}, the least {target.where} holds",
                        )
                    )
                if high < 2**63 - 1:
                    checks.append(
                        (
                            f"{value} > {high}",
                            f"{reason_prefix}{name} above {high}, the most {target.where} holds",
                        )
                    )
    elif field_type == "decimal":
        checks.append((f"{present} AND TRY_CAST({column} AS DOUBLE) IS NULL",
                       f"{reason_prefix}non-numeric {name}"))  # fmt: skip
        for target in targets:
            if target.type.family == "Decimal":
                limit = target.type.decimal_limit()
                wide = f"TRY_CAST({column} AS {_FLINK_WIDE_DECIMAL})"
                checks.append((
                    f"{present} AND ({wide} IS NULL OR ABS({wide}) >= {limit})",
                    f"{reason_prefix}{name} overflows {target.where} (|value| < {limit})",
                ))  # fmt: skip
    elif field_type == "time":
        canonical = f"DATE_FORMAT(TO_TIMESTAMP({column}, '{ERP_TIME}'), '{ERP_TIME}')"
        checks.append((f"{present} AND COALESCE({canonical}, '') <> {column}",
                       f"{reason_prefix}malformed {name} (want {ERP_TIME})"))  # fmt: skip
        for target in targets:
            if target.type.family == "DateTime":
                first, last = target.type.datetime_range_text()
                checks.append((
                    f"{present} AND ({column} < '{first}' OR {column} > '{last}')",
                    f"{reason_prefix}{name} outside {first} .. {last}, the range of {target.where}",
                ))  # fmt: skip
    return _unique(checks)


def _unique(checks: list[tuple[str, str]]) -> list[tuple[str, str]]:
    seen: set[str] = set()
    kept = []
    for condition, reason in checks:
        if condition not in seen:
            seen.add(condition)
            kept.append((condition, reason))
    return kept


def kind_mismatches(field_type: str, targets: list[TargetColumn]) -> list[str]:
    """Target columns whose type does not fit how the job parses the field (for a test)."""
    allowed = {
        "bigint": {"Int", "UInt"},
        "decimal": {"Decimal"},
        "time": {"DateTime"},
        "string": {"String"},
    }[field_type]
    return [t.where for t in targets if t.type.family not in allowed]
