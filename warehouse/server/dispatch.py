"""ClickHouse's HTTP query semantics: from URL parameters, headers and body to a response.

This is the part a client can observe: which parameters are settings, how the URL query and
the body combine, what GET and `readonly` allow, how INSERT data is found, and which headers
and status come back. The HTTP mechanics (sockets, framing, logging) live in handler.py.

`INTO OUTFILE` is refused for everybody, admins included, with ClickHouse's own answer
(358 INTO_OUTFILE_NOT_ALLOWED, HTTP 500): a ClickHouse server's HTTP handler runs every
query with allow_into_outfile = false, since the clause is clickhouse-client's (it writes
on the client's machine). chDB is clickhouse-local and would write the file on this host.
Shop owners are refused earlier by the row policy, with 497 ACCESS_DENIED.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

from warehouse.server import metrics
from warehouse.server.admission import Admission
from warehouse.server.auth import UserDirectory, credentials_from_request
from warehouse.server.body import RequestBody, request_form
from warehouse.server.compression import choose_response_encoding, encode_response
from warehouse.server.engine import (
    DEFAULT_OUTPUT_FORMAT,
    ChdbEngine,
    EngineResult,
    ExecutionContext,
    StatementStream,
)
from warehouse.server.errors import (
    BAD_ARGUMENTS,
    INTO_OUTFILE_NOT_ALLOWED,
    NOT_IMPLEMENTED,
    QUERY_WAS_CANCELLED,
    READONLY,
    SYNTAX_ERROR,
    UNKNOWN_FORMAT,
    ClickHouseError,
)
from warehouse.server.external_data import (
    ExternalTable,
    external_tables,
    is_external_table_param,
)
from warehouse.server.query_cache import CachePolicy, QueryCache, sized_by_body, split_settings
from warehouse.server.query_log import (
    QueryEnd,
    RequestRecord,
    ServerLog,
    SessionEvent,
    SessionLogEntry,
    now,
)
from warehouse.server.result_stream import (
    encoded_stream,
    exception_tag,
    held_back,
    result_body,
)
from warehouse.server.row_policy import ShopRowPolicy
from warehouse.server.sessions import SessionRegistry, SessionState
from warehouse.server.sqltext import (
    InsertHead,
    StatementKind,
    classify,
    find_insert_head,
    first_keyword,
    into_outfile_start,
    is_select,
    require_single_statement,
)

# URL parameters that are not settings (ClickHouse's reserved_param_names, plus query).
RESERVED_PARAMS = frozenset(
    {
        "query",
        "compress",
        "decompress",
        "user",
        "password",
        "quota_key",
        "query_id",
        "stacktrace",
        "role",
        "buffer_size",
        "wait_end_of_query",
        "session_id",
        "session_timeout",
        "session_check",
        "client_protocol_version",
        "close_session",
        "database",
        "default_format",
    }
)
# Real settings that only steer the HTTP layer: honoured here, never applied to the engine.
HTTP_LAYER_SETTINGS = frozenset(
    {
        "enable_http_compression",
        "send_progress_in_http_headers",
        "http_headers_progress_interval_ms",
        "cancel_http_readonly_queries_on_client_close",
        "http_zlib_compression_level",
        "http_wait_end_of_query",
        "http_response_buffer_size",
        "http_native_compression_disable_checksumming_on_decompress",
        "add_http_cors_header",
        "readonly",
    }
)
_TRUE_TEXT = frozenset({"1", "true", "True", "TRUE", "yes"})
_DROP_QUERY_CACHE = re.compile(r"\s*SYSTEM\s+(DROP|CLEAR)\s+QUERY\s+CACHE\b", re.IGNORECASE)
_FLUSH_LOGS = re.compile(r"\s*SYSTEM\s+FLUSH\s+LOGS\b", re.IGNORECASE)
_INSERT_HEAD_SCAN_BYTES = 1 << 20
_MAX_SQL_BYTES = 64 << 20
# A query_id goes back in a response header and into the access log: printable ASCII only,
# so it can neither break the header (latin-1 only) nor add lines (CR LF) to either.
_HEADER_SAFE = re.compile(r"[\x20-\x7e]+")
# Bytes of the request that are not UTF-8 (kept as surrogate escapes by the URL decoding).
_NOT_UTF8 = re.compile("[\udc80-\udcff]")


@dataclass
class HttpResponse:
    """What the handler sends back, plus what it logs.

    A streamed response has `stream` (sent with chunked transfer encoding instead of
    `body`) and `release`, which the handler calls once it is sent or the client is gone.
    """

    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)
    query_id: str = ""
    user: str = ""
    from_cache: bool = False
    stream: Iterator[bytes] | None = None
    release: Callable[[], None] | None = None


class QueryDispatcher:
    """Turns one authenticated HTTP request into engine calls and a ClickHouse response."""

    def __init__(
        self,
        engine: ChdbEngine,
        users: UserDirectory,
        sessions: SessionRegistry,
        policy: ShopRowPolicy,
        display_name: str,
        cache: QueryCache[EngineResult] | None = None,
        admission: Admission | None = None,
        server_log: ServerLog | None = None,
    ) -> None:
        self.engine = engine
        self.server_log = server_log
        self.admission = admission or Admission(engine.pool_size, policy.restricted)
        self.cache = cache if cache is not None else sized_by_body()
        self.users = users
        self.sessions = sessions
        self.policy = policy
        self.display_name = display_name

    def handle(
        self, method: str, params: dict[str, str], headers: Mapping[str, str], body: RequestBody
    ) -> HttpResponse:
        """Run the request; every failure becomes ClickHouse's error response, never a crash.

        What the request holds while it runs (its HTTP session, a statement slot, an engine
        connection) is released before returning, except for a streamed result: then the
        response's `release` does it once the last chunk is sent.
        """
        requested_id = params.get("query_id", "")
        query_id = requested_id if _HEADER_SAFE.fullmatch(requested_id) else str(uuid.uuid4())
        record = RequestRecord(query_id, user_agent=headers.get("User-Agent", ""))
        user = ""
        held = contextlib.ExitStack()
        try:
            if requested_id and query_id != requested_id:
                raise ClickHouseError.of(
                    BAD_ARGUMENTS, "query_id may only hold printable ASCII characters"
                )
            credentials = credentials_from_request(headers, params)
            try:
                user = self.users.authenticate(credentials)
            except ClickHouseError as refused:
                self._log_session(SessionEvent.LOGIN_FAILURE, params.get("session_id", ""),
                                  credentials.user, refused.message)  # fmt: skip
                raise
            record.user = user
            for name in ("compress", "decompress"):
                if params.get(name, "0") in _TRUE_TEXT:
                    raise ClickHouseError.of(
                        NOT_IMPLEMENTED,
                        f"ClickHouse block compression ({name}=1) is not supported; "
                        "use HTTP Content-Encoding",
                    )
            form = None if _body_is_insert_data(params) else request_form(headers, body)
            if form is not None:
                params = {**params, **form.fields}
            if params.get("close_session", "0") in _TRUE_TEXT and params.get("session_id"):
                held.callback(self.sessions.close, params["session_id"])  # after the checkout
            session = held.enter_context(self._session(params, user))
            held.enter_context(self.admission.slot(user))
            external = external_tables(params, form.files if form is not None else ())
            outcome = self._run(
                method, params, headers, body if form is None else None, session, user, held,
                record, external,
            )  # fmt: skip
            compression_on = _setting(params, session, "enable_http_compression") in _TRUE_TEXT
            encoding = choose_response_encoding(headers.get("Accept-Encoding"), compression_on)
            if isinstance(outcome, StatementStream):
                return self._streamed(outcome, record, encoding, held)
            held.close()
            return self._success(outcome, record, encoding)
        except ClickHouseError as error:
            held.close()
            self._log_query(record, QueryEnd.EXCEPTION_BEFORE_START, error=error)
            return self.failure(error, query_id, user)
        except BaseException:  # a server bug: the handler answers 500
            held.close()
            metrics.query_ended(record.metric_kind, _elapsed(record), failed=True)
            raise

    # -- request semantics ------------------------------------------------------------

    @contextlib.contextmanager
    def _session(self, params: Mapping[str, str], user: str) -> Iterator[SessionState | None]:
        session_id = params.get("session_id")
        if not session_id:
            yield None
            return
        must_exist = params.get("session_check", "0") in _TRUE_TEXT
        with self.sessions.checkout(
            session_id, user, params.get("session_timeout"), must_exist
        ) as state:
            if state.requests == 1:
                self._log_session(SessionEvent.LOGIN_SUCCESS, session_id, user)
            yield state

    def _run(
        self,
        method: str,
        params: Mapping[str, str],
        headers: Mapping[str, str],
        body: RequestBody | None,
        session: SessionState | None,
        user: str,
        held: contextlib.ExitStack,
        record: RequestRecord,
        external: Sequence[ExternalTable] = (),
    ) -> EngineResult | StatementStream:
        cache_controls, settings = split_settings(
            {
                key: value
                for key, value in params.items()
                if key
                and key not in RESERVED_PARAMS
                and key not in HTTP_LAYER_SETTINGS
                and not key.startswith("param_")
                and not is_external_table_param(key, external)
            }
        )
        self.policy.check_settings(user, settings)
        context = ExecutionContext(
            database=params.get("database") or headers.get("X-ClickHouse-Database") or None,
            settings=settings,
            session=session,
            external=tuple(external),
            native_revision=_protocol_revision(params),
        )
        url_part = params.get("query", "").encode("utf-8", "surrogateescape")
        body_size = body.size if body is not None else 0
        if url_part and body_size:
            url_part += b"\n"  # ClickHouse joins the URL query and the body with a newline
        readonly = _readonly_level(method, params)
        scan = url_part + (body.prefix(_INSERT_HEAD_SCAN_BYTES) if body is not None else b"")
        insert = find_insert_head(scan.decode("latin-1"))
        record.database = self.engine.effective_state(context).database
        if insert is not None:
            record.query = insert.head.encode("latin-1").decode("utf-8", "surrogateescape")
            record.first_keyword = "INSERT"
            record.metric_kind = metrics.INSERT
            _check_readonly(StatementKind.INSERT_DATA, readonly, method)
            self.policy.check_insert(user)
            if into_outfile_start(insert.head) is not None:
                raise ClickHouseError.of(INTO_OUTFILE_NOT_ALLOWED, "INTO OUTFILE is not allowed")
            head = InsertHead(
                insert.head.encode("latin-1").decode("utf-8", "surrogateescape"),
                insert.input_format,
                insert.data_offset,
            )
            return self.engine.insert(
                head, _insert_data(url_part, body, insert.data_offset), context
            )
        if len(url_part) + body_size > _MAX_SQL_BYTES:
            raise ClickHouseError.of(
                BAD_ARGUMENTS, "Query text is larger than this server accepts (64 MiB)"
            )
        raw_sql = url_part + (body.read_all() if body is not None else b"")
        # Bytes that are not UTF-8 (a binary string literal) survive as surrogate escapes
        # and reach the engine as the client sent them (connection.engine_text).
        record.query = raw_sql.decode("utf-8", "surrogateescape")
        sql = require_single_statement(record.query)
        record.first_keyword = first_keyword(sql)
        if not sql.strip():
            raise ClickHouseError.of(SYNTAX_ERROR, "Empty query")
        kind = classify(sql)
        record.metric_kind = metrics.statement_kind(kind, record.first_keyword)
        _check_readonly(kind, readonly, method)
        query_parameters = _query_parameters(params)
        database = record.database
        row_filter = self.policy.filter_settings(user, kind, sql, database, query_parameters)
        if into_outfile_start(sql) is not None:  # after the policy: a shop owner is told 497
            raise ClickHouseError.of(INTO_OUTFILE_NOT_ALLOWED, "INTO OUTFILE is not allowed")
        if row_filter:
            context = replace(context, settings={**context.settings, **row_filter})
        default_format = (
            params.get("default_format")
            or headers.get("X-ClickHouse-Format")
            or DEFAULT_OUTPUT_FORMAT
        )
        if _NOT_UTF8.search(default_format):  # the engine takes the name as text
            raise ClickHouseError.of(UNKNOWN_FORMAT, f"Unknown format {default_format}")

        def execute() -> EngineResult:
            return self.engine.execute(sql, kind, context, default_format, query_parameters)

        if kind is StatementKind.WRITE and _DROP_QUERY_CACHE.match(sql):
            self.cache.clear()
        if kind is StatementKind.WRITE and _FLUSH_LOGS.match(sql) and self.server_log:
            self.server_log.flush()
        cache_policy = CachePolicy.from_settings(cache_controls)
        if kind is not StatementKind.READ:
            try:
                return execute()
            finally:
                if kind is StatementKind.WRITE:  # DDL may add a table the row filter must cover
                    self.policy.catalogue_changed()
        if cache_policy is None or external:
            if not is_select(sql) or _setting(params, session, "wait_end_of_query") in _TRUE_TEXT:
                return execute()  # SHOW, DESCRIBE...; or the client asked for it whole
            return held.enter_context(
                self.engine.stream(sql, context, default_format, query_parameters)
            )
        state = self.engine.effective_state(context)  # session SETs + URL settings + row filter
        key = (
            user,
            state.database,
            sql,
            default_format,
            tuple(sorted(state.settings.items())),
            tuple(sorted(query_parameters.items())),
            cache_controls.get("query_cache_tag", ""),
            context.native_revision,
        )
        result, hit = self.cache.run(key, cache_policy, execute)
        return replace(result, from_cache=True) if hit else result

    # -- responses --------------------------------------------------------------------

    def _common_headers(self, query_id: str, timezone: str) -> list[tuple[str, str]]:
        return [
            ("X-ClickHouse-Server-Display-Name", self.display_name),
            ("X-ClickHouse-Query-Id", query_id),
            ("X-ClickHouse-Timezone", timezone),
        ]

    def _result_headers(
        self, query_id: str, timezone: str, output_format: str | None
    ) -> list[tuple[str, str]]:
        response_headers = self._common_headers(query_id, timezone)
        if output_format is not None:
            response_headers.append(("X-ClickHouse-Format", output_format))
            response_headers.append(("Content-Type", content_type_for(output_format)))
        else:
            response_headers.append(("Content-Type", "text/plain; charset=UTF-8"))
        return response_headers

    def _success(
        self, result: EngineResult, record: RequestRecord, encoding: str | None
    ) -> HttpResponse:
        self._log_query(record, QueryEnd.FINISH, result.summary, result.from_cache)
        query_id, user = record.query_id, record.user
        response_headers = self._result_headers(query_id, result.timezone, result.output_format)
        response_headers.append(
            ("X-ClickHouse-Summary", json.dumps(result.summary, separators=(",", ":")))
        )
        body = result.body
        if encoding is not None and body:
            body = encode_response(body, encoding)
            response_headers.append(("Content-Encoding", encoding))
        return HttpResponse(200, body, response_headers, query_id, user, result.from_cache)

    def _streamed(
        self,
        stream: StatementStream,
        record: RequestRecord,
        encoding: str | None,
        held: contextlib.ExitStack,
    ) -> HttpResponse:
        """Send a read's result while the engine produces it (see result_stream.py).

        As a ClickHouse server does, the output is held back until it fills a buffer
        (1 MiB) or the statement has run for the interactive delay (100 ms): a result
        complete by then goes out whole, with Content-Length, its final summary and, if it
        fails, a proper error status; a longer one is streamed, and a failure after its
        first bytes arrives as ClickHouse's tagged exception block.
        """
        chunks = stream.chunks()
        head = held_back(chunks, stream.elapsed_seconds)  # may raise: nothing is sent yet
        if head.complete:
            held.close()
            result = EngineResult(b"".join(head.chunks), stream.output_format,
                                  stream.summary(), stream.timezone)  # fmt: skip
            return self._success(result, record, encoding)
        query_id, user = record.query_id, record.user
        tag = exception_tag()
        response_headers = self._result_headers(query_id, stream.timezone, stream.output_format)
        response_headers.append(("X-ClickHouse-Exception-Tag", tag))
        response_headers.append(
            ("X-ClickHouse-Summary", json.dumps(stream.summary(), separators=(",", ":")))
        )
        if encoding is not None:
            response_headers.append(("Content-Encoding", encoding))
        body = result_body(
            _noting_the_end(itertools.chain(head.chunks, chunks), record),
            tag,
            lambda error: self._streaming_failed(record, error),
        )
        release_engine = held.pop_all().close

        def release() -> None:
            release_engine()
            self._log_streamed_end(record, stream.summary())

        return HttpResponse(
            200, b"", response_headers, query_id, user,
            stream=encoded_stream(body, encoding), release=release,
        )  # fmt: skip

    def _streaming_failed(self, record: RequestRecord, error: ClickHouseError) -> bytes:
        record.streamed_error = error
        return error.body(self.engine.version)

    def _log_streamed_end(self, record: RequestRecord, summary: Mapping[str, str]) -> None:
        error = record.streamed_error
        if error is None and not record.stream_finished:  # the client left before the end
            error = ClickHouseError.of(QUERY_WAS_CANCELLED, "Query was cancelled")
        end = QueryEnd.FINISH if error is None else QueryEnd.EXCEPTION_WHILE_PROCESSING
        self._log_query(record, end, summary, error=error)

    def _log_query(
        self,
        record: RequestRecord,
        end: QueryEnd,
        summary: Mapping[str, str] | None = None,
        from_cache: bool = False,
        error: ClickHouseError | None = None,
    ) -> None:
        """The statement has ended: its query_log row and its metrics."""
        metrics.query_ended(record.metric_kind, _elapsed(record), failed=error is not None)
        if error is None and record.metric_kind == metrics.INSERT and summary is not None:
            metrics.rows_inserted(record.query, int(summary.get("written_rows", "0")))
        if self.server_log is not None:
            self.server_log.query(record.entry(end, summary, from_cache, error))

    def _log_session(
        self, event: SessionEvent, session_id: str, user: str, failure_reason: str = ""
    ) -> None:
        if self.server_log is not None:
            self.server_log.session(
                SessionLogEntry(event.value, now(), session_id, user, failure_reason)
            )

    def failure(self, error: ClickHouseError, query_id: str = "", user: str = "") -> HttpResponse:
        """ClickHouse's error response: status from the code table, code header, text body."""
        if not _HEADER_SAFE.fullmatch(query_id):
            query_id = str(uuid.uuid4())
        response_headers = self._common_headers(query_id, self.engine.server_timezone)
        response_headers.append(("Content-Type", "text/plain; charset=UTF-8"))
        response_headers.append(("X-ClickHouse-Exception-Code", str(error.code)))
        return HttpResponse(
            error.http_status, error.body(self.engine.version), response_headers, query_id, user
        )


def _elapsed(record: RequestRecord) -> float:
    return time.perf_counter() - record.started_clock


def _noting_the_end(chunks: Iterator[bytes], record: RequestRecord) -> Iterator[bytes]:
    """The chunks; marks the record once the engine has handed over the last one."""
    yield from chunks
    record.stream_finished = True


def _insert_data(url_part: bytes, body: RequestBody | None, offset: int) -> Iterator[bytes]:
    """The INSERT's rows: whatever of the URL query follows the head, then the body."""
    if offset < len(url_part):
        yield url_part[offset:]
        offset = len(url_part)
    if body is not None:
        yield from body.chunks(offset - len(url_part))


def _setting(params: Mapping[str, str], session: SessionState | None, name: str) -> str:
    if name in params:
        return params[name]
    return session.settings.get(name, "0") if session is not None else "0"


def _readonly_level(method: str, params: Mapping[str, str]) -> int:
    """ClickHouse semantics: `readonly` from the URL, and GET implies readonly=2 at least."""
    text = params.get("readonly", "0")
    try:
        level = int(text)
    except ValueError:
        raise ClickHouseError.of(
            BAD_ARGUMENTS, f"Invalid value for setting readonly: '{text}'"
        ) from None
    if method == "GET" and level != 1:
        level = 2
    return level


def _check_readonly(kind: StatementKind, level: int, method: str) -> None:
    if level == 0 or kind in (StatementKind.READ, StatementKind.USE):
        return
    if kind is StatementKind.SET and level == 2:
        return
    if kind is StatementKind.SET:
        raise ClickHouseError.of(READONLY, "Cannot modify settings in readonly mode")
    hint = (
        " For queries over HTTP, method GET implies readonly."
        " You should use method POST for modifying queries"
        if method == "GET"
        else ""
    )
    raise ClickHouseError.of(READONLY, f"Cannot execute query in readonly mode.{hint}")


_CONTENT_TYPES: tuple[tuple[str, str], ...] = (
    ("TabSeparated", "text/tab-separated-values; charset=UTF-8"),
    ("TSV", "text/tab-separated-values; charset=UTF-8"),
    ("CSVWithNames", "text/csv; charset=UTF-8; header=present"),
    ("CSV", "text/csv; charset=UTF-8; header=absent"),
    ("JSONEachRow", "application/x-ndjson; charset=UTF-8"),
    ("JSONLines", "application/x-ndjson; charset=UTF-8"),
    ("NDJSON", "application/x-ndjson; charset=UTF-8"),
    ("JSON", "application/json; charset=UTF-8"),
    ("XML", "application/xml; charset=UTF-8"),
    ("Native", "application/octet-stream"),
    ("RowBinary", "application/octet-stream"),
    ("Parquet", "application/octet-stream"),
    ("Arrow", "application/octet-stream"),
    ("ORC", "application/octet-stream"),
    ("Avro", "application/octet-stream"),
    ("Protobuf", "application/octet-stream"),
    ("MsgPack", "application/octet-stream"),
)


def content_type_for(format_name: str) -> str:
    """Content-Type ClickHouse sends for an output format (text/plain for the rest)."""
    for prefix, content_type in _CONTENT_TYPES:
        if format_name.startswith(prefix):
            return content_type
    return "text/plain; charset=UTF-8"


def _protocol_revision(params: Mapping[str, str]) -> int:
    """The client's `client_protocol_version` (0, ClickHouse's default, when absent or junk)."""
    text = params.get("client_protocol_version", "0")
    return int(text) if text.isascii() and text.isdigit() else 0  # not '²', which isdigit()


def _query_parameters(params: Mapping[str, str]) -> dict[str, str]:
    """The `param_<name>` values, bytes that are not UTF-8 written as `\\xHH` escapes.

    The engine takes parameters as text and reads a value with escapes (as in TSV), so it
    still gets the bytes the client sent; a name must be UTF-8.
    """
    parameters: dict[str, str] = {}
    for key, value in params.items():
        if not key.startswith("param_"):
            continue
        name = key[len("param_") :]
        if _NOT_UTF8.search(name):
            raise ClickHouseError.of(BAD_ARGUMENTS, "A query parameter name is not valid UTF-8")
        parameters[name] = _NOT_UTF8.sub(lambda byte: f"\\x{ord(byte[0]) - 0xDC00:02X}", value)
    return parameters


def _body_is_insert_data(params: Mapping[str, str]) -> bool:
    """`?query=INSERT INTO t FORMAT Parquet` with a body: the body is rows, never a form."""
    query = params.get("query", "")
    return bool(query) and find_insert_head(query) is not None
