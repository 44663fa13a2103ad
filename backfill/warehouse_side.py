"""What the warehouse holds of a stream: versions of a day or of chosen keys, and facts
whose dimension arrived after Flink's join state had let them go (DWD FINAL)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from clickhouse_connect.driver.client import Client

from backfill.targets import DimensionGap, ServingCheck, WarehouseTarget

FINAL_PER_PARTITION = "SETTINGS do_not_merge_across_partitions_select_final = 1"
KEY_CHUNK = 1000  # keys per IN list: a query stays a few tens of kilobytes


@dataclass(frozen=True)
class Held:
    version: int
    shop: str
    amount: Decimal


def _key_sql(target: WarehouseTarget) -> str:
    if len(target.key) == 1:
        return f"toString({target.key[0]})"
    return "concat(" + ", '|', ".join(f"toString({column})" for column in target.key) + ")"


def _select(target: WarehouseTarget) -> str:
    shop = f"toString({target.shop})" if target.shop else "''"
    amount = f"toDecimal128({target.amount}, 4)" if target.amount else "toDecimal128(0, 4)"
    return f"SELECT {_key_sql(target)}, _version, {shop}, {amount} FROM {target.table} FINAL"


def _held(rows: Iterable[Sequence[object]]) -> dict[str, Held]:
    return {str(k): Held(int(v), str(s), Decimal(str(a))) for k, v, s, a in rows}  # type: ignore[call-overload]


def held_on_day(
    client: Client, target: WarehouseTarget, begin: datetime, end: datetime,
    filters: dict[str, object],
) -> dict[str, Held]:  # fmt: skip
    """Keys whose newest warehouse version was modified within [begin, end]."""
    where = ["modified >= {begin:DateTime('Asia/Shanghai')}",
             "modified <= {end:DateTime('Asia/Shanghai')}"]  # fmt: skip
    parameters: dict[str, object] = {"begin": begin.replace(tzinfo=None),
                                     "end": end.replace(tzinfo=None)}  # fmt: skip
    for column, value in filters.items():
        if column in target.key:
            where.append(f"{column} = {{{column}:Int64}}")
            parameters[column] = value
    sql = f"{_select(target)} WHERE {' AND '.join(where)} {FINAL_PER_PARTITION}"
    return _held(client.query(sql, parameters=parameters).result_rows)


def held_keys(client: Client, target: WarehouseTarget, keys: Sequence[str]) -> dict[str, Held]:
    """The newest warehouse version of each of ``keys`` that it holds at all."""
    found: dict[str, Held] = {}
    for start in range(0, len(keys), KEY_CHUNK):
        chunk = list(keys[start : start + KEY_CHUNK])
        sql = f"{_select(target)} WHERE {_key_sql(target)} IN {{keys:Array(String)}}"
        if len(target.key) == 1:  # the sorting key: the index finds them
            sql = f"{_select(target)} WHERE {target.key[0]} IN {{keys:Array(String)}}"
        found.update(_held(client.query(sql, parameters={"keys": chunk}).result_rows))
    return found


def widening_gaps(
    client: Client, gap: DimensionGap, since: datetime, until: datetime
) -> list[tuple[str, int]]:
    """(document, warehouse id) of facts modified in [since, until] landed without a
    dimension the warehouse has now: Flink let them go before the dimension arrived."""
    sql = f"""
SELECT DISTINCT toString({gap.document}), toInt64(wms_co_id)
FROM {gap.table} FINAL
WHERE has(splitByChar(',', toString({gap.column})), {{marker:String}})
  AND {gap.key} IN (SELECT {gap.key} FROM {gap.dimension} FINAL)
  AND modified >= {{since:DateTime('Asia/Shanghai')}}
  AND modified <= {{until:DateTime('Asia/Shanghai')}}
{FINAL_PER_PARTITION}"""
    parameters = {"marker": gap.marker, "since": since.replace(tzinfo=None),
                  "until": until.replace(tzinfo=None)}  # fmt: skip
    return [
        (str(doc), int(wms)) for doc, wms in client.query(sql, parameters=parameters).result_rows
    ]


def still_gapped(client: Client, gap: DimensionGap, documents: Sequence[str]) -> set[str]:
    """Which of ``documents`` still carry the gap marker."""
    left: set[str] = set()
    for start in range(0, len(documents), KEY_CHUNK):
        chunk = list(documents[start : start + KEY_CHUNK])
        sql = (f"SELECT DISTINCT toString({gap.document}) FROM {gap.table} FINAL "
               f"WHERE toString({gap.document}) IN {{docs:Array(String)}} "
               f"AND has(splitByChar(',', toString({gap.column})), {{marker:String}})")  # fmt: skip
        rows = client.query(sql, parameters={"docs": chunk, "marker": gap.marker}).result_rows
        left.update(str(row[0]) for row in rows)
    return left


def serving_shops_differ(client: Client, check: ServingCheck, day: date) -> set[str]:
    """Shops whose serving-layer rows or amount of ``day`` differ from the DWD's."""
    figures = []
    for sql in (check.serving_sql, check.dwd_sql):
        rows = client.query(f"{sql} {FINAL_PER_PARTITION}", parameters={"day": day}).result_rows
        figures.append({str(shop): (int(n), Decimal(str(a))) for shop, n, a in rows})
    serving, dwd = figures
    return {shop for shop in set(serving) | set(dwd) if serving.get(shop) != dwd.get(shop)}
