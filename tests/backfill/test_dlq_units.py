"""What `erpbi dlq` makes of letters and repairs, without Kafka: the three writers' shapes,
the fixes a replay applies, one send per record, and the times --since takes."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import pytest

from backfill.dead_letters import DeadLetter, SourcePosition, parse_letter
from backfill.dlq_cli import format_letters, format_outcome, since_ms
from backfill.dlq_replay import Repair, RepairError, ReplayOutcome, plan

pytestmark = pytest.mark.unit

GBK_DOCUMENT = json.dumps({"io_id": "A1", "shop_name": "冬季旗舰店"}, ensure_ascii=False)


def flink_letter(offset: int, reason: str = "missing io_id", **extra: object) -> bytes:
    body = {"stream": "outbound", "stage": "flink.outbound", "reason": reason,
            "payload": '{"io_id":null}', "failed_at": "2026-12-03 10:00:00Z",
            "topic": "erp.ods.outbound", "partition": 1, "offset": offset,
            "key": base64.b64encode(b'{"io_id":"A1"}').decode(),
            "original": None} | extra  # fmt: skip
    return json.dumps(body).encode()


def test_a_flink_letter_keeps_its_position_key_and_exact_bytes() -> None:
    original = GBK_DOCUMENT.encode("gbk")
    value = flink_letter(7, "not UTF-8", original=base64.b64encode(original).decode())
    letter = parse_letter("outbound", "0:3", 1_700_000_000_000, value)
    assert letter.source == SourcePosition(topic="erp.ods.outbound", partition=1, offset=7)
    assert letter.key == b'{"io_id":"A1"}' and letter.original == original
    assert letter.replayable and not letter.whole_record_in_payload


def test_connector_and_clickhouse_letters_are_read_but_not_replayable() -> None:
    connector = json.dumps({"stream": "outbound", "source": "orders.out",
                            "reason": "io_id: Field required", "raw": {"o_id": 5},
                            "failed_at": 1}).encode()  # fmt: skip
    refused = json.dumps({"stream": "sku", "stage": "clickhouse.dim_sku", "reason": "HTTP 400",
                          "payload": '{"sku_id":"X"}', "table": "dim_sku"}).encode()  # fmt: skip
    read = [parse_letter("outbound", "0:1", 0, connector), parse_letter("sku", "0:2", 0, refused)]
    assert [letter.stage for letter in read] == ["connector.orders.out", "clickhouse.dim_sku"]
    assert json.loads(read[0].payload) == {"o_id": 5}
    assert not any(letter.replayable for letter in read)
    garbage = parse_letter("outbound", "0:9", 0, b"\xff\xfe")
    assert garbage.reason == "unreadable dead letter"


def test_repairs_fix_charset_names_and_values() -> None:
    assert Repair().apply(b"\xff as it was") == b"\xff as it was"
    fixed = Repair(charset="gbk").apply(GBK_DOCUMENT.encode("gbk"))
    assert json.loads(fixed)["shop_name"] == "冬季旗舰店"
    renamed = Repair(renames=(("ioId", "io_id"),)).apply(b'{"ioId":"A1","ts":3}')
    assert json.loads(renamed) == {"io_id": "A1", "ts": 3}
    values = Repair(values=(("ts", "12"), ("io_date", "2026-02-28 10:00:00"))).apply(b'{"ts":-5}')
    assert json.loads(values) == {"ts": 12, "io_date": "2026-02-28 10:00:00"}
    with pytest.raises(RepairError, match="not UTF-8"):
        Repair(renames=(("a", "b"),)).apply(GBK_DOCUMENT.encode("gbk"))
    with pytest.raises(RepairError, match="not a JSON object"):
        Repair(charset="utf-8", values=(("a", "1"),)).apply(b"[1]")


def letter(letter_id: str, offset: int | None) -> DeadLetter:
    source = None
    if offset is not None:
        source = SourcePosition(topic="erp.ods.outbound", partition=0, offset=offset)
    return DeadLetter(stream="outbound", letter_id=letter_id, written_at_ms=0,
                      stage="flink.outbound.items", reason="item: missing sku_id (item 1)",
                      payload="{}", source=source)  # fmt: skip


def test_one_send_per_record_and_none_for_records_already_replayed() -> None:
    letters = [letter("0:1", 10), letter("0:2", 10), letter("0:3", 11), letter("0:4", None)]
    chosen, outcome = plan(letters, replayed={"erp.ods.outbound:0:11": {}}, again=False)
    assert [item.letter_id for item in chosen] == ["0:1"]  # two items of one record: once
    assert [item.letter_id for item in outcome.already] == ["0:3"]
    assert [item.letter_id for item in outcome.not_on_kafka] == ["0:4"]
    again, _ = plan(letters, replayed={"erp.ods.outbound:0:11": {}}, again=True)
    assert [item.letter_id for item in again] == ["0:1", "0:3"]


def test_since_takes_relative_and_beijing_times() -> None:
    assert abs(since_ms("2h") - (time.time() - 7200) * 1000) < 5000
    utc_midnight = datetime(2026, 12, 3, tzinfo=UTC).timestamp() * 1000
    assert since_ms("2026-12-03 08:00") == utc_midnight  # Beijing is UTC+8
    assert since_ms("2026-12-03") == utc_midnight - 8 * 3600 * 1000


def test_the_listing_and_outcome_speak_chinese() -> None:
    ledger = {"erp.ods.outbound:0:10": {"sent_to": "erp.ods.outbound:0:12"}}
    letters = [letter("0:1", 10), letter("0:4", None), letter("0:5", 12)]
    listed = format_letters(letters, ledger).splitlines()
    assert listed[0] == "死信 3 条 (已重放 1 条)"
    assert " 是 " in listed[2] and "需重拉" in listed[3]
    assert "再次失败" in listed[4]  # the record a replay sent failed again: replay it, fixed
    outcome = ReplayOutcome(sent=[letter("0:1", 10)], already=[letter("0:2", 11)],
                            not_on_kafka=[letter("0:4", None)])  # fmt: skip
    text = format_outcome(outcome, Repair(charset="gbk"), dry_run=False)
    assert text.splitlines()[0] == "已重放 1 条记录 (修复: charset=gbk)"
    assert "跳过 1 条: 已重放过" in text and "erpbi backfill --stream outbound" in text
