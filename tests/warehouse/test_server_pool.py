"""The engine's connection pool: lending, waiting, closing, and real overlap inside chDB.

Overlap is measured with the engine's in-flight gauge (statements inside chDB at once),
never with wall-clock thresholds. Engines built here open extra connections to the data
path of the session's server: chDB allows one path per process but any number of
connections to it, and closing them leaves the server's own connections untouched.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from clickhouse_targets import Target

from warehouse.server import ServerConfig, WarehouseServer
from warehouse.server.__main__ import parse_args
from warehouse.server.engine import ChdbEngine, ExecutionContext
from warehouse.server.errors import ClickHouseError
from warehouse.server.pool import ConnectionPool, InFlightGauge
from warehouse.server.sessions import SessionState
from warehouse.server.sqltext import StatementKind

WAIT_SECONDS = 60  # generous bound on any single wait; a hang fails instead of blocking CI
SLEEP_QUERY = "SELECT sleep(0.2)"


# -- the pool on its own --------------------------------------------------------------


@pytest.mark.unit
def test_pool_lends_each_connection_to_one_borrower_and_waits_when_all_are_lent() -> None:
    pool = ConnectionPool(["only"])
    holding, second_got_it, release = threading.Event(), threading.Event(), threading.Event()

    def first() -> None:
        with pool.borrow():
            holding.set()
            release.wait(WAIT_SECONDS)

    def second() -> None:
        with pool.borrow() as connection:
            assert connection == "only"
            second_got_it.set()

    threads = [threading.Thread(target=first)]
    threads[0].start()
    assert holding.wait(WAIT_SECONDS)
    threads.append(threading.Thread(target=second))
    threads[1].start()
    assert not second_got_it.wait(0.2)  # still lent to the first borrower
    assert pool.idle == 0
    release.set()
    assert second_got_it.wait(WAIT_SECONDS)
    for thread in threads:
        thread.join(WAIT_SECONDS)
    assert pool.idle == 1


def _wait_for_queue(pool: ConnectionPool[str], length: int) -> None:
    """Poll until `length` borrowers are queued (ordering the test's threads, not timing them)."""
    for _ in range(int(WAIT_SECONDS / 0.01)):
        if pool.waiting == length:
            return
        time.sleep(0.01)
    raise AssertionError(f"{length} borrowers never queued")


@pytest.mark.unit
def test_queued_borrowers_are_served_in_arrival_order() -> None:
    """Fairness: with thirty clients queued, none may starve behind newer arrivals."""
    pool = ConnectionPool(["only"])
    served: list[int] = []

    def queued(number: int) -> None:
        with pool.borrow():
            served.append(number)

    with ThreadPoolExecutor(max_workers=5) as executor:
        with pool.borrow():
            futures = []
            for number in range(5):
                futures.append(executor.submit(queued, number))
                _wait_for_queue(pool, number + 1)
        for future in futures:
            future.result(timeout=WAIT_SECONDS)
    assert served == [0, 1, 2, 3, 4]
    assert pool.idle == 1 and pool.waiting == 0


@pytest.mark.unit
def test_close_turns_queued_borrowers_away() -> None:
    pool = ConnectionPool(["only"])
    closed: list[str] = []
    with ThreadPoolExecutor(max_workers=2) as executor:
        with pool.borrow():
            queued = executor.submit(lambda: pool.borrow().__enter__())
            _wait_for_queue(pool, 1)
            closer = executor.submit(pool.close, closed.append)
            with pytest.raises(ClickHouseError):
                queued.result(timeout=WAIT_SECONDS)
            assert closed == []
        closer.result(timeout=WAIT_SECONDS)
    assert closed == ["only"]


@pytest.mark.unit
def test_pool_prefers_a_connection_already_in_the_wanted_state() -> None:
    pool = ConnectionPool(["a", "b", "c"])
    with pool.borrow(prefer=lambda connection: connection == "a") as connection:
        assert connection == "a"
    with pool.borrow(prefer=lambda connection: False) as connection:
        assert connection == "a"  # most recently returned first when none is preferred


@pytest.mark.unit
def test_pool_close_waits_for_lent_connections_and_then_refuses_borrowers() -> None:
    pool = ConnectionPool(["a", "b"])
    closed: list[str] = []
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with pool.borrow():
            holding.set()
            release.wait(WAIT_SECONDS)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(WAIT_SECONDS)
    closer = threading.Thread(target=pool.close, args=(closed.append,))
    closer.start()
    closer.join(0.2)
    assert closer.is_alive() and closed == []  # a statement is still running
    with pytest.raises(ClickHouseError) as refused:
        with pool.borrow():
            pass
    assert refused.value.code == 210
    release.set()
    closer.join(WAIT_SECONDS)
    holder.join(WAIT_SECONDS)
    assert sorted(closed) == ["a", "b"]
    pool.close(closed.append)  # idempotent
    assert len(closed) == 2


@pytest.mark.unit
def test_gauge_counts_what_runs_at_once() -> None:
    gauge = InFlightGauge()
    with gauge.running():
        with gauge.running():
            assert gauge.reading().in_flight == 2
    reading = gauge.reading()
    assert (reading.in_flight, reading.peak_in_flight, reading.statements) == (0, 2, 2)
    gauge.reset_peak()
    assert gauge.reading().peak_in_flight == 0


@pytest.mark.unit
def test_pool_size_is_configurable_and_must_be_positive(tmp_path: Path) -> None:
    assert ServerConfig(data_path=tmp_path).engine_connections >= 2
    config = parse_args(["--data-path", str(tmp_path), "--engine-connections", "3"])
    assert config.engine_connections == 3
    with pytest.raises(ValueError):
        ServerConfig(data_path=tmp_path, engine_connections=0)
    with pytest.raises(SystemExit):
        parse_args(["--data-path", str(tmp_path), "--engine-connections", "0"])


# -- the pool inside the engine -------------------------------------------------------


def _run_concurrently(engine: ChdbEngine, sql: str, clients: int) -> list[str]:
    def one(_: int) -> str:
        result = engine.execute(sql, StatementKind.READ, ExecutionContext())
        return result.body.decode()

    with ThreadPoolExecutor(max_workers=clients) as executor:
        return list(executor.map(one, range(clients), timeout=WAIT_SECONDS))


@pytest.mark.integration
def test_one_connection_never_runs_two_statements_at_once(chdb_server: WarehouseServer) -> None:
    """The control for the overlap tests: the gauge counts running statements, not waiting ones."""
    engine = ChdbEngine(str(chdb_server.config.data_path), "erp", pool_size=1)
    try:
        assert _run_concurrently(engine, SLEEP_QUERY, 4) == ["0\n"] * 4
        reading = engine.in_flight()
        assert reading.peak_in_flight == 1 and reading.in_flight == 0
    finally:
        engine.close()
    assert chdb_server.engine.execute("SELECT 1", StatementKind.READ, ExecutionContext()).body


@pytest.mark.integration
def test_pooled_connections_run_statements_at_the_same_time(
    chdb_server: WarehouseServer,
) -> None:
    engine = ChdbEngine(str(chdb_server.config.data_path), "erp", pool_size=4)
    try:
        # Repeat until two statements were seen inside chDB together; a serialising engine
        # never gets there and fails after the last round.
        for _ in range(20):
            _run_concurrently(engine, SLEEP_QUERY, 4)
            if engine.in_flight().peak_in_flight >= 2:
                break
        assert engine.in_flight().peak_in_flight >= 2
        assert engine.in_flight().peak_in_flight <= 4
    finally:
        engine.close()
    assert engine.closed
    with pytest.raises(ClickHouseError):
        engine.execute("SELECT 1", StatementKind.READ, ExecutionContext())


@pytest.mark.integration
def test_state_left_on_one_connection_is_not_seen_by_another(
    chdb_server: WarehouseServer,
) -> None:
    """chDB keeps SET/USE per connection, and the engine resets what a request left behind."""
    engine = ChdbEngine(str(chdb_server.config.data_path), "erp", pool_size=2)
    probe = "SELECT getSetting('max_block_size'), currentDatabase(), timezone()"
    try:
        baseline = engine.execute(probe, StatementKind.READ, ExecutionContext()).body
        session = SessionState("s", "default", 60.0)
        engine.execute(
            "SET max_block_size = 4321, session_timezone = 'Asia/Tokyo'",
            StatementKind.SET,
            ExecutionContext(session=session),
        )
        engine.execute("USE system", StatementKind.USE, ExecutionContext(session=session))
        assert session.database == "system"
        assert session.settings == {"max_block_size": "4321", "session_timezone": "Asia/Tokyo"}
        in_session = engine.execute(probe, StatementKind.READ, ExecutionContext(session=session))
        assert in_session.body == b"4321\tsystem\tAsia/Tokyo\n"
        assert in_session.timezone == "Asia/Tokyo"
        # Hold one connection so the next requests must use the other, then both in turn.
        with engine._pool.borrow():
            plain = engine.execute(probe, StatementKind.READ, ExecutionContext())
            assert plain.body == baseline
        for _ in range(4):
            assert engine.execute(probe, StatementKind.READ, ExecutionContext()).body == baseline
    finally:
        engine.close()


@pytest.mark.integration
def test_temporary_tables_are_refused(chdb_server: WarehouseServer) -> None:
    with pytest.raises(ClickHouseError) as refused:
        chdb_server.engine.execute(
            "CREATE TEMPORARY TABLE scratch (x UInt8)", StatementKind.WRITE, ExecutionContext()
        )
    assert refused.value.code == 48  # NOT_IMPLEMENTED


@pytest.mark.integration
def test_http_clients_overlap_inside_the_servers_engine(chdb_server: WarehouseServer) -> None:
    """The whole stack (HTTP threads, dispatcher, pool) lets client statements overlap."""
    target = Target("chdb", "127.0.0.1", chdb_server.port, "default", chdb_server.config.password)
    engine = chdb_server.engine
    assert engine.pool_size >= 2
    engine.reset_peak_in_flight()

    def client(_: int) -> None:
        for _ in range(10):  # stop early once overlap was seen; a serialising server never does
            assert target.sql(SLEEP_QUERY) == "0\n"
            if engine.in_flight().peak_in_flight >= 2:
                return

    with ThreadPoolExecutor(max_workers=8) as executor:
        list(executor.map(client, range(8), timeout=WAIT_SECONDS))
    assert engine.in_flight().peak_in_flight >= 2
