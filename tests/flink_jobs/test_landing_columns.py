"""The job writes exactly the columns the warehouse has: no more, no fewer.

The sink sends JSONEachRow without ``input_format_skip_unknown_fields``, so a column the
job has and the table lacks is refused by ClickHouse (and dead-lettered, loudly); a column
the table has and the job omits would silently take its default. This test catches both
before anything runs, from the job's own SQL and the migrations' DDL.
"""

from __future__ import annotations

import re

import pytest

from common.settings import Settings
from flink_jobs import pipeline_job
from flink_jobs.specs import FACT_STREAMS, INVENTORY
from warehouse.schema import table_columns

pytestmark = pytest.mark.unit


def landing_columns() -> dict[str, list[str]]:
    """Target table -> the JSON keys of its landing rows, read from the job's INSERT."""
    _, inserts = pipeline_job.job_sql(Settings())
    (landing,) = [statement for statement in inserts if statement.startswith("INSERT INTO landing")]
    found: dict[str, list[str]] = {}
    for part in landing.removeprefix("INSERT INTO landing\n").split("\nUNION ALL\n"):
        table = re.match(r"SELECT '(\w+)' AS target_table", part)
        assert table, part[:200]
        found[table.group(1)] = re.findall(r"KEY '(\w+)' VALUE", part)
    return found


def test_every_landing_table_gets_exactly_its_columns() -> None:
    landed = landing_columns()
    expected_tables = {"dim_sku", "dim_shop", "dim_warehouse", INVENTORY.document_table}
    for spec in FACT_STREAMS:
        expected_tables |= {spec.document_table, spec.item_table}
    assert set(landed) == expected_tables
    for table, keys in landed.items():
        columns = table_columns(table)
        filled_by_clickhouse = {name for name, kind in columns.items() if kind.has_default}
        assert len(keys) == len(set(keys)), f"{table}: a column is written twice"
        unknown = set(keys) - set(columns)
        assert not unknown, f"{table}: the job writes columns the table does not have: {unknown}"
        omitted = set(columns) - set(keys) - filled_by_clickhouse
        assert not omitted, f"{table}: the job omits columns, which would take defaults: {omitted}"
