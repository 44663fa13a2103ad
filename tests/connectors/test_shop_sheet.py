"""The shop sheet users maintain: CSV and XLSX, English or Chinese headers, bad rows explained."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.settings import KafkaSettings
from connectors.kafka_producer import InMemoryProducer
from connectors.shop_sheet import load_shop_sheet, read_rows


def write_xlsx(path: Path, rows: list[list[object]]) -> None:
    from openpyxl import Workbook

    book = Workbook()
    for row in rows:
        book.active.append(row)
    book.save(path)


def test_csv_with_chinese_headers_is_loaded(tmp_path: Path) -> None:
    sheet = tmp_path / "shops.csv"
    sheet.write_text("店铺编号,负责人,区域,平台费率\n501,alice,华东,0.05\n502,bob,华南,0.06\n",
                     encoding="utf-8-sig")
    producer = InMemoryProducer()
    report = load_shop_sheet(sheet, producer, KafkaSettings())
    assert report.loaded == 2 and report.rejected == []
    records = producer.on_topic("erp.ods.shop_sheet")
    assert [r.key_json() for r in records] == [{"shop_id": 501}, {"shop_id": 502}]
    assert records[0].value_json()["owner"] == "alice"
    assert records[0].value_json()["platform_fee_rate"] == "0.05"


def test_xlsx_bad_rows_are_rejected_with_reasons_and_dead_lettered(tmp_path: Path) -> None:
    sheet = tmp_path / "shops.xlsx"
    write_xlsx(sheet, [
        ["shop_id", "owner", "region", "platform_fee_rate"],
        [501, "alice", "华东", 0.05],
        ["abc", "bob", "华南", 0.05],
        [503, "", "华北", 0.05],
        [504, "dan", "西南", 1.5],
    ])  # fmt: skip
    producer = InMemoryProducer()
    report = load_shop_sheet(sheet, producer, KafkaSettings())
    assert report.loaded == 1
    assert [row for row, _ in report.rejected] == [3, 4, 5]
    assert "shop_id" in report.rejected[0][1]
    assert "owner" in report.rejected[1][1]
    assert "platform_fee_rate" in report.rejected[2][1]
    assert len(producer.on_topic("erp.dlq.shop_sheet")) == 3


def test_missing_required_columns_is_a_clear_error(tmp_path: Path) -> None:
    sheet = tmp_path / "shops.csv"
    sheet.write_text("id,name\n1,x\n")
    with pytest.raises(ValueError, match="shop_id"):
        read_rows(sheet)


def test_other_formats_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="csv or .xlsx"):
        read_rows(tmp_path / "shops.txt")
