"""A result sent while the engine still produces it, the way a ClickHouse server sends it.

ClickHouse starts answering before a read has finished, so memory stays bounded and a
client sees the first rows early. When the statement fails after bytes have gone out, the
status line cannot change any more; the server then ends the body with an exception block
marked with a random tag announced in the `X-ClickHouse-Exception-Tag` header (ClickHouse
25.11 and later):

    __exception__ CRLF <tag> CRLF <error text> LF <length of the error text> SP <tag> CRLF
    __exception__ CRLF

clickhouse-connect looks for exactly these bytes and raises StreamFailureError with the
engine's message; a plain reader sees the error text at the end of the output.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from warehouse.server.compression import stream_encoder
from warehouse.server.errors import ClickHouseError

# ClickHouse's response buffer and interactive_delay: output waits for either.
HOLD_BACK_BYTES = 1 << 20
HOLD_BACK_SECONDS = 0.1


@dataclass(frozen=True)
class HeldBack:
    """The first chunks of a result, and whether they are all of it."""

    chunks: list[bytes]
    complete: bool


def held_back(chunks: Iterator[bytes], elapsed_seconds: Callable[[], float]) -> HeldBack:
    """Pull chunks until the result ends, fills the buffer, or has taken the delay."""
    head: list[bytes] = []
    size = 0
    for chunk in chunks:
        head.append(chunk)
        size += len(chunk)
        if size >= HOLD_BACK_BYTES or elapsed_seconds() >= HOLD_BACK_SECONDS:
            return HeldBack(head, complete=False)
    return HeldBack(head, complete=True)


def exception_tag() -> str:
    """A fresh random 16-character tag for one response (never predictable from the data)."""
    return secrets.token_hex(8)


def exception_block(tag: str, error_text: bytes) -> bytes:
    """The bytes that end a streamed body whose statement failed."""
    text = error_text.rstrip(b"\n")
    tag_bytes = tag.encode("ascii")
    return (
        b"__exception__\r\n" + tag_bytes + b"\r\n" + text + b"\n"
        + str(len(text)).encode("ascii") + b" " + tag_bytes + b"\r\n__exception__\r\n"
    )  # fmt: skip


def result_body(
    chunks: Iterator[bytes], tag: str, render: Callable[[ClickHouseError], bytes]
) -> Iterator[bytes]:
    """The result's chunks, then the exception block if the engine fails part-way."""
    try:
        yield from chunks
    except ClickHouseError as error:
        yield exception_block(tag, render(error))


def encoded_stream(chunks: Iterator[bytes], encoding: str | None) -> Iterator[bytes]:
    """Compress a streamed body as one frame, flushed after every chunk (or pass it through)."""
    if encoding is None:
        yield from chunks
        return
    encoder = stream_encoder(encoding)
    for chunk in chunks:
        compressed = encoder.compress(chunk)
        if compressed:
            yield compressed
    yield encoder.finish()
