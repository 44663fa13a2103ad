"""Reading a request body: Content-Length or chunked, decompressed, spooled, form-aware.

The body is read completely before the engine lock is taken, so a slow uploader never
blocks other clients; it is spooled to a temporary file past a few MiB so a large insert
does not have to fit in memory. The raw body is always drained to its end, even when it
fails to decompress, so the keep-alive connection stays in step with the client.
"""

from __future__ import annotations

import email.parser
import email.policy
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import parse_qsl

from warehouse.server.compression import StreamDecoder, decode_guarded, request_decoder
from warehouse.server.errors import BAD_ARGUMENTS, ClickHouseError

_READ_CHUNK_BYTES = 1 << 16
_SPOOL_IN_MEMORY_BYTES = 8 << 20
_MAX_FORM_BYTES = 64 << 20


class ReadableStream(Protocol):
    """The part of a socket file the body reader needs."""

    def read(self, size: int = -1, /) -> bytes: ...

    def readline(self, size: int = -1, /) -> bytes: ...


class MalformedRequest(Exception):
    """The HTTP framing itself is broken: answer 400 and close the connection."""


class RequestBody:
    """A decoded request body held in a spooled temporary file."""

    def __init__(self) -> None:
        self._file = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY_BYTES)
        self.size = 0

    def write(self, data: bytes) -> None:
        """Append decoded bytes."""
        if data:
            self._file.write(data)
            self.size += len(data)

    def prefix(self, length: int) -> bytes:
        """The first `length` bytes (for finding an INSERT's head)."""
        self._file.seek(0)
        return self._file.read(length)

    def read_all(self) -> bytes:
        """The whole body (for statements that are SQL text, not data)."""
        self._file.seek(0)
        return self._file.read()

    def chunks(self, offset: int = 0, chunk_bytes: int = 1 << 20) -> Iterator[bytes]:
        """The body from `offset` on, in chunks, for streaming into the engine."""
        self._file.seek(offset)
        while True:
            chunk = self._file.read(chunk_bytes)
            if not chunk:
                return
            yield chunk

    def close(self) -> None:
        """Delete the spool file."""
        self._file.close()


def read_body(rfile: ReadableStream, headers: dict[str, str]) -> RequestBody:
    """Read and decode the body; ClickHouseError for bad compression, after draining."""
    transfer_encoding = headers.get("transfer-encoding", "").lower()
    length_text = headers.get("content-length")
    if "chunked" in transfer_encoding:
        raw_chunks = _chunked(rfile)
    elif length_text is not None:
        try:
            length = int(length_text)
        except ValueError:
            raise MalformedRequest(f"Invalid Content-Length: {length_text!r}") from None
        if length < 0:
            raise MalformedRequest(f"Invalid Content-Length: {length_text!r}")
        raw_chunks = _fixed_length(rfile, length)
    else:
        raw_chunks = iter(())
    body = RequestBody()
    failure: ClickHouseError | None = None
    decoder: StreamDecoder | None = None
    try:
        decoder = request_decoder(headers.get("content-encoding"))
    except ClickHouseError as error:
        failure = error
    for raw in raw_chunks:
        if failure is None and decoder is not None:
            try:
                body.write(decode_guarded(decoder, raw))
            except ClickHouseError as error:
                failure = error
    if failure is None and decoder is not None:
        try:
            body.write(decoder.finish())
        except ClickHouseError as error:
            failure = error
    if failure is not None:
        body.close()
        raise failure
    return body


def _fixed_length(rfile: ReadableStream, length: int) -> Iterator[bytes]:
    remaining = length
    while remaining > 0:
        chunk = rfile.read(min(remaining, _READ_CHUNK_BYTES))
        if not chunk:
            raise MalformedRequest("Connection closed before the whole body arrived")
        remaining -= len(chunk)
        yield chunk


def _chunked(rfile: ReadableStream) -> Iterator[bytes]:
    while True:
        size_line = rfile.readline(1024)
        if not size_line:
            raise MalformedRequest("Connection closed inside a chunked body")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise MalformedRequest(f"Invalid chunk size line: {size_line[:40]!r}") from None
        if size == 0:
            while rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                pass  # trailers are ignored
            return
        yield from _fixed_length(rfile, size)
        if rfile.readline(1024) not in (b"\r\n", b"\n"):
            raise MalformedRequest("Chunk not terminated by CRLF")


@dataclass(frozen=True)
class FormFile:
    """A multipart part with a filename: an external data table's content."""

    name: str
    content: bytes


@dataclass(frozen=True)
class RequestForm:
    """An HTML-form body: text fields (query, parameters, settings) and uploaded files."""

    fields: dict[str, str]
    files: tuple[FormFile, ...] = ()


def request_form(headers: Mapping[str, str], body: RequestBody) -> RequestForm | None:
    """The fields and files of an HTML-form body, or None when the body is SQL or data.

    clickhouse-connect sends the query and `param_*` values as form fields when they are
    too long for a URL, and external data tables as multipart files. A urlencoded body
    without a `query` or `param_*` field is raw text, as in ClickHouse: `curl -d 'SELECT 1'`
    and `curl --data-binary @file.parquet` both send curl's default form content type.
    Field values keep bytes that are not UTF-8 as surrogate escapes (see engine_text).
    """
    content_type = headers.get("Content-Type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return None
    if body.size > _MAX_FORM_BYTES:
        if media_type == "multipart/form-data":
            raise ClickHouseError.of(BAD_ARGUMENTS, "HTML form body is too large")
        return None
    raw = body.read_all()
    if media_type == "application/x-www-form-urlencoded":
        fields = dict(
            parse_qsl(
                raw.decode("utf-8", "surrogateescape"),
                keep_blank_values=True,
                encoding="utf-8",
                errors="surrogateescape",
            )
        )
        if not any(name == "query" or name.startswith("param_") for name in fields):
            return None
        return RequestForm(fields)
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + raw
    )
    if not message.is_multipart():
        raise ClickHouseError.of(BAD_ARGUMENTS, "Malformed multipart/form-data body")
    text_fields: dict[str, str] = {}
    files: list[FormFile] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else str(payload).encode()
        if part.get_filename() is not None:
            files.append(FormFile(name, content))
        else:
            text_fields[name] = content.decode("utf-8", "surrogateescape")
    return RequestForm(text_fields, tuple(files))
