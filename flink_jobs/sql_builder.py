"""Generate the Flink SQL of a stream from its ``StreamSpec``.

Each record is parsed once, by Flink's JSON format, into string columns (numbers keep
their exact text, nested objects become JSON text, ``items`` an array of rows); typing
and validation are then cheap string operations. A record that is not a JSON object at
all (or not UTF-8) is dropped by the JSON source and caught by a bytes source on the same
topic, so every record is either used or dead-lettered with a reason and its position.

For stream ``s`` the views are:
  ``s_checked``      the string columns + ``invalid_reason`` (NULL when usable)
  ``s_parsed``       typed columns of the usable records
  ``s_items_checked``one row per item of a usable document, with ``item_invalid_reason``
  ``s_joined``       documents joined with shop and warehouse (LEFT JOIN, so a missing
                     dimension lands as unknown and is re-widened when it arrives)
  ``s_wide``         the document rows of ``s_joined``
  ``s_joined_items`` one row per usable item of ``s_joined`` (shop and warehouse joined
                     once per document, not once per item)
  ``s_item_wide``    those items widened with the SKU
Facts are kept in join state for ``FACT_STATE_TTL`` so that a late or changed dimension
re-widens recent facts; older facts are re-widened by the nightly backfill.
"""

from __future__ import annotations

from collections.abc import Mapping

from common.settings import Settings
from flink_jobs.column_checks import TargetColumn, checks_for, flink_decimal, targets_by_field
from flink_jobs.kafka_tables import KEY_AND_POSITION, RAW_KEY, source_options
from flink_jobs.specs import Field, StreamSpec

FACT_STATE_TTL = "2d"
# Where a record came from, as a dead letter carries it.
POSITION = "kafka_topic, kafka_partition, kafka_offset, kafka_key"
UTF8 = "'UTF-8'"


def json_source(spec: StreamSpec, settings: Settings, group: str) -> str:
    columns = [f"`{f.name}` STRING" for f in spec.fields]
    if spec.items:
        item_columns = ", ".join(f"`{f.name}` STRING" for f in spec.items)
        columns.append(f"`items` ARRAY<ROW<{item_columns}>>")
    columns += [
        "kafka_key BYTES",
        "kafka_at TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL",
        *KEY_AND_POSITION,
    ]
    body = ",\n  ".join(columns)
    json_format = {
        **RAW_KEY,
        "value.format": "json",
        "value.json.ignore-parse-errors": "true",  # non-JSON: caught on the raw source
        "value.json.fail-on-missing-field": "false",
    }
    return f"""
CREATE TABLE ods_{spec.stream}_json (
  {body}
) WITH (
  {source_options(spec.stream, settings, group, json_format)}
)"""


def typed(column: str, item: Field, targets: list[TargetColumn] | None = None) -> str:
    """The typed SQL expression of a string column (optional numbers default to 0).

    Decimals take the precision and scale of the columns they land in (``targets``).
    """
    if item.type == "string":
        return f"COALESCE({column}, '')" if not item.required else column
    if item.type == "bigint":
        cast = f"TRY_CAST({column} AS BIGINT)"
        return cast if item.required else f"COALESCE({cast}, CAST(0 AS BIGINT))"
    if item.type == "decimal":
        kind = flink_decimal(targets or [])
        return f"COALESCE(TRY_CAST({column} AS {kind}), CAST(0 AS {kind}))"
    return f"NULLIF({column}, '')"  # time: kept as the ERP's GMT+8 string, validated below


def problems(
    fields: tuple[Field, ...], targets: Mapping[str, list[TargetColumn]],
    column_name: str = "`{}`", reason_prefix: str = "",
) -> list[tuple[str, str]]:  # fmt: skip
    """(condition, reason) pairs over string columns; the first match wins.

    Besides presence and parseability, each value must fit every warehouse column it lands
    in (``targets``: field -> columns, from the DDL; see ``flink_jobs.column_checks``).
    """
    checks: list[tuple[str, str]] = []
    for item in fields:
        column = column_name.format(item.name)
        if item.required:
            checks.append((f"COALESCE({column}, '') = ''", f"{reason_prefix}missing {item.name}"))
        checks += checks_for(
            column, item.name, item.type, targets.get(item.name, []), reason_prefix
        )
    return checks


def document_targets(spec: StreamSpec) -> dict[str, list[TargetColumn]]:
    """Document field -> the columns it lands in: the document table's, and the item table's
    for the document columns every item row carries."""
    found = targets_by_field([spec.document_table])
    if spec.item_table:
        carried = set(_item_document_columns(spec))
        for name, columns in targets_by_field([spec.item_table]).items():
            if name in carried:
                found.setdefault(name, []).extend(columns)
    return found


def item_targets(spec: StreamSpec) -> dict[str, list[TargetColumn]]:
    """Item field -> the item table's column of that name (not the carried document ones)."""
    carried = set(_item_document_columns(spec))
    return {name: columns for name, columns in targets_by_field([spec.item_table]).items()
            if name not in carried}  # fmt: skip


def reason_case(checks: list[tuple[str, str]]) -> str:
    whens = "\n    ".join(
        f"WHEN {condition} THEN '{reason.replace(chr(39), chr(39) * 2)}'"
        for condition, reason in checks
    )
    return f"CASE\n    {whens}\n    ELSE CAST(NULL AS STRING)\n  END"


def checked_view(spec: StreamSpec) -> str:
    checks = problems(spec.fields, document_targets(spec))
    if spec.items:
        checks.append(("`items` IS NULL", "missing items array"))
    return f"""
CREATE TEMPORARY VIEW {spec.stream}_checked AS
SELECT r.*, {reason_case(checks)} AS invalid_reason
FROM ods_{spec.stream}_json AS r"""


def parsed_view(spec: StreamSpec) -> str:
    targets = document_targets(spec)
    columns = ",\n  ".join(f"{typed('`' + f.name + '`', f, targets.get(f.name))} AS `{f.name}`"
                            for f in spec.fields)  # fmt: skip
    # a fact's items are dead-lettered one by one, each with its document's position
    items = f", `items`, {POSITION}" if spec.items else ""
    return f"""
CREATE TEMPORARY VIEW {spec.stream}_parsed AS
SELECT
  {columns},
  kafka_at{items}
FROM {spec.stream}_checked
WHERE invalid_reason IS NULL"""


def _unnest_items(spec: StreamSpec) -> tuple[str, str, str]:
    """(typed item columns, the item's invalid reason, the UNNEST clause) of ``items``."""
    raw_names = ", ".join(f"raw_{f.name}" for f in spec.items)
    targets = item_targets(spec)
    typed_items = ",\n  ".join(f"{typed('raw_' + f.name, f, targets.get(f.name))} AS item_{f.name}"
                                for f in spec.items)  # fmt: skip
    reason = reason_case(
        problems(spec.items, targets, column_name="raw_{}", reason_prefix="item: ")
    )
    unnest = f"CROSS JOIN UNNEST(d.`items`) WITH ORDINALITY AS t({raw_names}, item_position)"
    return typed_items, reason, unnest


def items_view(spec: StreamSpec) -> str:
    """Every item of a usable document with its invalid reason (for the dead letters)."""
    typed_items, reason, unnest = _unnest_items(spec)
    document = ", ".join(f"d.`{f.name}`" for f in spec.fields)
    raw_item = ", ".join(f"KEY '{f.name}' VALUE raw_{f.name}" for f in spec.items)
    return f"""
CREATE TEMPORARY VIEW {spec.stream}_items_checked AS
SELECT {document}, d.kafka_at, item_position, {", ".join(f"d.{c}" for c in POSITION.split(", "))},
  {typed_items},
  JSON_OBJECT({raw_item} NULL ON NULL) AS item_payload,
  {reason} AS item_invalid_reason
FROM {spec.stream}_parsed AS d
{unnest}"""


def raw_payload(spec: StreamSpec) -> str:
    """The record rebuilt from its string columns, for a dead letter's readable ``payload``:
    a JSON object the job reads as it read the original (numbers as their text)."""
    pairs = [f"KEY '{f.name}' VALUE `{f.name}`" for f in spec.fields]
    document = f"JSON_OBJECT({', '.join(pairs)} NULL ON NULL)"
    if not spec.items:
        return document
    # JSON_OBJECT would quote the items' JSON as a string: splice the array in instead
    return (
        f"CONCAT(SUBSTR({document}, 1, CHAR_LENGTH({document}) - 1), "
        "',\"items\":', COALESCE(JSON_STRING(`items`), 'null'), '}')"
    )


def unreadable_reason() -> str:
    """Why the JSON source could not read a record of ``ods_<stream>_bytes`` (NULL: it could).

    Invalid UTF-8 is tested by a round trip: decoding replaces a bad byte with U+FFFD, so
    the re-encoded bytes differ. Such a record may still look like a JSON object once
    decoded, but the JSON source drops it: without this test it would be lost unseen."""
    decoded = f"DECODE(original, {UTF8})"
    return f"""CASE
    WHEN original IS NULL THEN 'empty record'
    WHEN ENCODE({decoded}, {UTF8}) <> original THEN 'not UTF-8'
    WHEN NOT ({decoded} IS JSON OBJECT) THEN 'not a JSON object'
    ELSE CAST(NULL AS STRING)
  END"""


def dead_letter_insert(spec: StreamSpec) -> str:
    """Unreadable records (bytes source), invalid documents, and invalid items.

    Columns: stream, stage, reason, payload, failed_at, topic, partition, offset, key,
    original (``kafka_tables.dead_letter_sink``)."""
    stage = f"'{spec.stream}', 'flink.{spec.stream}'"
    no_bytes = "CAST(NULL AS BYTES)"
    parts = [
        f"SELECT {stage}, reason, DECODE(original, {UTF8}), CURRENT_TIMESTAMP, {POSITION}, "
        f"original FROM (SELECT *, {unreadable_reason()} AS reason "
        f"FROM ods_{spec.stream}_bytes) WHERE reason IS NOT NULL",
        f"SELECT {stage}, invalid_reason, {raw_payload(spec)}, CURRENT_TIMESTAMP, {POSITION}, "
        f"{no_bytes} FROM {spec.stream}_checked WHERE invalid_reason IS NOT NULL",
    ]
    if spec.items:
        key = spec.key[0]
        parts.append(
            f"SELECT '{spec.stream}', 'flink.{spec.stream}.items', "
            f"CONCAT(item_invalid_reason, ' (item ', CAST(item_position AS STRING), ')'), "
            f"JSON_OBJECT(KEY '{key}' VALUE `{key}`, KEY 'item' VALUE item_payload), "
            f"CURRENT_TIMESTAMP, {POSITION}, {no_bytes} "
            f"FROM {spec.stream}_items_checked WHERE item_invalid_reason IS NOT NULL"
        )
    return f"INSERT INTO dlq_{spec.stream}\n" + "\nUNION ALL\n".join(parts)


def label(column: str, mapping: dict[str, str]) -> str:
    whens = " ".join(f"WHEN '{code}' THEN '{text}'" for code, text in mapping.items())
    return f"CASE CAST({column} AS STRING) {whens} ELSE CAST({column} AS STRING) END"


def _document_columns(spec: StreamSpec) -> list[tuple[str, str]]:
    """(expression, name) of a document widened with shop ``sh`` and warehouse ``w``."""
    if "shop_name" in spec.field_names():
        shop_name = "COALESCE(NULLIF(f.shop_name, ''), sh.shop_name, '')"
    else:
        shop_name = "COALESCE(sh.shop_name, '')"
    columns = [(f"f.{name}", name) for name in spec.field_names() if name != "shop_name"]
    columns += [
        (shop_name, "shop_name"),
        ("COALESCE(sh.shop_site, '')", "platform"),
        ("COALESCE(sh.owner, '')", "shop_owner"),
        ("COALESCE(sh.region, '')", "shop_region"),
        ("COALESCE(sh.platform_fee_rate, CAST(0 AS DECIMAL(9, 6)))", "platform_fee_rate"),
        ("COALESCE(w.warehouse_name, '')", "warehouse_name"),
        ("COALESCE(w.province, '')", "province"),
        ("CASE WHEN sh.shop_id IS NULL THEN 'unknown_shop' ELSE 'ok' END", "dim_status"),
        ("DATE_FORMAT(f.kafka_at, 'yyyy-MM-dd HH:mm:ss.SSS')", "kafka_at"),
    ]
    columns += [(label(f"f.{column}", mapping), f"{column}_label")
                for column, mapping in spec.labels.items()]  # fmt: skip
    return columns


def joined_view(spec: StreamSpec) -> str:
    """Documents joined with shop and warehouse once, for the document rows and their items.

    The items array and the shop's own name ride along, so the item rows are unnested
    from the widened document and only join the SKU: one shop and one warehouse lookup
    per document instead of one per item.
    """
    columns = [f"{expression} AS {name}" for expression, name in _document_columns(spec)]
    if spec.items:
        columns += ["f.`items` AS `items`", "COALESCE(sh.shop_name, '') AS dim_shop_name"]
    body = ",\n  ".join(columns)
    return f"""
CREATE TEMPORARY VIEW {spec.stream}_joined AS
SELECT /*+ STATE_TTL('f' = '{FACT_STATE_TTL}') */
  {body}
FROM {spec.stream}_parsed AS f
LEFT JOIN shop_dim AS sh ON f.shop_id = sh.shop_id
LEFT JOIN warehouse_latest AS w ON f.wms_co_id = w.wms_co_id"""


def wide_columns(spec: StreamSpec) -> list[str]:
    """The columns of ``s_wide``, in order."""
    return [name for _, name in _document_columns(spec)]


def wide_view(spec: StreamSpec) -> str:
    """The document rows: every widened document column (a missing shop lands as unknown)."""
    names = ", ".join(wide_columns(spec))
    return f"""
CREATE TEMPORARY VIEW {spec.stream}_wide AS
SELECT {names}
FROM {spec.stream}_joined"""


_ITEM_SHOP_COLUMNS = ("platform", "shop_owner", "shop_region", "platform_fee_rate", "province")


def _item_document_columns(spec: StreamSpec) -> list[str]:
    """The document columns an item row carries."""
    names = [*spec.key, "shop_id", "wms_co_id", "modified", "ts"]
    return names + [
        name for name in ("o_id", "status", "io_date", "created", "as_date")
        if name in spec.field_names() and name not in names
    ]  # fmt: skip


def _item_labels(spec: StreamSpec) -> list[str]:
    """The label columns an item row carries (its document's status, where it has one)."""
    return ["status_label" for column in spec.labels if column == "status"]


def joined_items_view(spec: StreamSpec) -> str:
    """One row per usable item of a widened document (invalid ones are dead-lettered)."""
    typed_items, reason, unnest = _unnest_items(spec)
    carried = [*_item_document_columns(spec), *_ITEM_SHOP_COLUMNS, "dim_shop_name", "dim_status",
               "kafka_at"]  # fmt: skip
    labels = "".join(f",\n  d.{name}" for name in _item_labels(spec))
    return f"""
CREATE TEMPORARY VIEW {spec.stream}_joined_items AS
SELECT {", ".join(f"d.{name}" for name in carried)}, item_position,
  {typed_items}{labels}
FROM {spec.stream}_joined AS d
{unnest}
WHERE ({reason}) IS NULL"""


def _item_wide_columns(spec: StreamSpec) -> list[tuple[str, str]]:
    """(expression, name) of an item row ``f`` widened with the SKU ``s``."""
    columns = [(f"f.{name}", name) for name in _item_document_columns(spec)]
    columns += [(f"f.item_{item.name}", item.name) for item in spec.items if item.name != "name"]
    columns += [
        ("COALESCE(s.sku_name, NULLIF(f.item_name, ''), '')", "sku_name"),
        ("COALESCE(s.category, '')", "category"),
        ("COALESCE(s.brand, '')", "brand"),
        ("COALESCE(s.cost_price, CAST(0 AS DECIMAL(18, 4)))", "cost_price"),
        ("f.dim_shop_name", "shop_name"),
        *((f"f.{name}", name) for name in _ITEM_SHOP_COLUMNS),
        ("CONCAT_WS(',', IF(s.sku_id IS NULL, 'unknown_sku', CAST(NULL AS STRING)), "
         "IF(f.dim_status = 'unknown_shop', 'unknown_shop', CAST(NULL AS STRING)))", "dim_gaps"),
        ("IF(f.item_qty < 0, 'negative qty', '')", "anomaly_reason"),
        ("f.kafka_at", "kafka_at"),
    ]  # fmt: skip
    return columns + [(f"f.{name}", name) for name in _item_labels(spec)]


def item_wide_columns(spec: StreamSpec) -> list[str]:
    """The columns of ``s_item_wide``, in order."""
    return [name for _, name in _item_wide_columns(spec)]


def item_wide_view(spec: StreamSpec) -> str:
    """The item rows: the widened document's items, joined with the SKU."""
    body = ",\n  ".join(f"{expression} AS {name}" for expression, name in _item_wide_columns(spec))
    return f"""
CREATE TEMPORARY VIEW {spec.stream}_item_wide AS
SELECT /*+ STATE_TTL('f' = '{FACT_STATE_TTL}') */
  {body}
FROM {spec.stream}_joined_items AS f
LEFT JOIN sku_latest AS s ON f.item_sku_id = s.sku_id"""


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
