"""A pass-through HTTP proxy in front of the ClickHouse server that can answer like an
overloaded one: for inserts into chosen tables it replies what a real server sends for
too many parts (HTTP 500, ``X-ClickHouse-Exception-Code: 252``), everything else it forwards
untouched. The single-machine engine ignores ``parts_to_throw_insert`` on streamed inserts,
so the 5xx a production server gives under merge pressure is played here, on the wire.
When the server itself is away, the proxy drops the connection, as an absent server would.
"""

from __future__ import annotations

import http.client
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOO_MANY_PARTS = (
    b"Code: 252. DB::Exception: Too many parts (600). Merges are processing significantly "
    b"slower than inserts. (TOO_MANY_PARTS) (version 26.9.2.1)\n"
)


class FaultProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.refused_tables: set[str] = set()
        self.refusals = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802
                proxy.handle(self, b"")

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", "0"))
                proxy.handle(self, self.rfile.read(length))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def handle(self, request: BaseHTTPRequestHandler, body: bytes) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(request.path).query).get("query", [""])[
            0
        ]
        if any(f"INSERT INTO `{table}`" in query for table in self.refused_tables):
            self.refusals += 1
            request.send_response(500)
            request.send_header("X-ClickHouse-Exception-Code", "252")
            request.send_header("Content-Type", "text/plain; charset=UTF-8")
            request.send_header("Content-Length", str(len(TOO_MANY_PARTS)))
            request.end_headers()
            request.wfile.write(TOO_MANY_PARTS)
            return
        headers = {
            k: v for k, v in request.headers.items() if k.lower() not in ("host", "connection")
        }
        upstream = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            upstream.request(request.command, request.path, body=body or None, headers=headers)
            reply = upstream.getresponse()
            content = reply.read()
        except OSError:
            request.close_connection = True  # no server: no answer either
            return
        finally:
            upstream.close()
        request.send_response(reply.status)
        for key, value in reply.getheaders():
            if key.lower() not in (
                "content-length",
                "transfer-encoding",
                "connection",
                "keep-alive",
            ):
                request.send_header(key, value)
        request.send_header("Content-Length", str(len(content)))
        request.end_headers()
        request.wfile.write(content)

    @contextmanager
    def refusing(self, table: str) -> Iterator[None]:
        self.refused_tables.add(table)
        try:
            yield
        finally:
            self.refused_tables.discard(table)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
