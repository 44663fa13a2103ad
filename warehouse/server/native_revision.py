"""Native output for a client that names its protocol revision (`client_protocol_version`).

chDB writes Native the way ClickHouse writes it for revision 0: no block info, and a
top-level `DateTime('Asia/Shanghai')` column named plain `DateTime` (its zone is lost).
A ClickHouse server writes for the client's revision instead, and clickhouse-connect asks
for 54405, so this module rewrites each block:

- revision > 0: each block starts with its block info (is_overflows = 0, bucket_num = -1);
- revision >= 54337: a top-level DateTime column is named with its zone, taken from the
  result's true types (`DESCRIBE TABLE (query)`, engine.py);
- revision >= 54454: each column's type is followed by a 0 byte (no custom serialization;
  chDB always writes the default one at revision 0).

To reach a column's header the data of the columns before it is skipped, which needs its
size: `NativeColumnSkipper` knows the serializations of the common types. A block holding
a type it does not know (Variant, Dynamic, JSON, AggregateFunction) before a column that
needs renaming keeps revision-0 names from there on (a streamed chunk is exactly one
block, so the rest is copied as it is); only revision >= 54454 cannot do without and
answers NOT_IMPLEMENTED.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from warehouse.server.errors import NOT_IMPLEMENTED, ClickHouseError

WITH_TIME_ZONE_IN_DATETIME = 54337
WITH_CUSTOM_SERIALIZATION = 54454
_BLOCK_INFO = b"\x01\x00\x02\xff\xff\xff\xff\x00"  # field 1: not overflows, field 2: bucket -1

_FIXED_SIZES = {
    **dict.fromkeys(("UInt8", "Int8", "Bool", "Enum8"), 1),
    **dict.fromkeys(("UInt16", "Int16", "Date", "Enum16", "BFloat16"), 2),
    **dict.fromkeys(("UInt32", "Int32", "Float32", "Date32", "DateTime", "IPv4", "Time"), 4),
    **dict.fromkeys(("UInt64", "Int64", "Float64", "DateTime64", "Time64"), 8),
    **dict.fromkeys(("UInt128", "Int128", "UUID", "IPv6"), 16),
    **dict.fromkeys(("UInt256", "Int256"), 32),
    "Decimal32": 4,
    "Decimal64": 8,
    "Decimal128": 16,
    "Decimal256": 32,
    "Point": 16,
}
_GEO_ALIASES = {
    "Ring": "Array(Point)",
    "LineString": "Array(Point)",
    "Polygon": "Array(Array(Point))",
    "MultiLineString": "Array(Array(Point))",
    "MultiPolygon": "Array(Array(Array(Point)))",
}


_CONTAINERS = frozenset({"Array", "Nullable", "Map", "Tuple", "Nested", "SimpleAggregateFunction"})
_PLAIN = frozenset({"String", "FixedString", "Decimal"})


def _is_plain(name: str) -> bool:
    """A type whose column has no state prefix (numbers, strings, dates...)."""
    return name in _FIXED_SIZES or name in _PLAIN or name.startswith("Interval")


class UnknownSerialization(Exception):
    """A column whose byte size this module cannot work out."""


def rewrite_native(data: bytes, revision: int, true_types: Sequence[str] | None) -> bytes:
    """Rewrite revision-0 Native blocks (one chunk or a whole body) for `revision`."""
    if revision <= 0 or not data:
        return data
    out = bytearray()
    reader = _Reader(data)
    while not reader.at_end():
        if not _rewrite_block(reader, out, revision, true_types):
            break  # the rest was copied as it is
    return bytes(out)


def _rewrite_block(
    reader: _Reader, out: bytearray, revision: int, true_types: Sequence[str] | None
) -> bool:
    """One block into `out`; False when an unknown type made it copy the rest verbatim."""
    out += _BLOCK_INFO
    columns = reader.varint()
    rows = reader.varint()
    out += _varint(columns) + _varint(rows)
    for index in range(columns):
        name = reader.string()
        type_name = reader.string()
        wanted = true_types[index] if true_types is not None and index < len(true_types) else ""
        if (
            revision >= WITH_TIME_ZONE_IN_DATETIME
            and type_name == b"DateTime"
            and wanted.startswith("DateTime(")
        ):
            type_name = wanted.encode()
        out += _varint(len(name)) + name + _varint(len(type_name)) + type_name
        if revision >= WITH_CUSTOM_SERIALIZATION:
            out.append(0)
        start = reader.position
        try:
            if rows:
                NativeColumnSkipper(reader).column(type_name.decode(), rows)
        except (UnknownSerialization, IndexError, ValueError, struct.error) as error:
            if revision >= WITH_CUSTOM_SERIALIZATION and index + 1 < columns:
                raise ClickHouseError.of(
                    NOT_IMPLEMENTED,
                    f"client_protocol_version {revision} cannot be served for a result "
                    f"with a column of type {error}; use {WITH_CUSTOM_SERIALIZATION - 1} "
                    "or lower",
                ) from None
            out += reader.data[start:]
            reader.position = len(reader.data)
            return False
        out += reader.data[start : reader.position]
    return True


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def at_end(self) -> bool:
        return self.position >= len(self.data)

    def take(self, size: int) -> bytes:
        end = self.position + size
        if end > len(self.data):
            raise UnknownSerialization("a block shorter than its columns")
        chunk = self.data[self.position : end]
        self.position = end
        return chunk

    def varint(self) -> int:
        value = 0
        shift = 0
        while True:
            byte = self.take(1)[0]
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    def string(self) -> bytes:
        return self.take(self.varint())

    def uint64(self) -> int:
        return int(struct.unpack("<Q", self.take(8))[0])


class NativeColumnSkipper:
    """Moves a reader past one column's Native data (default serialization)."""

    def __init__(self, reader: _Reader) -> None:
        self._reader = reader

    def column(self, type_name: str, rows: int) -> None:
        """The state prefixes of every nested LowCardinality come first, then the data."""
        parsed = parse_type(type_name)
        self._prefix(parsed)
        self._data(parsed, rows)

    def _prefix(self, parsed: ParsedType) -> None:
        name, args = parsed
        if name == "LowCardinality":
            self._reader.uint64()  # the keys' serialization version
        elif name in _CONTAINERS:
            for arg in _type_args(parsed):
                self._prefix(arg)
        elif name in _GEO_ALIASES:
            self._prefix(parse_type(_GEO_ALIASES[name]))
        elif not _is_plain(name):  # it may write a state prefix of its own
            raise UnknownSerialization(name)

    def _data(self, parsed: ParsedType, rows: int) -> None:
        name, args = parsed
        if name in _FIXED_SIZES:
            self._reader.take(_FIXED_SIZES[name] * rows)
        elif name == "Decimal":
            precision = int(args[0])
            width = 4 if precision <= 9 else 8 if precision <= 18 else 16 if precision <= 38 else 32
            self._reader.take(width * rows)
        elif name.startswith("Interval"):
            self._reader.take(8 * rows)
        elif name == "FixedString":
            self._reader.take(int(args[0]) * rows)
        elif name == "String":
            for _ in range(rows):
                self._reader.string()
        elif name == "Nullable":
            self._reader.take(rows)
            self._data(parse_type(args[0]), rows)
        elif name in ("Array", "Map", "Nested"):
            offsets = self._reader.take(8 * rows)
            total = int(struct.unpack_from("<Q", offsets, 8 * (rows - 1))[0]) if rows else 0
            for arg in _type_args(parsed):
                self._data(arg, total)
        elif name == "Tuple":
            for arg in _type_args(parsed):
                self._data(arg, rows)
        elif name == "LowCardinality":
            self._low_cardinality(args[0], rows)
        elif name == "SimpleAggregateFunction":
            self._data(parse_type(args[-1]), rows)
        elif name in _GEO_ALIASES:
            self._data(parse_type(_GEO_ALIASES[name]), rows)
        else:
            raise UnknownSerialization(name)

    def _low_cardinality(self, inner: str, rows: int) -> None:
        flags = self._reader.uint64()
        if flags & (1 << 9):  # the block carries its own keys
            keys = self._reader.uint64()
            key_type = parse_type(inner)
            if key_type[0] == "Nullable":  # keys are stored without the null map
                key_type = parse_type(key_type[1][0])
            self._data(key_type, keys)
        indexes = self._reader.uint64()
        if flags & 0xFF > 3:
            raise UnknownSerialization("LowCardinality with an unknown index width")
        self._reader.take((1, 2, 4, 8)[flags & 0xFF] * indexes)
        del rows  # every row has an index; the count above is authoritative


ParsedType = tuple[str, list[str]]


def parse_type(type_name: str) -> ParsedType:
    """`Array(Tuple(a UInt8, String))` -> ("Array", ["Tuple(a UInt8, String)"])."""
    text = type_name.strip()
    open_at = text.find("(")
    if open_at < 0 or not text.endswith(")"):
        return text, []
    return text[:open_at].strip(), _split_arguments(text[open_at + 1 : -1])


def _type_args(parsed: ParsedType) -> list[ParsedType]:
    """Argument types of a container; Map(K, V) and Nested(...) store a Tuple of them."""
    name, args = parsed
    if name in ("Map", "Nested"):
        return [parse_type(f"Tuple({', '.join(args)})")]
    if name == "SimpleAggregateFunction":
        return [parse_type(args[-1])]
    return [parse_type(_without_element_name(arg)) for arg in args]


def _without_element_name(element: str) -> str:
    """`a UInt8` -> `UInt8`; `` `a b` String `` -> `String`; `UInt8` stays."""
    text = element.strip()
    if text.startswith("`"):
        return text[text.index("`", 1) + 1 :].strip()
    head, _, rest = text.partition(" ")
    if rest and "(" not in head and "'" not in head:
        return rest.strip()
    return text


def _split_arguments(text: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    quote: str | None = None
    start = 0
    index = 0
    while index < len(text):
        char = text[index]
        if quote is not None:
            if char == "\\":
                index += 1
            elif char == quote:
                quote = None
        elif char in "'`":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:index].strip())
            start = index + 1
        index += 1
    parts.append(text[start:].strip())
    return [part for part in parts if part]


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)
