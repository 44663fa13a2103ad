"""Chart answers shared by the sessions of one login for a few seconds, computed once.

Thirty walls showing one screen under one display login ask Superset the same nine
questions every refresh. Superset answers each from its result cache, but only after
loading the chart, checking permissions and row-level security and building the query
again: about 50 ms of a core per chart, 13 s of CPU when all thirty reload at once on a
2-core machine. Here a chart-data request (``/api/v1/chart/data``, and
``/superset/explore_json/`` for the map) from a logged-in browser session is answered
from the answer the same login got for the same request less than ``seconds`` ago, and
when several ask at once, the first computes and the others wait for its answer.

The key is the login's user id, the URL and the body, so nobody is served an answer
computed for somebody else (row-level security by shop differs per login); a forced
refresh (``force``), an export (``csv``/``xlsx``), a request with an ``Authorization``
header and a guest token always go through. Only JSON 200 answers of at most 2 MB,
neither streamed nor encoded, are kept, and only their body and content type: no cookie
of one session reaches another. Expired answers leave at the next store.

This module runs inside Superset (``superset_config.FLASK_APP_MUTATOR`` installs it) and
imports only Flask, which Superset brings.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

CACHED_PATHS = ("/api/v1/chart/data", "/superset/explore_json/")
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
MAX_ANSWER_BYTES = 2_000_000  # a bigger answer is computed each time, not kept
WAIT_FOR_FIRST_SECONDS = 30.0  # then compute it too rather than hold a thread longer


@dataclass(frozen=True)
class CachedAnswer:
    expires: float
    content_type: str
    body: bytes


class ResponseCache:
    """Answers by key for ``seconds``, at most ``max_entries`` (oldest dropped first), and
    one lock per key so that concurrent askers of one question wait for the first."""

    def __init__(self, seconds: float, max_entries: int = 2000) -> None:
        self.seconds = seconds
        self.max_entries = max_entries
        self._answers: OrderedDict[str, CachedAnswer] = OrderedDict()
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    @staticmethod
    def key(username: str, full_path: str, body: bytes) -> str:
        digest = hashlib.sha256()
        for part in (username.encode(), full_path.encode(), body):
            digest.update(len(part).to_bytes(8, "big") + part)
        return digest.hexdigest()

    def get(self, key: str, now: float | None = None) -> CachedAnswer | None:
        now = time.monotonic() if now is None else now
        with self._guard:
            answer = self._answers.get(key)
            if answer is not None and answer.expires <= now:
                del self._answers[key]
                answer = None
            return answer

    def put(self, key: str, content_type: str, body: bytes, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._guard:
            self._answers[key] = CachedAnswer(now + self.seconds, content_type, body)
            self._answers.move_to_end(key)  # kept in order of expiry: one TTL for all
            while self._answers and (
                len(self._answers) > self.max_entries
                or next(iter(self._answers.values())).expires <= now
            ):
                self._answers.popitem(last=False)

    def lock_for(self, key: str) -> threading.Lock:
        with self._guard:
            if len(self._locks) > 4 * self.max_entries:
                self._locks = {k: v for k, v in self._locks.items() if v.locked()}
            return self._locks.setdefault(key, threading.Lock())


def is_forced(args: Any, body: bytes) -> bool:
    """A refresh the user asked for: ``force`` in the JSON body or the URL."""
    if str(args.get("force", "")).lower() == "true":
        return True
    try:
        payload = json.loads(body) if body[:1] == b"{" else None
    except ValueError:
        return False
    return isinstance(payload, dict) and bool(payload.get("force"))


def install(app: Any, seconds: float) -> ResponseCache | None:
    """Serve repeated chart-data requests of one login from ``seconds`` of memory."""
    if seconds <= 0:
        return None
    from flask import Response, g, request
    from flask_login import current_user

    cache = ResponseCache(seconds)

    @app.before_request
    def answer_from_cache() -> Response | None:
        if request.method != "POST" or not request.path.startswith(CACHED_PATHS):
            return None
        if (
            "Authorization" in request.headers
            or request.args.get("csv")
            or request.args.get("xlsx")
        ):
            return None  # API keys and exports: not a wall's chart request
        if getattr(current_user, "is_guest_user", False):
            return None  # guest tokens share one name but not their row-level security
        if request.mimetype in FORM_TYPES:  # the legacy map: its form must stay readable
            body = json.dumps(sorted(request.form.items(multi=True))).encode()
        else:
            body = request.get_data(cache=True)
        if is_forced(request.args, body) or not current_user.is_authenticated:
            return None
        url = request.path + "?" + request.query_string.decode("latin-1")
        key = cache.key(str(current_user.get_id()), url, body)
        answer = cache.get(key)
        if answer is None:
            lock = cache.lock_for(key)
            if not lock.acquire(timeout=WAIT_FOR_FIRST_SECONDS):
                return None  # the first asker is stuck: compute this one too
            try:
                answer = cache.get(key)
            except BaseException:
                lock.release()
                raise
            if answer is None:
                g.response_cache_pending = (key, lock)  # computed now, stored after
                return None
            lock.release()
        return Response(answer.body, status=200, content_type=answer.content_type)

    @app.after_request
    def keep_answer(response: Response) -> Response:
        pending = getattr(g, "response_cache_pending", None)
        if (
            pending is not None
            and response.status_code == 200
            and response.mimetype == "application/json"  # not a CSV/XLSX download
            and not response.is_streamed
            and not response.direct_passthrough
            and "Content-Encoding" not in response.headers
            and (response.content_length or 0) <= MAX_ANSWER_BYTES
        ):
            cache.put(pending[0], response.content_type or "", response.get_data())
        return response

    @app.teardown_request
    def let_others_in(_error: BaseException | None) -> None:
        pending = g.pop("response_cache_pending", None)
        if pending is not None:
            pending[1].release()

    return cache
