"""The job's validation comes from the warehouse's column types, not from a second list."""

from __future__ import annotations

from flink_jobs import sql_builder
from flink_jobs.column_checks import TargetColumn, checks_for, kind_mismatches
from flink_jobs.specs import FACT_STREAMS, INVENTORY
from warehouse.schema import parse_type


def test_every_field_is_parsed_as_what_its_columns_hold() -> None:
    for spec in (INVENTORY, *FACT_STREAMS):
        for fields, targets in (
            (spec.fields, sql_builder.document_targets(spec)),
            (spec.items, sql_builder.item_targets(spec) if spec.items else {}),
        ):
            for field in fields:
                assert kind_mismatches(field.type, targets.get(field.name, [])) == [], (
                    spec.stream,
                    field,
                )


def test_every_numeric_and_time_field_of_a_landing_table_is_checked_against_its_column() -> None:
    targets = sql_builder.document_targets(FACT_STREAMS[0])
    assert [t.where for t in targets["ts"]] == [
        "dwd_sale_out.ts UInt64",
        "dwd_sale_out_item.ts UInt64",
    ]
    assert [t.where for t in targets["created"]] == [
        "dwd_sale_out.created Nullable(DateTime('Asia/Shanghai'))",
        "dwd_sale_out_item.created Nullable(DateTime('Asia/Shanghai'))",
    ]


def test_checks_follow_the_column_type() -> None:
    def reasons(field_type: str, column_type: str) -> list[str]:
        target = TargetColumn("t", "c", parse_type(column_type))
        return [reason for _, reason in checks_for("`c`", "c", field_type, [target])]

    assert reasons("bigint", "UInt8") == [
        "non-numeric c",
        "c below 0, the least t.c UInt8 holds",
        "c above 255, the most t.c UInt8 holds",
    ]
    assert reasons("bigint", "Int64") == ["non-numeric c"]  # a BIGINT already fits
    assert (
        reasons("decimal", "Decimal(9, 6)")[1] == "c overflows t.c Decimal(9, 6) (|value| < 1000)"
    )
    assert reasons("time", "DateTime('UTC')")[1] == (
        "c outside 1970-01-01 00:00:00 .. 2106-02-07 06:28:15, the range of t.c DateTime('UTC')"
    )


def test_reasons_with_quotes_stay_valid_sql() -> None:
    sql = sql_builder.checked_view(FACT_STREAMS[0])
    assert "DateTime(''Asia/Shanghai'')" in sql
