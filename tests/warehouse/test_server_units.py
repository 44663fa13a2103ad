"""Pure pieces of the server: SQL routing, error parsing, body decoding, sessions, auth."""

from __future__ import annotations

import base64
import gzip
import io
import sys
import zlib

import lz4.frame  # type: ignore[import-untyped]
import pytest
from hypothesis import given
from hypothesis import strategies as st

from warehouse.server.auth import Credentials, UserDirectory, credentials_from_request
from warehouse.server.body import MalformedRequest, read_body
from warehouse.server.compression import choose_response_encoding, encode_response, request_decoder
from warehouse.server.errors import ClickHouseError
from warehouse.server.sessions import SessionRegistry
from warehouse.server.sqltext import (
    StatementKind,
    classify,
    find_insert_head,
    output_format,
    require_single_statement,
)

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("SELECT 1", StatementKind.READ),
        ("  -- comment\n/* block */ (SELECT 1)", StatementKind.READ),
        ("with x as (select 1) select * from x", StatementKind.READ),
        ("SHOW TABLES", StatementKind.READ),
        ("DESCRIBE TABLE t", StatementKind.READ),
        ("SET max_threads = 1", StatementKind.SET),
        ("USE erp", StatementKind.USE),
        ("INSERT INTO t VALUES (1)", StatementKind.INSERT_QUERY),
        ("CREATE TABLE t (a UInt8) ENGINE = Memory", StatementKind.WRITE),
        ("OPTIMIZE TABLE t FINAL", StatementKind.WRITE),
    ],
)
def test_classify(sql: str, kind: StatementKind) -> None:
    assert classify(sql) is kind


def test_output_format_ignores_strings_and_comments() -> None:
    assert output_format("SELECT 1 FORMAT JSON") == "JSON"
    assert output_format("SELECT 1 FORMAT JSONEachRow;") == "JSONEachRow"
    assert output_format("SELECT 'x FORMAT JSON'") is None
    assert output_format("SELECT 1 -- FORMAT JSON") is None


def test_single_statement_rule() -> None:
    assert require_single_statement("SELECT 1;").strip() == "SELECT 1"
    assert require_single_statement("SELECT ';'") == "SELECT ';'"
    with pytest.raises(ClickHouseError) as caught:
        require_single_statement("SELECT 1; DROP TABLE t")
    assert caught.value.code == 62


def test_insert_head_split_like_clickhouse() -> None:
    text = "INSERT INTO db.t (a, b) SETTINGS async_insert=0 FORMAT TSV  \n1\t2\n"
    head = find_insert_head(text)
    assert head is not None
    assert head.head == "INSERT INTO db.t (a, b) SETTINGS async_insert=0"
    assert head.input_format == "TSV"
    assert text[head.data_offset :] == "1\t2\n"
    native = "INSERT INTO t FORMAT Native\n" + "\x02\x00\x01a"
    found = find_insert_head(native)
    assert found is not None and native[found.data_offset :] == "\x02\x00\x01a"
    assert find_insert_head("INSERT INTO t VALUES (1)") is None
    assert find_insert_head("INSERT INTO t SELECT * FROM s FORMAT TSV") is None
    assert find_insert_head("SELECT 1 FORMAT TSV") is None


def test_engine_error_text_is_parsed() -> None:
    error = ClickHouseError.from_engine_text(
        "Code: 60. DB::Exception: Unknown table expression identifier 'x'. "
        "In scope SELECT * FROM x. (UNKNOWN_TABLE)"
    )
    assert (error.code, error.name, error.http_status) == (60, "UNKNOWN_TABLE", 404)
    body = error.body("26.9.2.1").decode()
    assert body.startswith("Code: 60. DB::Exception: Unknown table expression identifier 'x'.")
    assert body.endswith("SELECT * FROM x. (UNKNOWN_TABLE) (version 26.9.2.1)\n")
    unknown = ClickHouseError.from_engine_text("segfault-free but codeless failure")
    assert (unknown.code, unknown.http_status) == (1002, 500)


@given(st.binary(max_size=5000), st.integers(min_value=1, max_value=700))
def test_decoders_accept_concatenated_frames_in_any_chunking(data: bytes, chunk_size: int) -> None:
    half = len(data) // 2
    encoded = {
        "gzip": gzip.compress(data[:half]) + gzip.compress(data[half:]),
        "deflate": zlib.compress(data),
        "zstd": zstd.compress(data[:half]) + zstd.compress(data[half:]),
        "lz4": lz4.frame.compress(data[:half]) + lz4.frame.compress(data[half:]),
    }
    for method, payload in encoded.items():
        decoder = request_decoder(method)
        out = b"".join(
            decoder.feed(payload[i : i + chunk_size]) for i in range(0, len(payload), chunk_size)
        )
        assert out + decoder.finish() == data, method


def test_unknown_content_encoding_is_an_error() -> None:
    with pytest.raises(ClickHouseError) as caught:
        request_decoder("snappy")
    assert caught.value.name == "UNKNOWN_COMPRESSION_METHOD"


def test_response_encoding_negotiation() -> None:
    assert choose_response_encoding("lz4,zstd,gzip,deflate", enabled=True) == "lz4"
    assert choose_response_encoding("gzip", enabled=False) is None
    assert choose_response_encoding("x-unknown, gzip;q=0", enabled=True) is None
    assert zstd.decompress(encode_response(b"abc" * 100, "zstd")) == b"abc" * 100


def test_chunked_body_with_compression_and_drain_on_error() -> None:
    payload = gzip.compress(b"hello world")
    chunked = (
        b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (payload[:5], payload[5:]))
        + b"0\r\n\r\n"
    )
    body = read_body(
        io.BytesIO(chunked), {"transfer-encoding": "chunked", "content-encoding": "gzip"}
    )
    assert body.read_all() == b"hello world"
    stream = io.BytesIO(b"not gzip at all" + b"NEXT")
    with pytest.raises(ClickHouseError):
        read_body(stream, {"content-length": "15", "content-encoding": "gzip"})
    assert stream.read() == b"NEXT"  # the bad body was drained, the next request is intact
    with pytest.raises(MalformedRequest):
        read_body(io.BytesIO(b"zz\r\n"), {"transfer-encoding": "chunked"})


def test_sessions_lock_expire_and_belong_to_their_user() -> None:
    now = [0.0]
    registry = SessionRegistry(clock=lambda: now[0])
    with registry.checkout("s1", "alice", "10", must_exist=False) as state:
        state.settings["max_threads"] = "1"
        with pytest.raises(ClickHouseError) as locked:
            with registry.checkout("s1", "alice", None, must_exist=False):
                pass
        assert locked.value.name == "SESSION_IS_LOCKED"
    with registry.checkout("s1", "alice", "10", must_exist=True) as state:
        assert state.settings == {"max_threads": "1"}
    with pytest.raises(ClickHouseError):
        with registry.checkout("s1", "bob", None, must_exist=True):
            pass
    now[0] = 11.0
    assert len(registry) == 0
    with pytest.raises(ClickHouseError) as invalid:
        with registry.checkout("s2", "alice", "abc", must_exist=False):
            pass
    assert invalid.value.name == "INVALID_SESSION_TIMEOUT"


def test_credentials_and_authentication() -> None:
    basic = "Basic " + base64.b64encode(b"default:pw").decode()
    assert credentials_from_request({"Authorization": basic}, {}) == Credentials("default", "pw")
    assert credentials_from_request(
        {"X-ClickHouse-User": "u", "X-ClickHouse-Key": "k"}, {}
    ) == Credentials("u", "k")
    assert credentials_from_request({}, {"user": "u", "password": "p"}) == Credentials("u", "p")
    assert credentials_from_request({}, {}) == Credentials("default", "")
    assert "pw" not in repr(Credentials("default", "pw"))
    users = UserDirectory({"default": ""})
    assert users.authenticate(Credentials("default", "")) == "default"
    for wrong in (Credentials("default", "x"), Credentials("nobody", "")):
        with pytest.raises(ClickHouseError) as caught:
            users.authenticate(wrong)
        assert (caught.value.code, caught.value.http_status) == (516, 403)
