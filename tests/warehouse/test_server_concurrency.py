"""Many clients at once: every request succeeds, and no client's state reaches another's.

The server runs statements on several engine connections at once, each carrying whatever
database and settings its last request left, so these tests mix clients that keep state
in an HTTP session, clients that pass it in the URL, and clients that pass none.
"""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from clickhouse_targets import Target

pytestmark = pytest.mark.integration

CLIENTS = 30
ROUNDS = 5
ROWS_PER_INSERT = 20
READ_ROUNDS = 20
FACT_ROWS = 10_000
WAIT_SECONDS = 300  # bound on the whole crowd; a hang fails the test instead of CI


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


@dataclass(frozen=True)
class ClientState:
    """What one reader expects to see in every answer."""

    max_block_size: str
    database: str
    timezone: str


def _reader_work(
    target: Target, worker: int, databases: tuple[str, str], baseline: ClientState
) -> int:
    """Read a known aggregate and this client's own state, in one of three ways of keeping it.

    Workers 0, 3, 6... SET and USE in an HTTP session; 1, 4, 7... pass the database and
    settings on every request (clickhouse-connect); the rest pass nothing and must always
    see the server defaults, whatever ran just before on the same engine connection.
    """
    own_database = databases[worker % 2]
    style = worker % 3
    client = None
    session_id = f"r{worker}-{uuid.uuid4()}"
    if style == 0:
        expected = ClientState(str(1000 + worker), own_database, "Asia/Tokyo")
        target.sql(
            f"SET max_block_size = {expected.max_block_size}, session_timezone = 'Asia/Tokyo'",
            session_id=session_id,
        )
        target.sql(f"USE {own_database}", session_id=session_id)
    elif style == 1:
        expected = ClientState(str(2000 + worker), own_database, baseline.timezone)
        client = target.client(
            database=own_database, settings={"max_block_size": expected.max_block_size}
        )
    else:
        expected = baseline
    probe = "SELECT getSetting('max_block_size'), currentDatabase(), timezone()"
    aggregate = (
        f"SELECT count(), sum(amount) FROM {databases[0]}.facts WHERE shop = {{shop:UInt32}}"
    )
    shop = worker % 7
    shop_amounts = [amount for amount in range(FACT_ROWS) if amount % 7 == shop]
    want_aggregate = (len(shop_amounts), sum(shop_amounts))
    for _ in range(READ_ROUNDS):
        if client is not None:
            state = client.query(probe).result_rows[0]
            count, total = client.query(aggregate, parameters={"shop": shop}).result_rows[0]
        else:
            params = {"session_id": session_id} if style == 0 else {}
            state = tuple(target.sql(probe, **params).rstrip("\n").split("\t"))
            count, total = map(int, target.sql(aggregate, **params, param_shop=str(shop)).split())
        assert tuple(map(str, state)) == (
            expected.max_block_size,
            expected.database,
            expected.timezone,
        ), f"worker {worker} saw another client's state"
        assert (count, total) == want_aggregate
    if client is not None:
        client.close()
    return worker


def test_thirty_readers_get_right_answers_and_never_see_each_others_state(
    target: Target, scratch_db: str
) -> None:
    second_db = f"{scratch_db}_b"
    target.sql(f"CREATE DATABASE {second_db}")
    try:
        target.sql(
            f"CREATE TABLE {scratch_db}.facts (shop UInt32, amount UInt64) "
            "ENGINE = MergeTree ORDER BY shop"
        )
        target.sql(
            f"INSERT INTO {scratch_db}.facts SELECT number % 7, number FROM numbers({FACT_ROWS})"
        )
        baseline = ClientState(
            *target.sql("SELECT getSetting('max_block_size'), currentDatabase(), timezone()")
            .rstrip("\n")
            .split("\t")
        )
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            finished = sorted(
                pool.map(
                    lambda worker: _reader_work(target, worker, (scratch_db, second_db), baseline),
                    range(CLIENTS),
                    timeout=WAIT_SECONDS,
                )
            )
        assert finished == list(range(CLIENTS))
    finally:
        target.sql(f"DROP DATABASE IF EXISTS {second_db}")
