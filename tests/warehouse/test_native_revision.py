"""Rewriting revision-0 Native blocks for a client's protocol revision (native_revision.py)."""

from __future__ import annotations

import pytest

from warehouse.server.errors import ClickHouseError
from warehouse.server.native_revision import rewrite_native

pytestmark = pytest.mark.unit

BLOCK_INFO = b"\x01\x00\x02\xff\xff\xff\xff\x00"


def _block(rows: int, *columns: tuple[bytes, bytes, bytes]) -> bytes:
    out = bytes([len(columns), rows])
    for name, type_name, data in columns:
        out += bytes([len(name)]) + name + bytes([len(type_name)]) + type_name + data
    return out


STRINGS = (b"s", b"String", b"\x01a\x02bc")
ARRAYS = (
    b"a",
    b"Array(UInt8)",
    (1).to_bytes(8, "little") + (3).to_bytes(8, "little") + b"\x01\x02\x03",
)
TIMES = (b"t", b"DateTime", b"\x00\x00\x00\x00\x01\x00\x00\x00")


def test_revision_zero_is_left_as_it_is() -> None:
    block = _block(2, STRINGS, TIMES)
    assert rewrite_native(block, 0, ["String", "DateTime('Asia/Shanghai')"]) == block


def test_every_block_gets_block_info_and_the_zone_comes_back() -> None:
    block = _block(2, STRINGS, ARRAYS, TIMES)
    out = rewrite_native(block + block, 54405, ["String", "Array(UInt8)", "DateTime('UTC')"])
    expected = BLOCK_INFO + _block(2, STRINGS, ARRAYS, (b"t", b"DateTime('UTC')", TIMES[2]))
    assert out == expected + expected


def test_below_the_zone_revision_only_block_info_is_added() -> None:
    block = _block(2, STRINGS, TIMES)
    assert rewrite_native(block, 54300, ["String", "DateTime('UTC')"]) == BLOCK_INFO + block


def test_custom_serialization_revision_adds_a_zero_byte_after_each_type() -> None:
    out = rewrite_native(_block(2, STRINGS), 54454, None)
    assert out == BLOCK_INFO + b"\x01\x02\x01s\x06String\x00\x01a\x02bc"


def test_an_unknown_type_keeps_the_rest_of_the_block_as_it_was() -> None:
    dynamic = (b"d", b"Dynamic", b"\x99opaque")
    block = _block(2, dynamic, TIMES)
    out = rewrite_native(block, 54405, ["Dynamic", "DateTime('UTC')"])
    assert out == BLOCK_INFO + block  # the zone cannot be reached, the bytes are intact


def test_custom_serialization_past_an_unknown_type_is_a_clear_error() -> None:
    block = _block(2, (b"d", b"Dynamic", b"\x99"), TIMES)
    with pytest.raises(ClickHouseError, match="client_protocol_version 54454"):
        rewrite_native(block, 54454, None)
