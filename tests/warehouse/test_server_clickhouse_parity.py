"""Where the official client's own integration tests found the server unlike ClickHouse.

One test per divergence of issue 12 (clickhouse-connect 1.12.0's suite, run by hand with
benchmarks/official_client_suite.sh): small queries beside slow ones, per-query limits,
results streamed with ClickHouse's mid-stream exception block, bodies of any content type
and bytes kept exactly, inline INSERT data kept exactly, external data. Like the rest of
the contract suite they also run against a real server when CLICKHOUSE_URL is set.
"""

from __future__ import annotations

import io
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, StreamFailureError
from clickhouse_connect.driver.external import ExternalData
from clickhouse_targets import InFlight, Target

pytestmark = pytest.mark.integration

SLOW_SIX_SECONDS = "SELECT sum(sleepEachRow(1)) FROM numbers(6) SETTINGS max_block_size = 1"
FAILS_AT_ROW_100 = (
    "SELECT number, sleepEachRow(0.005), throwIf(number = 100) FROM numbers(200) "
    "SETTINGS max_block_size = 1"
)


@pytest.fixture
def text_table(target: Target, scratch_db: str) -> Iterator[str]:
    target.sql(f"CREATE TABLE {scratch_db}.texts (s String) ENGINE = MergeTree ORDER BY s")
    yield f"{scratch_db}.texts"


def _stored(target: Target, table: str) -> list[str]:
    return target.sql(f"SELECT hex(s) FROM {table} ORDER BY s FORMAT TSVRaw").split()


# -- 1. small queries are never stuck behind slow ones ------------------------------------


def test_a_small_query_answers_while_two_slow_ones_run(
    target: Target, engine_in_flight: InFlight
) -> None:
    slow_done = threading.Event()
    clients = [target.client() for _ in range(3)]

    def slow(client: object) -> None:
        client.command(SLOW_SIX_SECONDS)  # type: ignore[attr-defined]
        slow_done.set()

    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(slow, client) for client in clients[:2]]
        while engine_in_flight.now() < 2 and not slow_done.is_set():
            threading.Event().wait(0.01)  # until both slow statements are in the engine
        assert clients[2].command("SELECT 1") == 1
        answered_beside_them = not slow_done.is_set()
        for future in futures:
            future.result()
    assert answered_beside_them


def test_ten_sleeps_run_side_by_side(target: Target, engine_in_flight: InFlight) -> None:
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lambda _: target.client().command("SELECT sleep(1)"), range(10)))
    assert results == [0] * 10
    if engine_in_flight.peak is not None:
        assert engine_in_flight.peak() >= 10


def test_per_query_limits_are_honoured(target: Target) -> None:
    client = target.client()
    with pytest.raises(DatabaseError, match="TIMEOUT_EXCEEDED"):
        client.command(
            "SELECT count() FROM numbers_mt(1000000000000)", settings={"max_execution_time": 1}
        )
    with pytest.raises(DatabaseError, match="MEMORY_LIMIT_EXCEEDED"):
        client.command(
            "SELECT length(groupArray(number)) FROM numbers(100000000)",
            settings={"max_memory_usage": 100_000_000},
        )
    assert client.command("SELECT 1") == 1


# -- 3. results are streamed; an error after the first bytes is ClickHouse's block ---------


def test_an_error_after_rows_were_sent_arrives_as_the_tagged_exception_block(
    target: Target,
) -> None:
    response = target.http(params={"wait_end_of_query": "0"}, data=FAILS_AT_ROW_100.encode())
    assert response.status_code == 200  # the status line left before the error
    tag = response.headers["X-ClickHouse-Exception-Tag"]
    body = response.content
    assert body.startswith(b"0\t0\t0\n")
    assert f"__exception__\r\n{tag}\r\n".encode() in body
    assert body.rstrip().endswith(f"{tag}\r\n__exception__".encode())
    assert b"FUNCTION_THROW_IF_VALUE_IS_NON_ZERO" in body


@pytest.mark.parametrize("compress", [False, "zstd", "lz4", "gzip"])
def test_clickhouse_connect_streams_raise_the_engine_error(
    target: Target, compress: object
) -> None:
    client = target.client(compress=compress)
    rows: list[tuple[object, ...]] = []
    with pytest.raises(StreamFailureError, match="throwIf"):
        with client.query_rows_stream(FAILS_AT_ROW_100) as stream:
            rows.extend(stream)
    assert len(rows) == 100  # every row before the failing one was delivered
    assert client.command("SELECT 1") == 1


def test_an_error_before_any_row_keeps_its_status(target: Target) -> None:
    response = target.http(data=b"SELECT throwIf(number = 0) FROM numbers(3)")
    assert response.status_code == 500
    assert response.headers["X-ClickHouse-Exception-Code"] == "395"


def test_a_large_result_streams_block_by_block(target: Target) -> None:
    client = target.client()
    blocks = 0
    rows = 0
    with client.query_column_block_stream(
        "SELECT number FROM numbers(3000000)", settings={"max_block_size": 65536}
    ) as stream:
        for block in stream:
            blocks += 1
            rows += len(block[0])
    assert rows == 3_000_000
    assert blocks >= 40  # delivered as the engine's blocks, not one buffered whole


def test_a_reader_who_stops_early_frees_the_server(target: Target) -> None:
    response = target.http_session.post(
        target.base_url + "/",
        data=b"SELECT number FROM numbers(10000000000) FORMAT TSV",
        auth=(target.user, target.password),
        stream=True,
        timeout=60,
    )
    assert response.headers.get("Transfer-Encoding") == "chunked"
    first = next(response.iter_lines())
    assert first == b"0"
    response.close()  # hang up in the middle of ten billion rows
    assert target.client().command("SELECT 1") == 1


# -- 4. bodies of any content type, bytes kept exactly -------------------------------------


def test_parquet_body_with_curls_default_form_content_type(target: Target, scratch_db: str) -> None:
    target.sql(f"CREATE TABLE {scratch_db}.p (n UInt32, s String) ENGINE = Memory")
    buffer = io.BytesIO()
    pq.write_table(pa.table({"n": [1, 2], "s": ["甲", "乙"]}), buffer)
    response = target.http(
        params={"query": f"INSERT INTO {scratch_db}.p FORMAT Parquet"},
        data=buffer.getvalue(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200, response.text
    assert target.sql(f"SELECT n, s FROM {scratch_db}.p ORDER BY n") == "1\t甲\n2\t乙\n"


def test_tsv_body_with_non_utf8_bytes_is_stored_as_sent(target: Target, text_table: str) -> None:
    response = target.http(
        params={"query": f"INSERT INTO {text_table} FORMAT TSV"},
        data=b"\xff\xfeab\n",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200, response.text
    assert _stored(target, text_table) == ["FFFE6162"]


def test_percent_escaped_non_utf8_bytes_in_the_url_reach_the_engine(target: Target) -> None:
    response = target.http_session.get(
        target.base_url + "/?query=SELECT%20hex(%27%FF%FE%27)",
        auth=(target.user, target.password),
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert response.text == "FFFE\n"


def test_a_string_literal_of_raw_bytes_in_the_query_text(target: Target) -> None:
    response = target.http(data=b"SELECT hex('\xff\x00\xfe') FORMAT TSVRaw")
    assert response.status_code == 200, response.text
    assert response.text == "FF00FE\n"


def test_clickhouse_connect_binary_parameters(target: Target) -> None:
    client = target.client()
    result = client.raw_query(
        "SELECT col2, col1 FROM format(CSVWithNames, $xx$)",
        parameters={"$xx$": b"col1,col2\n100,\xff7"},
    )
    assert result == b"\xff7\t100\n"


# -- 5. inline INSERT data is kept exactly --------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO {table} (s) FORMAT TabSeparated\nb;\n",
        "WITH 1 AS y INSERT INTO {table} (s) FORMAT TabSeparated\nb;\n",
    ],
)
def test_inline_insert_data_keeps_its_semicolon(
    target: Target, text_table: str, statement: str
) -> None:
    target.sql(statement.format(table=text_table))
    assert target.sql(f"SELECT s FROM {text_table} FORMAT TSVRaw") == "b;\n"


def test_with_insert_select_is_an_insert_and_not_allowed_by_get(
    target: Target, text_table: str
) -> None:
    response = target.http(
        "GET", params={"query": f"WITH 'x' AS v INSERT INTO {text_table} SELECT v"}
    )
    assert response.status_code != 200
    assert response.headers["X-ClickHouse-Exception-Code"] == "164"  # READONLY
    assert target.sql(f"SELECT count() FROM {text_table}") == "0\n"


# -- 6. external data -------------------------------------------------------------------------


def test_external_data_tables_join_in_one_query(target: Target) -> None:
    data = ExternalData(
        file_name="movies.csv",
        data=b"movie,year\nHeat,1995\nAlien,1979\n",
        fmt="CSVWithNames",
        structure=["movie String", "year UInt16"],
    )
    data.add_file(file_name="ratings.tsv", data=b"Heat\t8\nAlien\t9\n", types="String,UInt8")
    client = target.client()
    rows = client.query(
        "SELECT movie, year, _2 FROM movies JOIN ratings ON movies.movie = ratings._1 "
        "ORDER BY year",
        external_data=data,
    ).result_rows
    assert rows == [("Alien", 1979, 9), ("Heat", 1995, 8)]
    # The uploaded tables lived for that query only.
    with pytest.raises(DatabaseError, match="UNKNOWN_TABLE"):
        client.query("SELECT * FROM movies")


def test_external_data_without_a_structure_is_a_clear_error(target: Target) -> None:
    boundary = uuid.uuid4().hex
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="ext"; filename="ext.tsv"\r\n'
        f"\r\n1\n\r\n--{boundary}--\r\n"
    ).encode()
    response = target.http(
        params={"query": "SELECT * FROM ext"},
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code != 200
    assert "ext_structure" in response.text


# -- 2. DateTime keeps its time zone for a client that names its protocol revision -------

ZONED = "SELECT toDateTime(1676369730, 'Asia/Shanghai') AS dt FORMAT Native"


def test_native_output_follows_client_protocol_version(target: Target) -> None:
    client = target.client()
    assert client.raw_query(ZONED).hex() == "0101026474084461746554696d65425feb63"  # revision 0
    raw = client.raw_query(ZONED, settings={"client_protocol_version": 54337})
    assert raw[:8] == b"\x01\x00\x02\xff\xff\xff\xff\x00"  # block info
    assert raw[14:39] == b"DateTime('Asia/Shanghai')"


def test_clickhouse_connect_reads_datetime_columns_in_their_zone(target: Target) -> None:
    client = target.client()
    assert client.protocol_version  # the revision probe succeeded
    row = client.query(
        "SELECT 'x' AS s, [1, 2] AS a, toLowCardinality('q') AS l, map('k', 1) AS m, "
        "toDateTime(1676369730, 'Asia/Shanghai') AS dt, "
        "toNullable(toDateTime(1676369730, 'Europe/Berlin')) AS n"
    ).result_rows[0]
    assert row[:4] == ("x", [1, 2], "q", {"k": 1})
    assert row[4].isoformat() == "2023-02-14T18:15:30+08:00"
    assert row[5].isoformat() == "2023-02-14T11:15:30+01:00"
    many = client.query(
        "SELECT toString(number) AS s, toDateTime(number, 'Asia/Shanghai') AS dt "
        "FROM numbers(200000)"
    ).result_rows  # several blocks, each with its own block info
    assert len(many) == 200_000
    assert many[-1][1].isoformat() == "1970-01-03T15:33:19+08:00"


def test_nested_low_cardinality_columns_before_a_zoned_one(target: Target, scratch_db: str) -> None:
    """Each nested LowCardinality writes its state before the column's data: all are skipped."""
    client = target.client(database=scratch_db, settings={"flatten_nested": 0})
    client.command(
        "CREATE TABLE mixed (id UInt32, "
        "t Tuple(Array(LowCardinality(String)), Nested(a Int32, b LowCardinality(String))), "
        "m Map(String, Array(Nullable(Decimal(11, 7)))), dt DateTime('Asia/Shanghai')) "
        "ENGINE = MergeTree ORDER BY id"
    )
    client.command(
        "INSERT INTO mixed VALUES (1, (['x', 'y'], [(7, 'p')]), {'k': [1.5, NULL]}, 1676369730)"
    )
    (row,) = client.query("SELECT * FROM mixed").result_rows
    assert row[1] == (["x", "y"], [{"a": 7, "b": "p"}])
    assert row[3].isoformat() == "2023-02-14T18:15:30+08:00"


def test_an_uploaded_zoned_datetime_keeps_its_zone(target: Target) -> None:
    data = ExternalData(
        file_name="events.tsv",
        data=b"1676369730\n",
        structure=["at DateTime('Asia/Shanghai')"],
    )
    (row,) = target.client().query("SELECT at FROM events", external_data=data).result_rows
    assert row[0].isoformat() == "2023-02-14T18:15:30+08:00"
