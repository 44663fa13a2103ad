"""Request parameter rules shared by every simulated API, and the paging envelope.

Each violation raises :class:`ParameterError`, which the gateway answers as code 130,
so the connectors meet the same refusals the ERP gives (page size above the maximum,
half a time window, a window over 7 days, too many ids, an unknown status).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from itertools import islice
from typing import Any, TypeVar

from connectors.models import BEIJING, parse_erp_time

MAX_WINDOW = timedelta(days=7)
T = TypeVar("T")


class ParameterError(ValueError):
    """A request parameter breaks the API's rules (code 130)."""


def beijing_now() -> datetime:
    return datetime.now(BEIJING).replace(microsecond=0)


def int_param(params: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name, default)
    if raw in (None, ""):
        raw = default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be an integer") from None
    if not low <= value <= high:
        raise ParameterError(f"{name} must be between {low} and {high}, got {value}")
    return value


def cursor_param(params: dict[str, Any], name: str) -> int | None:
    """A ts cursor; absent or empty means "from the beginning"."""
    if params.get(name) in (None, ""):
        return None
    return int_param(params, name, 0, 0, 2**63)


def id_list(params: dict[str, Any], name: str, limit: int) -> list[str] | None:
    raw = params.get(name)
    if raw in (None, "", []):
        return None
    if isinstance(raw, (int, float)):
        raw = [raw]
    items = [str(item).strip() for item in (raw.split(",") if isinstance(raw, str) else raw)]
    items = [item for item in items if item]
    if len(items) > limit:
        raise ParameterError(f"{name} takes at most {limit} ids, got {len(items)}")
    return items


def choice_list(params: dict[str, Any], name: str, allowed: Iterable[str]) -> set[str] | None:
    """A filter on one or more enumerated values (string, comma list or JSON list)."""
    values = id_list(params, name, 100)
    if values is None:
        return None
    allowed_set = set(allowed)
    unknown = [value for value in values if value not in allowed_set]
    if unknown:
        raise ParameterError(f"{name} must be one of {sorted(allowed_set)}, got {unknown}")
    return set(values)


def window(params: dict[str, Any], field: str = "modified") -> tuple[str, str] | None:
    """``{field}_begin/_end``: both or neither, at most 7 days apart, as comparable text."""
    begin, end = params.get(f"{field}_begin"), params.get(f"{field}_end")
    if not begin and not end:
        return None
    if not begin or not end:
        raise ParameterError(f"{field}_begin and {field}_end must be given together")
    try:
        first, last = parse_erp_time(str(begin)), parse_erp_time(str(end))
    except ValueError:
        raise ParameterError("times must be yyyy-MM-dd HH:mm:ss") from None
    if first > last:
        raise ParameterError(f"{field}_begin is after {field}_end")
    if last - first > MAX_WINDOW:
        raise ParameterError(f"{field}_begin and {field}_end are more than 7 days apart")
    return str(begin), str(end)  # the fixed format sorts like the time it names


def truthy(value: Any, default: bool = True) -> bool:
    if value is None or value == "":
        return default
    return str(value).lower() not in ("false", "0")


def collect_page(
    matches: Iterator[T],
    page_index: int,
    page_size: int,
    with_total: bool,
    overlap: int = 0,
    known_total: int | None = None,
) -> tuple[list[T], bool, int | None]:
    """One page of an ordered match stream: (rows, has_next, total or None).

    Without a total (or with ``known_total`` counted by the index), reading stops one
    row past the page: the cursor path never walks the rest of the stream. ``overlap``
    starts the page that many rows early (the duplicate-rows fault).
    """
    start = max(0, (page_index - 1) * page_size - overlap)
    size = page_size + min(overlap, (page_index - 1) * page_size)
    window_rows = list(islice(matches, start, start + size + 1))
    has_next = len(window_rows) > size
    if not with_total:
        return window_rows[:size], has_next, None
    if known_total is None:
        known_total = start + len(window_rows) + sum(1 for _ in matches)
    return window_rows[:size], has_next, known_total


def page_data(
    rows: list[dict[str, Any]],
    list_key: str,
    page_index: int,
    page_size: int,
    has_next: bool,
    total: int | None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "page_index": page_index,
        "page_size": page_size,
        "has_next": has_next,
        list_key: rows,
    }
    if total is not None:
        data["data_count"] = total
        data["page_count"] = (total + page_size - 1) // page_size
    return data


def in_window(value: str | None, bounds: tuple[str, str] | None) -> bool:
    return bounds is None or (value is not None and bounds[0] <= value <= bounds[1])
