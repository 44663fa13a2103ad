"""The shop sheet users maintain (owner, region, platform fee rate), loaded from CSV or XLSX.

``erpbi dims load shops.xlsx`` validates every row, produces the good ones to the
compacted ``<prefix>.ods.shop_sheet`` topic (key ``{"shop_id"}``) and the bad ones to
``<prefix>.dlq.shop_sheet`` with the reason, and says which rows were rejected and why.
Headers may be English or Chinese (店铺编号, 负责人, 区域, 平台费率).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common.settings import KafkaSettings
from connectors.kafka_producer import RecordProducer, encode_json
from connectors.models import now_millis

HEADER_ALIASES = {
    "shop_id": "shop_id", "店铺编号": "shop_id", "店铺id": "shop_id",
    "owner": "owner", "负责人": "owner",
    "region": "region", "区域": "region",
    "platform_fee_rate": "platform_fee_rate", "平台费率": "platform_fee_rate",
}  # fmt: skip


class ShopSheetRow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    shop_id: int = Field(gt=0)
    owner: str = Field(min_length=1)
    region: str = ""
    platform_fee_rate: Decimal = Field(default=Decimal(0), ge=0, lt=1)


@dataclass
class SheetLoadReport:
    loaded: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (sheet row number, reason)


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a CSV or XLSX file as dicts keyed by canonical column names."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        sheet = load_workbook(path, read_only=True, data_only=True).active
        values = [list(row) for row in sheet.iter_rows(values_only=True)]
    elif path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as handle:
            values = [list(row) for row in csv.reader(handle)]
    else:
        raise ValueError(f"{path.name}: the shop sheet must be .csv or .xlsx")
    if not values:
        return []
    headers = [
        HEADER_ALIASES.get(str(h or "").strip().lower(), str(h or "").strip()) for h in values[0]
    ]
    if "shop_id" not in headers or "owner" not in headers:
        raise ValueError(f"{path.name}: needs columns shop_id (店铺编号) and owner (负责人)")
    return [
        # rows may be shorter or longer than the header (ragged CSV): zip stops at the shorter
        {header: cell for header, cell in zip(headers, row, strict=False) if cell not in (None, "")}
        for row in values[1:]
        if any(cell not in (None, "") for cell in row)
    ]


def load_shop_sheet(path: Path, producer: RecordProducer, kafka: KafkaSettings) -> SheetLoadReport:
    """Validate and produce every row; flushes (Kafka acks) before returning."""
    report = SheetLoadReport()
    ingested_at = now_millis()
    for number, raw in enumerate(read_rows(path), start=2):
        try:
            row = ShopSheetRow.model_validate(raw)
        except ValidationError as error:
            reason = "; ".join(
                f"{'.'.join(str(p) for p in issue['loc'])}: {issue['msg']}"
                for issue in error.errors()
            )
            report.rejected.append((number, reason))
            letter = {"stream": "shop_sheet", "stage": "dims load", "reason": reason,
                      "payload": encode_json({k: str(v) for k, v in raw.items()}).decode(),
                      "row": number, "file": path.name}
            producer.send(kafka.topic("dlq", "shop_sheet"), None, encode_json(letter))
            continue
        value = {**row.model_dump(mode="json"), "_ingested_at": ingested_at}
        producer.send(kafka.topic("ods", "shop_sheet"), encode_json({"shop_id": row.shop_id}),
                      encode_json(value))
        report.loaded += 1
    producer.flush()
    return report
