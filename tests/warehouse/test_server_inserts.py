"""Writes: clickhouse-connect Native inserts with every compression, raw-body inserts, FINAL."""

from __future__ import annotations

import gzip
import json
import struct
import sys
import zlib
from collections.abc import Callable, Iterator
from datetime import datetime

import lz4.frame  # type: ignore[import-untyped]
import pytest
from clickhouse_targets import Target

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

pytestmark = pytest.mark.integration

REPLACING_TABLE = (
    "CREATE TABLE {db}.stock (sku String, shop_id UInt32, qty Int64, version UInt64, "
    "updated_at DateTime) ENGINE = ReplacingMergeTree(version) ORDER BY (shop_id, sku)"
)


@pytest.mark.parametrize("compress", [False, True, "zstd", "gzip", "lz4"])
def test_replacing_merge_tree_round_trip(
    target: Target, scratch_db: str, compress: bool | str
) -> None:
    client = target.client(database=scratch_db, compress=compress)
    client.command(REPLACING_TABLE.format(db=scratch_db))
    columns = ["sku", "shop_id", "qty", "version", "updated_at"]
    day1, day2, day0 = datetime(2026, 1, 1), datetime(2026, 1, 2), datetime(2025, 12, 31)
    client.insert("stock", [["A", 1, 10, 1, day1], ["B", 1, 5, 1, day1]], column_names=columns)
    client.insert("stock", [["A", 1, 7, 2, day2]], column_names=columns)
    client.insert("stock", [["A", 1, 99, 0, day0]], column_names=columns)
    assert client.query("SELECT count() FROM stock FINAL").result_rows == [(2,)]
    final = client.query(
        "SELECT sku, qty, version, updated_at FROM stock FINAL ORDER BY sku"
    ).result_rows
    assert final == [("A", 7, 2, day2), ("B", 5, 1, day1)]
    many = [[f"S{index}", 2, index, 1, day1] for index in range(5000)]
    summary = client.insert("stock", many, column_names=columns)
    assert summary.written_rows == 5000
    result = client.query("SELECT count(), sum(qty) FROM stock FINAL WHERE shop_id = 2").result_rows
    assert result == [(5000, sum(range(5000)))]


def test_compressed_responses_decode_in_client(target: Target, scratch_db: str) -> None:
    for compress in (True, "zstd", "gzip", "lz4"):
        client = target.client(database=scratch_db, compress=compress)
        rows = client.query(
            "SELECT number, toString(number) FROM system.numbers LIMIT 20000"
        ).result_rows
        assert len(rows) == 20000 and rows[-1] == (19999, "19999")


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "zstd"])
def test_response_compression_needs_setting_and_accept_encoding(
    target: Target, encoding: str
) -> None:
    query = b"SELECT number FROM system.numbers LIMIT 1000"
    expected = "".join(f"{number}\n" for number in range(1000))
    plain = target.http(data=query, headers={"Accept-Encoding": encoding})
    assert "Content-Encoding" not in plain.headers
    compressed = target.http(
        params={"enable_http_compression": "1"}, data=query, headers={"Accept-Encoding": encoding}
    )
    assert compressed.headers["Content-Encoding"] == encoding
    raw = compressed.content  # requests decodes gzip/deflate (and zstd when urllib3 can) itself
    if encoding == "zstd" and raw[:4] == b"\x28\xb5\x2f\xfd":
        raw = zstd.decompress(raw)
    assert raw.decode() == expected


def test_unsupported_accept_encoding_is_ignored(target: Target) -> None:
    response = target.http(
        params={"enable_http_compression": "1"},
        data=b"SELECT 1",
        headers={"Accept-Encoding": "x-unknown"},
    )
    assert response.status_code == 200
    assert "Content-Encoding" not in response.headers
    assert response.text == "1\n"


def _events_table(target: Target, db: str) -> None:
    target.sql(f"CREATE TABLE {db}.events (id UInt64, name String) ENGINE = MergeTree ORDER BY id")


def _rows(target: Target, db: str) -> list[str]:
    return target.sql(f"SELECT id, name FROM {db}.events ORDER BY id").splitlines()


def test_insert_json_each_row_with_query_in_url(target: Target, scratch_db: str) -> None:
    _events_table(target, scratch_db)
    body = b'{"id": 1, "name": "a"}\n{"id": 2, "name": "b"}\n'
    response = target.http(
        params={"query": f"INSERT INTO {scratch_db}.events FORMAT JSONEachRow"}, data=body
    )
    assert response.status_code == 200, response.text
    assert json.loads(response.headers["X-ClickHouse-Summary"])["written_rows"] == "2"
    assert _rows(target, scratch_db) == ["1\ta", "2\tb"]


@pytest.mark.parametrize("fmt", ["TSV", "TabSeparated"])
def test_insert_tsv_with_query_and_data_in_body(target: Target, scratch_db: str, fmt: str) -> None:
    _events_table(target, scratch_db)
    body = f"INSERT INTO {scratch_db}.events FORMAT {fmt}\n1\tx\n2\ty\n".encode()
    assert target.http(data=body).status_code == 200
    assert _rows(target, scratch_db) == ["1\tx", "2\ty"]


def test_insert_csv_with_database_parameter(target: Target, scratch_db: str) -> None:
    _events_table(target, scratch_db)
    response = target.http(
        params={"query": "INSERT INTO events (id, name) FORMAT CSV", "database": scratch_db},
        data=b'5,"e"\n6,"f"\n',
    )
    assert response.status_code == 200, response.text
    assert _rows(target, scratch_db) == ["5\te", "6\tf"]


def test_insert_chunked_transfer_encoding(target: Target, scratch_db: str) -> None:
    _events_table(target, scratch_db)

    def chunks() -> Iterator[
        bytes
    ]:  # a generator body makes requests send Transfer-Encoding: chunked
        for start in range(0, 3000, 500):
            yield "".join(
                f'{{"id": {n}, "name": "n{n}"}}\n' for n in range(start, start + 500)
            ).encode()

    response = target.http(
        params={"query": f"INSERT INTO {scratch_db}.events FORMAT JSONEachRow"}, data=chunks()
    )
    assert response.status_code == 200, response.text
    assert target.sql(f"SELECT count(), uniqExact(id) FROM {scratch_db}.events") == "3000\t3000\n"


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "zstd", "lz4"])
def test_insert_with_compressed_request_body(
    target: Target, scratch_db: str, encoding: str
) -> None:
    _events_table(target, scratch_db)
    plain = "".join(f"{n}\tname{n}\n" for n in range(1000)).encode()
    compressors: dict[str, Callable[[bytes], bytes]] = {
        "gzip": gzip.compress,
        "deflate": zlib.compress,
        "zstd": lambda data: zstd.compress(data[:500]) + zstd.compress(data[500:]),  # two frames
        "lz4": lambda data: lz4.frame.compress(data[:700]) + lz4.frame.compress(data[700:]),
    }
    response = target.http(
        params={"query": f"INSERT INTO {scratch_db}.events FORMAT TSV"},
        data=compressors[encoding](plain),
        headers={"Content-Encoding": encoding},
    )
    assert response.status_code == 200, response.text
    assert (
        target.sql(f"SELECT count(), sum(id) FROM {scratch_db}.events")
        == f"1000\t{sum(range(1000))}\n"
    )


def test_insert_row_binary(target: Target, scratch_db: str) -> None:
    _events_table(target, scratch_db)
    body = b"".join(
        struct.pack("<Q", n) + bytes([len(f"r{n}")]) + f"r{n}".encode() for n in (10, 11)
    )
    response = target.http(
        params={"query": f"INSERT INTO {scratch_db}.events FORMAT RowBinary"}, data=body
    )
    assert response.status_code == 200, response.text
    named = b"\x02\x02id\x04name\x06UInt64\x06String" + struct.pack("<Q", 12) + b"\x03r12"
    response = target.http(
        params={"query": f"INSERT INTO {scratch_db}.events FORMAT RowBinaryWithNamesAndTypes"},
        data=named,
    )
    assert response.status_code == 200, response.text
    assert _rows(target, scratch_db) == ["10\tr10", "11\tr11", "12\tr12"]


def test_insert_values_and_insert_select(target: Target, scratch_db: str) -> None:
    _events_table(target, scratch_db)
    target.sql(f"INSERT INTO {scratch_db}.events VALUES (1, 'v'), (2, 'w')")
    target.sql(
        f"INSERT INTO {scratch_db}.events SELECT number + 3, 'sel' FROM system.numbers LIMIT 2"
    )
    assert _rows(target, scratch_db) == ["1\tv", "2\tw", "3\tsel", "4\tsel"]


def test_bad_insert_data_is_an_error_and_writes_nothing(target: Target, scratch_db: str) -> None:
    _events_table(target, scratch_db)
    response = target.http(
        params={"query": f"INSERT INTO {scratch_db}.events FORMAT JSONEachRow"},
        data=b'{"id": "not a number"}\n',
    )
    assert response.status_code >= 400
    assert int(response.headers["X-ClickHouse-Exception-Code"]) > 0
    assert target.sql(f"SELECT count() FROM {scratch_db}.events") == "0\n"


def test_corrupt_compressed_body_is_an_error(target: Target, scratch_db: str) -> None:
    _events_table(target, scratch_db)
    response = target.http(
        params={"query": f"INSERT INTO {scratch_db}.events FORMAT TSV"},
        data=b"definitely not gzip",
        headers={"Content-Encoding": "gzip"},
    )
    assert response.status_code >= 400
    assert "X-ClickHouse-Exception-Code" in response.headers
    # The connection is still usable afterwards (the body was drained).
    assert target.sql("SELECT 1") == "1\n"
