"""Silences: ``erpbi alerts silence RULE [--match column=value ...] --for 2h``.

A silence names a rule (or ``*`` for every rule), optional equality matchers on the
rule's row columns (``sku_id=I00251-BL-M``, ``owner=alice``) and when it ends. An item
it covers is still evaluated but not sent; when it ends, an item still firing is sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

ALL_RULES = "*"


@dataclass(frozen=True)
class Silence:
    id: str
    rule: str
    ends_at: datetime
    matchers: Mapping[str, str] = field(default_factory=dict)
    created_by: str = ""
    comment: str = ""

    def covers_rule(self, rule: str) -> bool:
        return self.rule in (rule, ALL_RULES)

    def active(self, now: datetime) -> bool:
        return now < self.ends_at

    def matches(self, row: Mapping[str, Any]) -> bool:
        return all(str(row.get(column)) == value for column, value in self.matchers.items())


def silenced(silences: Iterable[Silence], row: Mapping[str, Any], now: datetime) -> bool:
    """Whether an active silence among ``silences`` (already those of the rule) covers it."""
    return any(s.active(now) and s.matches(row) for s in silences)


def parse_matchers(pairs: Iterable[str]) -> dict[str, str]:
    """``column=value`` arguments of ``--match``; a clear error for anything else."""
    matchers = {}
    for pair in pairs:
        column, sep, value = pair.partition("=")
        if not sep or not column.strip():
            raise ValueError(f"--match takes column=value, not {pair!r}")
        matchers[column.strip()] = value.strip()
    return matchers
