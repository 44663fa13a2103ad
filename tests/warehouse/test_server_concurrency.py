"""Many clients at once: every request succeeds and nothing interleaves."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from clickhouse_targets import Target

pytestmark = pytest.mark.integration

CLIENTS = 30
ROUNDS = 5
ROWS_PER_INSERT = 20


def _client_work(target: Target, db: str, worker: int) -> int:
    """Insert in rounds and read back this worker's rows after each: read-your-writes."""
    compress = [False, True, "zstd", "gzip", "lz4"][worker % 5]
    client = target.client(database=db, compress=compress)
    session_id = f"w{worker}-{uuid.uuid4()}"
    for round_number in range(ROUNDS):
        rows = [
            [worker, round_number, index, f"w{worker}r{round_number}i{index}"]
            for index in range(ROWS_PER_INSERT)
        ]
        if worker % 3 == 0:  # a third of the workers insert over raw HTTP instead of Native
            body = "".join(
                json.dumps({"worker": w, "round": r, "idx": i, "label": label}) + "\n"
                for w, r, i, label in rows
            ).encode()
            response = target.http(
                params={
                    "query": "INSERT INTO load FORMAT JSONEachRow",
                    "database": db,
                    "session_id": session_id,
                },
                data=body,
            )
            assert response.status_code == 200, response.text
        else:
            client.insert("load", rows, column_names=["worker", "round", "idx", "label"])
        expected = (round_number + 1) * ROWS_PER_INSERT
        count, labels_ok = client.query(
            "SELECT count(), countIf(label = concat('w', toString(worker), 'r', toString(round),"
            " 'i', toString(idx))) FROM load WHERE worker = {worker:UInt32}",
            parameters={"worker": worker},
        ).result_rows[0]
        assert (count, labels_ok) == (expected, expected)
        total = client.command("SELECT count() FROM load")
        assert isinstance(total, int) and total >= expected
    client.close()
    return worker


def test_thirty_clients_mixing_inserts_and_selects(target: Target, scratch_db: str) -> None:
    target.sql(
        f"CREATE TABLE {scratch_db}.load (worker UInt32, round UInt32, idx UInt32, label String) "
        "ENGINE = MergeTree ORDER BY (worker, round, idx)"
    )
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        finished = sorted(
            pool.map(lambda worker: _client_work(target, scratch_db, worker), range(CLIENTS))
        )
    assert finished == list(range(CLIENTS))
    totals = target.sql(f"SELECT count(), uniqExact(worker, round, idx) FROM {scratch_db}.load")
    expected = CLIENTS * ROUNDS * ROWS_PER_INSERT
    assert totals == f"{expected}\t{expected}\n"


def test_concurrent_sessions_keep_their_own_settings(target: Target) -> None:
    def session_work(worker: int) -> None:
        session_id = f"s{worker}-{uuid.uuid4()}"
        value = str(1000 + worker)
        target.sql(f"SET max_block_size = {value}", session_id=session_id)
        for _ in range(10):
            assert (
                target.sql("SELECT getSetting('max_block_size')", session_id=session_id)
                == f"{value}\n"
            )
            assert target.sql("SELECT getSetting('max_block_size')") != f"{value}\n"

    with ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(session_work, range(10)))
