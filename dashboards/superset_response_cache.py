"""Chart answers shared by the sessions of one login for a few seconds, computed once.

Thirty walls showing one screen under one display login ask Superset the same nine
questions every refresh. Superset answers each from its result cache, but only after
loading the login from its metadata database, checking permissions and row-level security
and building the query again: about 50 ms of a core per chart, 13 s of CPU when all thirty
reload at once on a 2-core machine. Here, in front of Superset's Flask app (a WSGI
middleware), a chart-data request (``/api/v1/chart/data``, and ``/superset/explore_json/``
for the map) from a logged-in browser session is answered from the answer the same login
got for the same request less than ``seconds`` ago, in any of Superset's worker processes
(the answers are files in a folder they share), and when several ask at once, in one
process or several, the first computes and the others wait for its answer. A repeat costs
reading the signed session cookie and one small file.

The key is the login's user id (from the session cookie Flask signed), the client's address,
browser and accepted encodings, the URL and the request body (a form's fields, not its
random boundary). An answer is kept only when Superset itself served it to that same user
id, and only for the logins ``shares_answers`` allows: shop owners' row-level security
follows the shop sheet from one query to the next, so their requests always go through.
A forced refresh (``force``), an export (``csv``/``xlsx`` or a non-JSON ``result_format``),
a request with an ``Authorization`` or guest-token header always go through. Only JSON
200 answers of at most 2 MB (as sent: compressed when Superset compressed them) are kept,
without their cookies: no session's cookie reaches another.

This module runs inside Superset (``superset_config.FLASK_APP_MUTATOR`` installs it) and
imports only Flask and Werkzeug, which Superset brings.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

CACHED_PATHS = ("/api/v1/chart/data", "/superset/explore_json/")
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
MAX_REQUEST_BYTES = 1_000_000  # a bigger request body goes through untouched
MAX_ANSWER_BYTES = 2_000_000  # a bigger answer is computed each time, not kept
WAIT_FOR_FIRST_SECONDS = 30.0  # then compute it too rather than hold a thread longer
ERROR_SECONDS = 1.0  # an error is shared only with those who asked at the same moment
BYPASS_HEADERS = ("HTTP_AUTHORIZATION", "HTTP_X_GUESTTOKEN")
COOKIE_HEADERS = ("set-cookie",)
COOKIE_USER = "erpbi.response_cache.user"  # environ: the user id the cookie names
SHAREABLE = "erpbi.response_cache.shareable"  # environ: Superset served that user

log = logging.getLogger(__name__)
StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass(frozen=True)
class CachedAnswer:
    expires: float
    status: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


class ResponseCache:
    """Answers by key for ``seconds``, shared by Superset's worker processes through files
    in ``folder`` (one per answer, replaced atomically), at most ``max_entries`` (the
    oldest dropped first).

    :meth:`first_asker` makes concurrent askers of one question wait for the first: the
    threads of one process on a lock in memory, the processes on an ``flock`` of the
    question's lock file (released by the kernel if a worker dies while computing).
    """

    def __init__(self, seconds: float, folder: Path, max_entries: int = 2000) -> None:
        self.seconds = seconds
        self.folder = folder
        self.max_entries = max_entries
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._puts = 0

    @staticmethod
    def key(*parts: str | bytes) -> str:
        digest = hashlib.sha256()
        for part in parts:
            raw = part.encode() if isinstance(part, str) else part
            digest.update(len(raw).to_bytes(8, "big") + raw)
        return digest.hexdigest()

    def _path(self, key: str, suffix: str = ".answer") -> Path:
        return self.folder / f"{key}{suffix}"

    def get(self, key: str, now: float | None = None) -> CachedAnswer | None:
        now = time.time() if now is None else now
        try:
            with self._path(key).open("rb") as handle:
                header = json.loads(handle.readline())
                body = handle.read()
        except (OSError, ValueError):
            return None
        if header["expires"] <= now:
            return None
        headers = tuple((str(k), str(v)) for k, v in header["headers"])
        return CachedAnswer(header["expires"], header["status"], headers, body)

    def put(
        self,
        key: str,
        status: str,
        headers: Iterable[tuple[str, str]],
        body: bytes,
        now: float | None = None,
        seconds: float | None = None,
    ) -> None:
        now = time.time() if now is None else now
        kept = [(k, v) for k, v in headers if k.lower() not in COOKIE_HEADERS]
        seconds = self.seconds if seconds is None else min(seconds, self.seconds)
        header = json.dumps({"expires": now + seconds, "status": status, "headers": kept})
        temporary = self._path(key, f".{os.getpid()}.{threading.get_ident()}.tmp")
        with temporary.open("wb") as handle:
            handle.write(header.encode() + b"\n" + body)
        os.replace(temporary, self._path(key))
        with self._guard:
            self._puts += 1
            sweep = self._puts % 50 == 0
        if sweep:
            self.sweep(now)

    def sweep(self, now: float | None = None) -> None:
        """Drop expired answers (by file age) and the oldest beyond ``max_entries``."""
        now = time.time() if now is None else now
        aged: list[tuple[float, Path]] = []
        for path in self.folder.glob("*.answer"):
            try:
                aged.append((path.stat().st_mtime, path))
            except OSError:
                continue
        aged.sort()
        extra = len(aged) - self.max_entries
        for number, (modified, path) in enumerate(aged):
            if number < extra or modified + self.seconds <= now:
                path.unlink(missing_ok=True)
        for path in self.folder.glob("*.lock"):
            try:
                if path.stat().st_mtime < now - 3600:  # a question nobody asked for an hour
                    path.unlink(missing_ok=True)
            except OSError:
                continue

    @contextmanager
    def first_asker(self, key: str, wait: float = WAIT_FOR_FIRST_SECONDS) -> Iterator[bool]:
        """Held by one asker of ``key`` at a time in all processes; yields False when the
        first asker took longer than ``wait`` (then compute without waiting longer)."""
        deadline = time.monotonic() + wait
        with self._guard:
            if len(self._locks) > 4 * self.max_entries:
                self._locks = {k: v for k, v in self._locks.items() if v.locked()}
            lock = self._locks.setdefault(key, threading.Lock())
        if not lock.acquire(timeout=wait):
            yield False
            return
        try:
            with self._path(key, ".lock").open("a") as handle:
                pause = 0.002
                while True:
                    try:
                        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() > deadline:
                            yield False
                            return
                        time.sleep(pause)  # another worker computes this answer
                        pause = min(pause * 2, 0.05)
                try:
                    yield True
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
        finally:
            lock.release()


def is_forced(args: Mapping[str, Any], body: bytes) -> bool:
    """A refresh the user asked for: ``force`` in the JSON body or the URL."""
    if str(args.get("force", "")).lower() == "true":
        return True
    payload = json_object(body)
    return payload is not None and bool(payload.get("force"))


def json_object(body: bytes) -> dict[str, Any] | None:
    try:
        payload = json.loads(body) if body[:1] == b"{" else None
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def is_export(args: Mapping[str, Any], body: bytes) -> bool:
    """A download rather than a chart's data: CSV/XLSX in the URL or the JSON body."""
    if args.get("csv") or args.get("xlsx"):
        return True
    payload = json_object(body)
    return payload is not None and str(payload.get("result_format") or "json") != "json"


def request_identity(environ: Mapping[str, Any], body: bytes) -> bytes | None:
    """The request as the key sees it: the JSON body as sent; a form's fields sorted (a
    browser's multipart boundary differs per request); None for anything else."""
    content_type = str(environ.get("CONTENT_TYPE", "")).split(";")[0].strip().lower()
    if content_type not in FORM_TYPES:
        return body if json_object(body) is not None or not body else None
    from werkzeug.formparser import parse_form_data  # type: ignore[import-not-found]

    copy = dict(environ, **{"wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))})
    _stream, form, files = parse_form_data(copy)
    if files:
        return None
    return json.dumps(sorted(form.items(multi=True))).encode()


def form_asks_more(identity: bytes) -> bool:
    """A legacy form whose ``form_data`` forces a refresh or asks for a download."""
    fields = dict(json.loads(identity))
    form_data = str(fields.get("form_data", "")).encode()
    return is_forced({}, form_data) or is_export({}, form_data)


def read_body(environ: dict[str, Any]) -> bytes | None:
    """The request body, put back for the app to read; None when it is too big or unsized."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if length > MAX_REQUEST_BYTES or (length == 0 and environ.get("HTTP_TRANSFER_ENCODING")):
        return None
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


class SharedChartAnswers:
    """WSGI middleware: repeated chart-data requests of one login from ``cache``.

    ``user_of`` reads the user id out of a request's session cookie (None: not logged in).
    The wrapped app marks ``environ[SHAREABLE]`` when it served that user (see
    :func:`install`); only then is its answer kept. ``count`` hears what became of each
    chart-data request: ``hit`` (answered from the cache, maybe after waiting for the first
    asker), ``miss`` (computed) or ``bypass`` (never from the cache: forced, an export, a
    token, not logged in, a login whose answers are not shared).
    """

    def __init__(self, app: WsgiApp, cache: ResponseCache,
                 user_of: Callable[[Mapping[str, Any]], str | None],
                 count: Callable[[str], None] = lambda _result: None) -> None:  # fmt: skip
        self.app = app
        self.cache = cache
        self.user_of = user_of
        self.count = count
        self.unshared_users: set[str] = set()  # Superset would not share their answers

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        key = self.key_of(environ)
        if key is None:
            if str(environ.get("PATH_INFO", "")).startswith(CACHED_PATHS):
                self.count("bypass")
            return self.app(environ, start_response)
        answer, result = self.cache.get(key), "hit"
        if answer is None:
            with self.cache.first_asker(key) as first:
                answer = self.cache.get(key)
                if answer is None and first:
                    answer, result = self.compute(key, environ), "miss"
            if answer is None:  # the first asker is stuck: compute this one too
                self.count("miss")
                return self.app(environ, start_response)
        self.count(result)
        start_response(answer.status, list(answer.headers))
        return [answer.body]

    def key_of(self, environ: dict[str, Any]) -> str | None:
        if environ.get("REQUEST_METHOD") != "POST":
            return None
        if not str(environ.get("PATH_INFO", "")).startswith(CACHED_PATHS):
            return None
        if any(environ.get(header) for header in BYPASS_HEADERS):
            return None
        user = self.user_of(environ)
        if user is None or user in self.unshared_users:
            return None
        body = read_body(environ)
        if body is None:
            return None
        query = str(environ.get("QUERY_STRING", ""))
        args = {name: values[-1] for name, values in parse_qs(query).items()}
        if is_forced(args, body) or is_export(args, body):
            return None
        identity = request_identity(environ, body)
        if identity is None or identity is not body and form_asks_more(identity):
            return None
        environ[COOKIE_USER] = user
        # The answer as the app gave it for this client: its address and browser (what
        # Flask-Login's session protection checks) and the encodings it accepts (Superset
        # compresses: a gzip body goes only to those who asked for gzip).
        client = "|".join(str(environ.get(h, "")) for h in
                          ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR", "HTTP_USER_AGENT",
                           "HTTP_ACCEPT_ENCODING"))  # fmt: skip
        return self.cache.key(user, client, environ["PATH_INFO"] + "?" + query, identity)

    def compute(self, key: str, environ: dict[str, Any]) -> CachedAnswer:
        """Superset answers; the answer is kept when Superset served this very user."""
        sent: dict[str, Any] = {}
        chunks: list[bytes] = []

        def record(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            sent.update(status=status, headers=headers)
            return chunks.append

        produced = self.app(environ, record)
        try:
            chunks.extend(produced)
        finally:
            close = getattr(produced, "close", None)
            if close is not None:
                close()
        body = b"".join(chunks)
        status, headers = sent["status"], sent["headers"]
        content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
        if not environ.get(SHAREABLE):
            if len(self.unshared_users) > 10_000:
                self.unshared_users.clear()
            self.unshared_users.add(environ[COOKIE_USER])
            log.info("chart answers of user %s are not shared (%s %s answered %s)",
                     environ[COOKIE_USER], environ.get("REQUEST_METHOD"),
                     environ.get("PATH_INFO"), status)  # fmt: skip
        elif (
            content_type.split(";")[0].strip() == "application/json"
            and len(body) <= MAX_ANSWER_BYTES
        ):
            seconds = None if status.startswith("200") else ERROR_SECONDS
            self.cache.put(key, status, headers, body, seconds=seconds)
        return CachedAnswer(0.0, status, tuple(headers), body)


def session_user_reader(app: Any) -> Callable[[Mapping[str, Any]], str | None] | None:
    """Reads Flask-Login's user id out of Flask's signed session cookie, as Flask would
    open it (same key, salt and age limit); None when sessions are not signed cookies."""
    from werkzeug.http import parse_cookie  # type: ignore[import-not-found]

    interface = app.session_interface
    if not hasattr(interface, "get_signing_serializer"):
        return None
    serializer = interface.get_signing_serializer(app)
    if serializer is None:
        return None
    cookie_name = interface.get_cookie_name(app)
    max_age = int(app.permanent_session_lifetime.total_seconds())

    def user_of(environ: Mapping[str, Any]) -> str | None:
        value = parse_cookie(str(environ.get("HTTP_COOKIE", ""))).get(cookie_name)
        if not value:
            return None
        try:
            session = serializer.loads(value, max_age=max_age)
        except Exception:  # noqa: BLE001  # a bad or old cookie: let Flask deal with it
            return None
        user = session.get("_user_id") if isinstance(session, dict) else None
        return None if user is None else str(user)

    return user_of


def install(app: Any, seconds: float, folder: Path,
            shares_answers: Callable[[str], bool] = lambda _username: True,
            count: Callable[[str], None] = lambda _result: None,
            ) -> ResponseCache | None:  # fmt: skip
    """Serve repeated chart-data requests of one login from the answers of the last
    ``seconds`` kept in ``folder`` (shared by the worker processes), for the logins whose
    user name ``shares_answers`` accepts; ``count`` hears hit/miss/bypass of each
    chart-data request (see :class:`SharedChartAnswers`)."""
    user_of = session_user_reader(app)
    if seconds <= 0 or user_of is None:
        return None
    from flask import request  # type: ignore[import-not-found]
    from flask_login import current_user  # type: ignore[import-not-found]

    cache = ResponseCache(seconds, folder)

    @app.after_request
    def mark_shareable(response: Any) -> Any:
        environ = request.environ
        if COOKIE_USER in environ:
            environ[SHAREABLE] = bool(
                current_user.is_authenticated
                and not getattr(current_user, "is_guest_user", False)
                and str(current_user.get_id()) == environ[COOKIE_USER]
                and shares_answers(str(getattr(current_user, "username", "")))
            )
        return response

    app.wsgi_app = SharedChartAnswers(app.wsgi_app, cache, user_of, count)
    return cache
