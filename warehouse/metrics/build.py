"""Warehouse views from the catalogue: one ``CREATE OR REPLACE VIEW`` per metric view.

Applied by ``erpbi warehouse migrate`` after the SQL migrations, every time, so a changed
definition reaches the warehouse on the next migrate (the views hold no data).
"""

from __future__ import annotations

from typing import Any

from warehouse.metrics.catalogue import metric_views, metrics_of
from warehouse.metrics.model import MetricView


def view_sql(view: MetricView) -> str:
    """SELECT of one metric view: its grain columns, then each metric under its name."""
    columns = [f"{expression} AS {name}" for name, expression in view.grain]
    columns += [f"{item.expression} AS {item.name}" for item in metrics_of(view)]
    sql = "SELECT\n    " + ",\n    ".join(columns) + f"\nFROM {view.source}"
    if view.where:
        sql += f"\nWHERE {view.where}"
    if view.grain:
        sql += "\nGROUP BY " + ", ".join(expression for _, expression in view.grain)
    return sql


def create_statement(view: MetricView) -> str:
    comment = view.description.replace("'", "''")
    return f"CREATE OR REPLACE VIEW {view.name} AS\n{view_sql(view)}\nCOMMENT '{comment}'"


def create_statements() -> list[str]:
    return [create_statement(view) for view in metric_views()]


def apply(client: Any) -> int:
    """Create or replace every metric view through a clickhouse-connect client."""
    statements = create_statements()
    for statement in statements:
        client.command(statement)
    return len(statements)
