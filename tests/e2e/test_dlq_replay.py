"""Dead letters of three kinds, replayed with `erpbi dlq` after the fix, land once.

On the whole stack: three copies of a real outbound document reach the ODS topic broken
the way producers break records (written in GBK, the key field sent under another name,
a date that does not exist). Each is dead-lettered with its reason, its position and (the
GBK one) its exact bytes, and none lands. `erpbi dlq replay` with the matching fix sends
each back once; each lands once, items and all; a second replay sends nothing, and
`erpbi dlq list` says they were replayed. The copies are dated 2024-01-15, a day no other
test reads.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from kafka import KafkaConsumer, KafkaProducer
from test_bad_records import real_outbound_document
from test_inventory_slice import INITIAL_LOAD_DEADLINE_SECONDS, caught_up, poll

from backfill.dead_letters import DeadLetter, read_letters
from common.settings import PROJECT_ROOT, Settings
from erp_simulator.control import SimulatorControl
from flink_jobs.health import records_since

# A drill: it lands documents the ERP does not have, so it runs after the tests that
# compare the warehouse with the ERP.
pytestmark = [pytest.mark.e2e, pytest.mark.drill]

QUIET_DAY = "2024-01-15 10:00:00"
LANDING_SECONDS = 120.0


def broken_documents(document: dict[str, Any]) -> dict[str, tuple[dict[str, Any], str]]:
    """io_id -> (the record as sent, its encoding)."""
    stamp = time.time_ns()
    times = {name: QUIET_DAY for name in ("created", "modified", "io_date", "pay_date")}
    made = {}
    for kind in ("gbk", "renamed", "bad_date"):
        io_id = f"DLQ-{kind}-{stamp}"
        items = [item | {"ioi_id": f"{io_id}-{n}"} for n, item in enumerate(document["items"])]
        made[io_id] = document | times | {"io_id": io_id, "items": items, "shop_name": "冬季旗舰店"}
    gbk, renamed, bad_date = made
    made[renamed]["ioId"] = made[renamed].pop("io_id")
    made[bad_date]["io_date"] = "2026-02-30 10:00:00"
    return {
        io_id: (record, "gb18030" if io_id == gbk else "utf-8") for io_id, record in made.items()
    }


def letters_for(settings: Settings, io_ids: set[str], since_ms: int) -> dict[str, DeadLetter]:
    """io_id -> its dead letter, found in the letter's readable payload."""
    return {
        io_id: letter
        for letter in read_letters(settings, "outbound", since_ms)
        for io_id in io_ids
        if io_id in letter.payload or (letter.key and io_id.encode() in letter.key)
    }


def erpbi_dlq(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "erpbi", "dlq", *args], env=settings.environment, cwd=PROJECT_ROOT,
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def landed(warehouse: Client, io_ids: list[str]) -> dict[str, tuple[int, int]]:
    """io_id -> (documents, items) as the warehouse serves them (FINAL)."""
    documents = dict(warehouse.query(
        "SELECT io_id, count() FROM dwd_sale_out FINAL WHERE io_id IN {ids:Array(String)} "
        "GROUP BY io_id", parameters={"ids": io_ids}).result_rows)  # fmt: skip
    items = dict(warehouse.query(
        "SELECT io_id, count() FROM dwd_sale_out_item FINAL WHERE io_id IN {ids:Array(String)} "
        "GROUP BY io_id", parameters={"ids": io_ids}).result_rows)  # fmt: skip
    return {io_id: (documents.get(io_id, 0), items.get(io_id, 0)) for io_id in io_ids}


def sent_since(settings: Settings, since_ms: int, io_ids: set[str], leave_out: set[str]
               ) -> dict[str, list[str]]:  # fmt: skip
    """The records keyed by each of ``io_ids`` the outbound ODS topic got since then, as
    ``partition:offset@timestamp``, but for those at the ``leave_out`` positions (the live
    sync goes on writing beside them)."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka.bootstrap_servers)
    found: dict[str, list[str]] = {io_id: [] for io_id in io_ids}
    try:
        topic = settings.kafka.topic("ods", "outbound")
        for record in records_since(consumer, topic, since_ms, 1_000_000):
            io_id = json.loads(record.key or b"{}").get("io_id")
            if io_id in found and f"{record.partition}:{record.offset}" not in leave_out:
                found[io_id].append(f"{record.partition}:{record.offset}@{record.timestamp}")
    finally:
        consumer.close()
    return found


def sent_once(settings: Settings, since_ms: int, io_ids: set[str], originals: set[str]
              ) -> tuple[bool, str]:  # fmt: skip
    """Whether each record was sent exactly once since then (its original left out)."""
    found = sent_since(settings, since_ms, io_ids, originals)
    return all(len(positions) == 1 for positions in found.values()), f"since {since_ms}: {found}"


def test_dead_letters_of_three_kinds_replayed_after_the_fix_land_once(
    running_stack: Settings, erp: SimulatorControl, warehouse: Client
) -> None:
    settings = running_stack
    assert poll(lambda: caught_up(erp, warehouse), INITIAL_LOAD_DEADLINE_SECONDS), "never caught up"
    document = real_outbound_document(settings)
    broken = broken_documents(document)
    gbk, renamed, bad_date = broken
    started_ms = int(time.time() * 1000) - 1000
    producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, acks="all")
    sent_bytes, originals = {}, set()
    for io_id, (record, encoding) in broken.items():
        sent_bytes[io_id] = json.dumps(record, ensure_ascii=False).encode(encoding)
        key = json.dumps({"io_id": io_id}).encode()
        topic = settings.kafka.topic("ods", "outbound")
        sent = producer.send(topic, key=key, value=sent_bytes[io_id]).get(timeout=30)
        originals.add(f"{sent.partition}:{sent.offset}")
    producer.close()

    assert poll(lambda: len(letters_for(settings, set(broken), started_ms)) == 3,
                LANDING_SECONDS), "the three records were not all dead-lettered"  # fmt: skip
    found = letters_for(settings, set(broken), started_ms)
    assert found[gbk].reason == "not UTF-8" and found[gbk].original == sent_bytes[gbk]
    assert found[renamed].reason == "missing io_id"
    assert "io_date" in found[bad_date].reason
    topic = settings.kafka.topic("ods", "outbound")
    assert all(letter.source and letter.source.topic == topic for letter in found.values())
    shown = erpbi_dlq(settings, "show", "--stream", "outbound", found[gbk].letter_id)
    assert (
        shown.returncode == 0 and "不是 UTF-8" in shown.stdout and "冬季旗舰店" in shown.stdout
    ), shown.stdout + shown.stderr
    assert landed(warehouse, list(broken)) == {io_id: (0, 0) for io_id in broken}

    # the originals may be younger than a second by now: their positions are left out
    since, replays_from_ms = "10m", int(time.time() * 1000) - 1000
    fixes = [
        ("--reason", "not UTF-8", "--charset", "gb18030"),
        ("--reason", "missing io_id", "--rename", "ioId=io_id"),
        ("--id", found[bad_date].letter_id, "--set", "io_date=2024-01-15 10:00:00"),
    ]
    for fix in fixes:
        done = erpbi_dlq(settings, "replay", "--stream", "outbound", "--since", since, *fix)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "已重放 1 条记录" in done.stdout, done.stdout
    once, found_on_topic = sent_once(settings, replays_from_ms, set(broken), originals)
    assert once, found_on_topic
    items = len(document["items"])
    assert poll(lambda: landed(warehouse, list(broken)) == {i: (1, items) for i in broken},
                LANDING_SECONDS), f"landed: {landed(warehouse, list(broken))}"  # fmt: skip
    row = warehouse.query(
        "SELECT shop_name, toString(io_date) FROM dwd_sale_out FINAL WHERE io_id = {i:String}",
        parameters={"i": gbk},
    ).result_rows[0]
    assert row == ("冬季旗舰店", QUIET_DAY)  # decoded from GBK, not replaced by U+FFFD

    for fix in fixes:
        again = erpbi_dlq(settings, "replay", "--stream", "outbound", "--since", since, *fix)
        assert again.returncode == 0 and "已重放 0 条记录" in again.stdout, again.stdout
        assert "已重放过" in again.stdout, again.stdout
    once, found_on_topic = sent_once(settings, replays_from_ms, set(broken), originals)
    assert once, f"a second replay sent records again: {found_on_topic}"
    assert landed(warehouse, list(broken)) == {io_id: (1, items) for io_id in broken}
    listed = erpbi_dlq(settings, "list", "--stream", "outbound", "--since", since)
    for letter in found.values():
        line = next(row for row in listed.stdout.splitlines() if f" {letter.letter_id} " in row)
        assert " 是 " in line, listed.stdout
