"""HTTP body compression as ClickHouse negotiates it.

Request bodies: `Content-Encoding` gzip, deflate, zstd, lz4 (and br when the optional brotli
module is present) are decoded incrementally, so a large compressed insert never has to be
held twice in memory. clickhouse-connect compresses each insert block as its own zstd or lz4
frame, so every decoder here accepts concatenated frames.

Response bodies: compressed only when the client asked twice, as ClickHouse requires
(`enable_http_compression=1` and an `Accept-Encoding` naming a method). Each response is one
frame: clickhouse-connect's streaming zstd reader stops after the first frame.
"""

from __future__ import annotations

import gzip
import importlib
import sys
import zlib
from collections.abc import Callable
from typing import Any, Protocol

import lz4.frame  # type: ignore[import-untyped]

from warehouse.server.errors import CANNOT_DECOMPRESS, UNKNOWN_COMPRESSION_METHOD, ClickHouseError

# Python 3.14 has compression.zstd; older ones get the same module from backports.zstd.
if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

brotli: Any
try:  # brotli is optional; without it "br" is simply not offered
    brotli = importlib.import_module("brotli")
except ImportError:
    brotli = None


class StreamDecoder(Protocol):
    """Incremental decoder: feed compressed chunks, get plain bytes back."""

    def feed(self, chunk: bytes) -> bytes:
        """Decode one chunk; may return b"" while a frame is incomplete."""
        ...

    def finish(self) -> bytes:
        """Flush and check that the stream did not end inside a frame."""
        ...


class _IdentityDecoder:
    def feed(self, chunk: bytes) -> bytes:
        return chunk

    def finish(self) -> bytes:
        return b""


class _FramedDecoder:
    """Concatenated frames (zstd, lz4, gzip members); a new decompressor starts after each."""

    def __init__(self, factory: Callable[[], _FrameDecompressor]) -> None:
        self._factory = factory
        self._inner = factory()
        self._in_frame = False

    def feed(self, chunk: bytes) -> bytes:
        out = bytearray()
        while chunk:
            self._in_frame = True
            out += self._inner.decompress(chunk)
            if not self._inner.eof:
                break
            chunk = self._inner.unused_data
            self._inner = self._factory()
            self._in_frame = False
        return bytes(out)

    def finish(self) -> bytes:
        if self._in_frame:
            raise ClickHouseError.of(
                CANNOT_DECOMPRESS, "Compressed request body ends inside a frame"
            )
        return b""


class _FrameDecompressor(Protocol):
    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes) -> bytes: ...


class _BrotliDecoder:
    def __init__(self) -> None:
        self._inner = brotli.Decompressor()

    def feed(self, chunk: bytes) -> bytes:
        return bytes(self._inner.process(chunk))

    def finish(self) -> bytes:
        return b""


def request_decoder(content_encoding: str | None) -> StreamDecoder:
    """The decoder for a request's Content-Encoding; unknown methods are a client error."""
    method = (content_encoding or "").strip().lower()
    if method in ("", "identity", "none"):
        return _IdentityDecoder()
    if method in ("gzip", "x-gzip"):
        return _FramedDecoder(lambda: zlib.decompressobj(47))  # 47: gzip or zlib header
    if method == "deflate":
        return _FramedDecoder(lambda: zlib.decompressobj(15))
    if method == "zstd":
        return _FramedDecoder(zstd.ZstdDecompressor)
    if method == "lz4":
        return _FramedDecoder(lz4.frame.LZ4FrameDecompressor)
    if method == "br" and brotli is not None:
        return _BrotliDecoder()
    raise ClickHouseError.of(
        UNKNOWN_COMPRESSION_METHOD, f"Unknown HTTP compression method: {method}"
    )


def decode_guarded(decoder: StreamDecoder, chunk: bytes) -> bytes:
    """Feed a chunk, turning library errors into CANNOT_DECOMPRESS for the client."""
    try:
        return decoder.feed(chunk)
    except ClickHouseError:
        raise
    except Exception as error:  # zlib.error, ZstdError, RuntimeError from lz4: all mean bad input
        raise ClickHouseError.of(
            CANNOT_DECOMPRESS, f"Cannot decompress request body: {error}"
        ) from error


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=3)


def _deflate(data: bytes) -> bytes:
    return zlib.compress(data, 3)


def _zstd(data: bytes) -> bytes:
    return bytes(zstd.compress(data))


def _lz4(data: bytes) -> bytes:
    return bytes(lz4.frame.compress(data))


RESPONSE_ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": _gzip,
    "deflate": _deflate,
    "zstd": _zstd,
    "lz4": _lz4,
}
if brotli is not None:
    RESPONSE_ENCODERS["br"] = brotli.compress


def choose_response_encoding(accept_encoding: str | None, enabled: bool) -> str | None:
    """Pick the first method of the client's Accept-Encoding that this server can produce.

    Returns None (send plain bytes) unless `enable_http_compression` is on, and never
    returns a method the client did not name, so an unknown method is ignored, not an error.
    """
    if not enabled or not accept_encoding:
        return None
    for item in accept_encoding.split(","):
        token, _, quality = item.strip().partition(";")
        token = token.strip().lower()
        if quality.strip().replace(" ", "") in ("q=0", "q=0.0"):
            continue
        if token in RESPONSE_ENCODERS:
            return token
    return None


def encode_response(body: bytes, method: str | None) -> bytes:
    """Compress a whole response body as one frame (identity when method is None)."""
    if method is None:
        return body
    return RESPONSE_ENCODERS[method](body)


class StreamEncoder(Protocol):
    """Incremental response compression: one frame for the whole response, flushed per chunk.

    Each `compress` returns everything needed to decode the chunk so far, so a streaming
    client sees rows as the engine produces them; `finish` ends the frame.
    """

    def compress(self, chunk: bytes) -> bytes: ...

    def finish(self) -> bytes: ...


class _ZlibStreamEncoder:
    def __init__(self, wbits: int) -> None:
        self._compressor = zlib.compressobj(3, zlib.DEFLATED, wbits)

    def compress(self, chunk: bytes) -> bytes:
        return self._compressor.compress(chunk) + self._compressor.flush(zlib.Z_SYNC_FLUSH)

    def finish(self) -> bytes:
        return self._compressor.flush(zlib.Z_FINISH)


class _ZstdStreamEncoder:
    def __init__(self) -> None:
        self._compressor = zstd.ZstdCompressor()

    def compress(self, chunk: bytes) -> bytes:
        return bytes(self._compressor.compress(chunk, zstd.ZstdCompressor.FLUSH_BLOCK))

    def finish(self) -> bytes:
        return bytes(self._compressor.flush(zstd.ZstdCompressor.FLUSH_FRAME))


class _Lz4StreamEncoder:
    def __init__(self) -> None:
        self._compressor = lz4.frame.LZ4FrameCompressor(auto_flush=True)
        self._header = bytes(self._compressor.begin())  # sent with the first output

    def compress(self, chunk: bytes) -> bytes:
        return self._take_header() + bytes(self._compressor.compress(chunk))

    def finish(self) -> bytes:
        return self._take_header() + bytes(self._compressor.flush())

    def _take_header(self) -> bytes:
        header, self._header = self._header, b""
        return header


class _BrotliStreamEncoder:
    def __init__(self) -> None:
        self._compressor = brotli.Compressor()

    def compress(self, chunk: bytes) -> bytes:
        return bytes(self._compressor.process(chunk)) + bytes(self._compressor.flush())

    def finish(self) -> bytes:
        return bytes(self._compressor.finish())


STREAM_ENCODERS: dict[str, Callable[[], StreamEncoder]] = {
    "gzip": lambda: _ZlibStreamEncoder(31),  # gzip header and trailer
    "deflate": lambda: _ZlibStreamEncoder(15),  # zlib format, as zlib.compress writes
    "zstd": _ZstdStreamEncoder,
    "lz4": _Lz4StreamEncoder,
}
if brotli is not None:
    STREAM_ENCODERS["br"] = _BrotliStreamEncoder


def stream_encoder(method: str) -> StreamEncoder:
    """A fresh incremental encoder for a method `choose_response_encoding` picked."""
    return STREAM_ENCODERS[method]()
