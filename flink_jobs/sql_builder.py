"""Generate the Flink SQL of a document stream from its ``StreamSpec``.

For stream ``s`` the views are:
  ``s_parsed``       typed fields + ``invalid_reason`` (NULL when the record is usable)
  ``s_items``        one row per valid document item (UNNEST of ``items``)
  ``s_wide``         documents widened with shop and warehouse (LEFT JOIN, so a missing
                     dimension lands as unknown and is re-widened when it arrives)
  ``s_item_wide``    items widened with SKU, shop and warehouse
Facts are kept in join state for ``FACT_STATE_TTL`` so that a late or changed dimension
re-widens recent facts; older facts are re-widened by the nightly backfill.
"""

from __future__ import annotations

from flink_jobs.specs import Field, StreamSpec

FACT_STATE_TTL = "2d"
ERP_TIME = "yyyy-MM-dd HH:mm:ss"


def json_value(source: str, name: str) -> str:
    return f"JSON_VALUE({source}, '$.{name}')"


def typed(source: str, item: Field) -> str:
    """The typed SQL expression of a field (optional numbers default to 0, strings to '')."""
    raw = json_value(source, item.name)
    if item.type == "string":
        return f"COALESCE({raw}, '')" if not item.required else raw
    if item.type == "bigint":
        cast = f"TRY_CAST({raw} AS BIGINT)"
        return cast if item.required else f"COALESCE({cast}, CAST(0 AS BIGINT))"
    if item.type == "decimal":
        return f"COALESCE(TRY_CAST({raw} AS DECIMAL(18, 4)), CAST(0 AS DECIMAL(18, 4)))"
    return f"NULLIF({raw}, '')"  # time: kept as the ERP's GMT+8 string, validated below


def problems(source: str, fields: tuple[Field, ...], prefix: str = "") -> list[tuple[str, str]]:
    """(condition, reason) pairs, first match wins."""
    checks: list[tuple[str, str]] = []
    for item in fields:
        raw = json_value(source, item.name)
        if item.required:
            checks.append((f"COALESCE({raw}, '') = ''", f"{prefix}missing {item.name}"))
        if item.type in ("bigint", "decimal"):
            kind = "BIGINT" if item.type == "bigint" else "DECIMAL(18, 4)"
            checks.append(
                (f"{raw} IS NOT NULL AND TRY_CAST({raw} AS {kind}) IS NULL",
                 f"{prefix}non-numeric {item.name}")
            )  # fmt: skip
        if item.type == "time":
            checks.append(
                (f"COALESCE({raw}, '') <> '' AND TO_TIMESTAMP({raw}, '{ERP_TIME}') IS NULL",
                 f"{prefix}malformed {item.name} (want {ERP_TIME})")
            )  # fmt: skip
    return checks


def reason_case(checks: list[tuple[str, str]], first: tuple[str, str] | None = None) -> str:
    ordered = ([first] if first else []) + checks
    whens = "\n    ".join(f"WHEN {condition} THEN '{reason}'" for condition, reason in ordered)
    return f"CASE\n    {whens}\n    ELSE CAST(NULL AS STRING)\n  END"


def parsed_view(spec: StreamSpec) -> str:
    columns = ",\n  ".join(f"{typed('payload', f)} AS {f.name}" for f in spec.fields)
    checks = problems("payload", spec.fields)
    if spec.items:
        checks.append(
            ("JSON_QUERY(payload, '$.items') IS NULL OR NOT (JSON_QUERY(payload, '$.items') IS JSON ARRAY)",
             "missing items array")
        )  # fmt: skip
    reason = reason_case(checks, ("NOT (payload IS JSON OBJECT)", "not a JSON object"))
    return f"""
CREATE TEMPORARY VIEW {spec.stream}_parsed AS
SELECT payload, kafka_at,
  {columns},
  {reason} AS invalid_reason
FROM ods_{spec.stream}"""


def items_view(spec: StreamSpec) -> str:
    item_columns = ",\n  ".join(f"{typed('item', f)} AS item_{f.name}" for f in spec.items)
    reason = reason_case(problems("item", spec.items, prefix="item: "))
    return f"""
CREATE TEMPORARY VIEW {spec.stream}_items_parsed AS
SELECT p.*, item_position,
  {item_columns},
  {reason} AS item_invalid_reason
FROM {spec.stream}_parsed AS p
CROSS JOIN UNNEST(JSON_QUERY(p.payload, '$.items' RETURNING ARRAY<STRING>))
  WITH ORDINALITY AS t(item, item_position)
WHERE p.invalid_reason IS NULL"""


def dead_letter_insert(spec: StreamSpec) -> str:
    document_errors = (
        f"SELECT '{spec.stream}', 'flink.{spec.stream}', invalid_reason, payload, CURRENT_TIMESTAMP "
        f"FROM {spec.stream}_parsed WHERE invalid_reason IS NOT NULL"
    )
    if not spec.items:
        return f"INSERT INTO dlq_{spec.stream}\n{document_errors}"
    item_errors = (
        f"SELECT '{spec.stream}', 'flink.{spec.stream}.items', "
        f"CONCAT(item_invalid_reason, ' (item ', CAST(item_position AS STRING), ')'), payload, "
        f"CURRENT_TIMESTAMP FROM {spec.stream}_items_parsed WHERE item_invalid_reason IS NOT NULL"
    )
    return f"INSERT INTO dlq_{spec.stream}\n{document_errors}\nUNION ALL\n{item_errors}"


def label(column: str, mapping: dict[str, str]) -> str:
    whens = " ".join(f"WHEN '{code}' THEN '{text}'" for code, text in mapping.items())
    return f"CASE CAST({column} AS STRING) {whens} ELSE CAST({column} AS STRING) END"


def shop_columns(alias: str = "sh") -> str:
    return (
        f"COALESCE({alias}.shop_site, '') AS platform, COALESCE({alias}.owner, '') AS shop_owner, "
        f"COALESCE({alias}.region, '') AS shop_region, "
        f"COALESCE({alias}.platform_fee_rate, CAST(0 AS DECIMAL(9, 6))) AS platform_fee_rate"
    )


def wide_view(spec: StreamSpec) -> str:
    labels = "".join(
        f",\n  {label('f.' + column, mapping)} AS {column}_label"
        for column, mapping in spec.labels.items()
    )
    shop_name = "COALESCE(NULLIF(f.shop_name, ''), sh.shop_name, '')" if "shop_name" in spec.field_names() else "COALESCE(sh.shop_name, '')"
    other = [f"f.{name}" for name in spec.field_names() if name != "shop_name"]
    return f"""
CREATE TEMPORARY VIEW {spec.stream}_wide AS
SELECT /*+ STATE_TTL('f' = '{FACT_STATE_TTL}') */
  {', '.join(other)},
  {shop_name} AS shop_name,
  {shop_columns()},
  COALESCE(w.warehouse_name, '') AS warehouse_name,
  COALESCE(w.province, '') AS province,
  CASE WHEN sh.shop_id IS NULL THEN 'unknown_shop' ELSE 'ok' END AS dim_status,
  DATE_FORMAT(f.kafka_at, 'yyyy-MM-dd HH:mm:ss.SSS') AS kafka_at{labels}
FROM (SELECT * FROM {spec.stream}_parsed WHERE invalid_reason IS NULL) AS f
LEFT JOIN shop_dim AS sh ON f.shop_id = sh.shop_id
LEFT JOIN warehouse_latest AS w ON f.wms_co_id = w.wms_co_id"""


def item_wide_view(spec: StreamSpec) -> str:
    item_names = [f"f.item_{item.name} AS {item.name}" for item in spec.items if item.name != "name"]
    document = [f"f.{name}" for name in spec.key + ("shop_id", "wms_co_id", "modified", "ts")]
    extra = [
        f"f.{name}" for name in ("o_id", "status", "io_date", "created", "as_date")
        if name in spec.field_names() and f"f.{name}" not in document
    ]  # fmt: skip
    labels = "".join(
        f",\n  {label('f.' + column, mapping)} AS {column}_label"
        for column, mapping in spec.labels.items()
        if column in ("status",)
    )
    return f"""
CREATE TEMPORARY VIEW {spec.stream}_item_wide AS
SELECT /*+ STATE_TTL('f' = '{FACT_STATE_TTL}') */
  {', '.join(document + extra)},
  {', '.join(item_names)},
  COALESCE(s.sku_name, NULLIF(f.item_name, ''), '') AS sku_name,
  COALESCE(s.category, '') AS category,
  COALESCE(s.brand, '') AS brand,
  COALESCE(s.cost_price, CAST(0 AS DECIMAL(18, 4))) AS cost_price,
  COALESCE(sh.shop_name, '') AS shop_name,
  {shop_columns()},
  COALESCE(w.province, '') AS province,
  CONCAT_WS(',',
    IF(s.sku_id IS NULL, 'unknown_sku', CAST(NULL AS STRING)),
    IF(sh.shop_id IS NULL, 'unknown_shop', CAST(NULL AS STRING))) AS dim_gaps,
  IF(f.item_qty < 0, 'negative qty', '') AS anomaly_reason,
  DATE_FORMAT(f.kafka_at, 'yyyy-MM-dd HH:mm:ss.SSS') AS kafka_at{labels}
FROM (SELECT * FROM {spec.stream}_items_parsed WHERE item_invalid_reason IS NULL) AS f
LEFT JOIN sku_latest AS s ON f.item_sku_id = s.sku_id
LEFT JOIN shop_dim AS sh ON f.shop_id = sh.shop_id
LEFT JOIN warehouse_latest AS w ON f.wms_co_id = w.wms_co_id"""


def sink_projection(table: str, key_expression: str, columns: dict[str, str], source: str) -> str:
    """One JSONEachRow line per row, built in SQL so the Python sink only forwards it.

    ``columns`` must name ``_version`` (the ReplacingMergeTree version), which also
    travels alongside as ``row_version`` for the sink's in-batch dedupe.
    """
    pairs = ", ".join(f"KEY '{name}' VALUE {expression}" for name, expression in columns.items())
    return (
        f"SELECT '{table}' AS target_table, {key_expression} AS row_key, "
        f"CAST({columns['_version']} AS BIGINT) AS row_version, "
        f"JSON_OBJECT({pairs} NULL ON NULL) AS payload FROM {source}"
    )
