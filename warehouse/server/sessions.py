"""Per-client HTTP sessions (`session_id`): the state ClickHouse keeps between requests.

The engine's connections are pooled and lent to any client's request, so a client's `SET`
and `USE` cannot live in one of them. They live here instead, per session id, and the
engine applies them to whichever connection serves a request of that session (and undoes
them before another request uses that connection). Like ClickHouse, a
session serves one request at a time (a second concurrent one gets SESSION_IS_LOCKED),
and expires after `session_timeout` seconds of inactivity.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from warehouse.server.errors import (
    INVALID_SESSION_TIMEOUT,
    SESSION_IS_LOCKED,
    SESSION_NOT_FOUND,
    ClickHouseError,
)

DEFAULT_SESSION_TIMEOUT_SECONDS = 60.0
MAX_SESSION_TIMEOUT_SECONDS = 3600.0


@dataclass
class SessionState:
    """What a session remembers: settings from SET and the database from USE."""

    session_id: str
    user: str
    timeout_seconds: float
    settings: dict[str, str] = field(default_factory=dict)
    database: str | None = None
    last_used: float = field(default_factory=time.monotonic)
    busy: bool = False
    requests: int = 0  # served so far, this one included (1: the session was just opened)


class SessionRegistry:
    """Thread-safe map of session id -> state, with expiry and one-request-at-a-time use."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        on_end: Callable[[SessionState], None] | None = None,
    ) -> None:
        self._clock = clock
        self._on_end = on_end  # told of each session closed or expired (the session log)
        self._lock = threading.Lock()
        self._sessions: dict[str, SessionState] = {}

    @contextmanager
    def checkout(
        self, session_id: str, user: str, timeout_text: str | None, must_exist: bool
    ) -> Iterator[SessionState]:
        """Hold a session for the duration of one request, creating it if needed."""
        timeout_seconds = _parse_timeout(timeout_text)
        with self._lock:
            self._expire_locked()
            state = self._sessions.get(session_id)
            if state is not None and state.user != user:
                state = (
                    None  # ClickHouse keys sessions by (user, id): another user's id is not found
                )
            if state is None:
                if must_exist:
                    raise ClickHouseError.of(SESSION_NOT_FOUND, f"Session {session_id} not found")
                state = SessionState(session_id, user, timeout_seconds)
                self._sessions[session_id] = state
            if state.busy:
                raise ClickHouseError.of(
                    SESSION_IS_LOCKED, f"Session {session_id} is locked by a concurrent client"
                )
            state.busy = True
            state.requests += 1
            state.timeout_seconds = timeout_seconds
        try:
            yield state
        finally:
            with self._lock:
                state.busy = False
                state.last_used = self._clock()

    def close(self, session_id: str) -> None:
        """Forget a session (`close_session=1`)."""
        with self._lock:
            state = self._sessions.pop(session_id, None)
            if state is not None and self._on_end is not None:
                self._on_end(state)

    def __len__(self) -> int:
        with self._lock:
            self._expire_locked()
            return len(self._sessions)

    def _expire_locked(self) -> None:
        now = self._clock()
        expired = [
            key
            for key, state in self._sessions.items()
            if not state.busy and now - state.last_used > state.timeout_seconds
        ]
        for key in expired:
            state = self._sessions.pop(key)
            if self._on_end is not None:
                self._on_end(state)


def _parse_timeout(text: str | None) -> float:
    if text is None or text == "":
        return DEFAULT_SESSION_TIMEOUT_SECONDS
    try:
        value = float(text)
    except ValueError:
        raise ClickHouseError.of(
            INVALID_SESSION_TIMEOUT, f"Invalid session timeout: '{text}'"
        ) from None
    if value < 0 or value > MAX_SESSION_TIMEOUT_SECONDS:
        raise ClickHouseError.of(
            INVALID_SESSION_TIMEOUT,
            f"Session timeout '{text}' is larger than max_session_timeout: "
            f"{MAX_SESSION_TIMEOUT_SECONDS:g}",
        )
    return value
