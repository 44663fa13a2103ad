"""HTTP mechanics: routing, keep-alive framing, and one access-log line per request.

`/metrics` answers Prometheus without a login, like ClickHouse's Prometheus endpoint
(the server listens on loopback); see metrics.py.

Built on the standard library's ThreadingHTTPServer speaking HTTP/1.1 with keep-alive, so
urllib3 pools (clickhouse-connect, SQLAlchemy) reuse connections. A response carries a
Content-Length, or, for a result streamed while the engine works, chunked transfer
encoding; every request body is read to its end, so connections stay in step.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import SplitResult, parse_qsl, urlsplit

from warehouse.server import metrics
from warehouse.server.body import MalformedRequest, RequestBody, read_body
from warehouse.server.dispatch import HttpResponse, QueryDispatcher
from warehouse.server.errors import UNKNOWN_EXCEPTION, ClickHouseError

access_log = logging.getLogger("warehouse.server.access")
_OK = b"Ok.\n"
_HEALTH_PATHS = frozenset({"/ping", "/replicas_status"})
_SECRET_PARAM = re.compile(r"(password=)[^&\s]*", re.IGNORECASE)


class HeaderMap(Mapping[str, str]):
    """Case-insensitive, read-only view of request headers (HTTP names are case-insensitive)."""

    def __init__(self, items: Any) -> None:
        self._items = {str(key).lower(): str(value) for key, value in items}

    def __getitem__(self, key: str) -> str:
        return self._items[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


class WarehouseHttpServer(ThreadingHTTPServer):
    """Thread-per-connection HTTP server bound to one QueryDispatcher."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(
        self, address: tuple[str, int], dispatcher: QueryDispatcher, keep_alive_seconds: float
    ) -> None:
        self.dispatcher = dispatcher
        self.keep_alive_seconds = keep_alive_seconds
        self.stopping = False
        super().__init__(address, ClickHouseRequestHandler)


class ClickHouseRequestHandler(BaseHTTPRequestHandler):
    """Serves `/`, `/ping` and `/replicas_status` the way ClickHouse does, and `/metrics`."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle's algorithm on, the body waits for
    # the client's delayed ACK of the headers (about 40 ms on every request).
    disable_nagle_algorithm = True
    server_version = "warehouse-chdb"
    sys_version = ""
    server: WarehouseHttpServer

    def setup(self) -> None:
        """Idle keep-alive connections are dropped after the advertised timeout."""
        super().setup()
        self.connection.settimeout(self.server.keep_alive_seconds)

    def parse_request(self) -> bool:
        """As a ClickHouse server: no HTTP/0.9 (`GET /` alone, or version HTTP/0.9)."""
        if not super().parse_request():
            return False
        if self.request_version == "HTTP/0.9":
            self.send_error(HTTPStatus.BAD_REQUEST, "Bad request syntax (HTTP/0.9 is not served)")
            return False
        return True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Every answer has a status line and headers (the base class sends an HTTP/0.9
        request's error as a bare body, which no ClickHouse client can read)."""
        if self.request_version == "HTTP/0.9":
            self.request_version = "HTTP/1.0"
        super().send_error(code, message, explain)

    def do_GET(self) -> None:  # noqa: N802 - name fixed by BaseHTTPRequestHandler
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_HEAD(self) -> None:  # noqa: N802
        self._handle("HEAD")

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        if url.path == metrics.PATH:  # a scrape is not counted as a request in progress
            self._serve(method, url)
            return
        with metrics.request_in_progress():
            self._serve(method, url)

    def _serve(self, method: str, url: SplitResult) -> None:
        started = time.perf_counter()
        # Percent-escaped bytes that are not UTF-8 stay as surrogate escapes (engine_text).
        params = dict(
            parse_qsl(url.query, keep_blank_values=True, encoding="utf-8", errors="surrogateescape")
        )
        headers = HeaderMap(self.headers.items())
        try:
            body = read_body(self.rfile, dict(headers.items()))
        except MalformedRequest as error:
            self.close_connection = True
            self._send(
                method, url.path, started, HttpResponse(400, f"Bad request: {error}\n".encode())
            )
            return
        except ClickHouseError as error:  # an undecodable body: the statement was never read
            metrics.query_ended(metrics.OTHER, time.perf_counter() - started, failed=True)
            self._send(
                method,
                url.path,
                started,
                self.server.dispatcher.failure(error, params.get("query_id", "")),
            )
            return
        try:
            response = self._route(method, url.path, params, headers, body)
        except Exception:  # a server bug must still answer like ClickHouse, not reset
            access_log.exception("unexpected error serving %s %s", method, url.path)
            # The details (a Python exception) stay in the server log, not in the answer.
            failure = ClickHouseError.of(
                UNKNOWN_EXCEPTION, "Internal server error (the server log has the details)"
            )
            response = self.server.dispatcher.failure(failure, params.get("query_id", ""))
        finally:
            body.close()
        self._send(method, url.path, started, response)

    def _route(
        self, method: str, path: str, params: dict[str, str], headers: HeaderMap, body: RequestBody
    ) -> HttpResponse:
        if path == metrics.PATH:
            return HttpResponse(200, metrics.exposition(), [("Content-Type", metrics.CONTENT_TYPE)])
        if path in _HEALTH_PATHS:
            return HttpResponse(200, _OK, [("Content-Type", "text/html; charset=UTF-8")])
        if path != "/":
            message = f"There is no handle {path}\n\nUse / or /ping for health checks.\n"
            return HttpResponse(
                404, message.encode(), [("Content-Type", "text/plain; charset=UTF-8")]
            )
        if method in ("GET", "HEAD") and "query" not in params and body.size == 0:
            return HttpResponse(200, _OK, [("Content-Type", "text/html; charset=UTF-8")])
        if self.server.stopping:
            self.close_connection = True
        return self.server.dispatcher.handle(
            "GET" if method == "HEAD" else method, params, headers, body
        )

    def _send(self, method: str, path: str, started: float, response: HttpResponse) -> None:
        if response.stream is not None:
            self._send_streamed(method, path, started, response)
            return
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self._send_connection_headers()
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(response.body)
        self._log(method, path, started, response, len(response.body))

    def _send_streamed(
        self, method: str, path: str, started: float, response: HttpResponse
    ) -> None:
        """Chunked transfer encoding, one HTTP chunk per engine chunk, flushed as it comes.

        However it ends (the last chunk, a client that hangs up, a server error), the
        response's `release` frees the engine connection; an unfinished read is cancelled.
        """
        assert response.stream is not None
        sent = 0
        complete = False
        try:
            self.send_response(response.status)
            for name, value in response.headers:
                self.send_header(name, value)
            self.send_header("Transfer-Encoding", "chunked")
            self._send_connection_headers()
            self.end_headers()
            for chunk in response.stream:
                if method != "HEAD" and chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                    sent += len(chunk)
            if method != "HEAD":
                self.wfile.write(b"0\r\n\r\n")
            complete = True
        except OSError as error:  # the client hung up: stop reading the result
            access_log.info("client closed the connection during a streamed result: %s", error)
        finally:
            if not complete:
                self.close_connection = True
            if response.release is not None:
                response.release()
        self._log(method, path, started, response, sent)

    def _send_connection_headers(self) -> None:
        if self.close_connection or self.server.stopping:
            self.close_connection = True
            self.send_header("Connection", "close")
        else:
            self.send_header("Connection", "Keep-Alive")
            self.send_header("Keep-Alive", f"timeout={int(self.server.keep_alive_seconds)}")

    def _log(
        self, method: str, path: str, started: float, response: HttpResponse, sent: int
    ) -> None:
        access_log.info(
            '%s "%s %s" query_id=%s user=%s status=%d duration_ms=%.1f bytes=%d%s',
            self.client_address[0],
            method,
            path,
            response.query_id or "-",
            response.user or "-",
            response.status,
            (time.perf_counter() - started) * 1000,
            sent,
            " query_cache=hit" if response.from_cache else "",
        )

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Silenced: _send logs instead, without the query string (it may hold a password)."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature fixed by the base class
        """Framing problems (timeouts, bad request lines) go to the debug log."""
        access_log.debug("%s %s", self.address_string(), _SECRET_PARAM.sub(r"\1***", format % args))
