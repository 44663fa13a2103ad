"""Per-key audit of what was sent (the ERP's final state, or the drill's own feed) against
what the warehouse holds: lost, duplicated, wrong."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


@dataclass
class StreamAudit:
    stream: str
    erp_keys: int = 0  # keys the source holds
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicated or self.wrong)


def compare(stream: str, expected: dict[str, Any], actual: dict[str, Any]) -> StreamAudit:
    """``expected`` and ``actual`` map each key to the values that must agree.

    lost: expected, not held; duplicated: held, not expected; wrong: held with other values.
    """
    return StreamAudit(
        stream=stream,
        erp_keys=len(expected),
        lost=sorted(set(expected) - set(actual)),
        duplicated=sorted(set(actual) - set(expected)),
        wrong=sorted(k for k in set(expected) & set(actual) if expected[k] != actual[k]),
    )


def figure(value: Any) -> str:
    """An amount as a comparable text: 179.70, 179.7 and Decimal('179.7000') agree."""
    return str(Decimal(str(value)).normalize()) if value is not None else ""
