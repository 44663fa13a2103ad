"""Polling helper for the Flink tests (readiness by observation, never a fixed sleep)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll(probe: Callable[[], T], timeout: float = 90.0) -> T:
    """The first truthy answer of ``probe`` within ``timeout`` seconds, else the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer or time.monotonic() > deadline:
            return answer
        time.sleep(0.5)
