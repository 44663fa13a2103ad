"""Alert rules as code: one YAML file per rule under ``dashboards/assets/alerts/``.

A rule is a query on the serving layer that returns one row per item (a SKU x warehouse,
a SKU, a backlog), the column holding the item's value, a threshold it must not cross,
how long it must stay crossed before it fires (``for``, as Prometheus), how often a
still-firing group is repeated, the column naming who is told (routing: the shop or
category owner, @-mentioned), and the zh-CN line each item gets in the message.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dashboards.named_specs import SpecFileError, load_named

RULES_DIR = Path(__file__).resolve().parent.parent / "assets" / "alerts"
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
    "==": operator.eq, "!=": operator.ne,
}  # fmt: skip


class Severity(StrEnum):
    critical = "critical"  # red card header
    warning = "warning"  # orange
    info = "info"  # blue


def parse_duration(text: str | int | float) -> timedelta:
    """``90s``, ``15m``, ``4h``, ``1h30m`` or a number of seconds."""
    if isinstance(text, int | float):
        return timedelta(seconds=text)
    match = _DURATION.match(text.strip())
    if not text.strip() or match is None:
        raise ValueError(f"not a duration: {text!r} (write e.g. 90s, 15m, 4h, 1h30m)")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


class AlertRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str  # zh-CN, the card's header
    severity: Severity = Severity.warning
    description: str = ""
    query: str
    item: tuple[str, ...]  # the columns that name one item
    value: str = "value"  # the column compared with the threshold
    op: str = Field(default=">", alias="operator")
    threshold: float
    for_: timedelta = Field(default=timedelta(0), alias="for")
    repeat_interval: timedelta = timedelta(hours=4)
    route_by: str | None = None  # a column holding the owner to @-mention
    channels: tuple[str, ...] = ("feishu",)
    template: str  # one item's line, str.format over the row's columns
    screen: str | None = None  # the slug of the screen the card's button opens

    @field_validator("op")
    @classmethod
    def _known_operator(cls, value: str) -> str:
        if value not in COMPARISONS:
            raise ValueError(f"operator must be one of {' '.join(COMPARISONS)}")
        return value

    @field_validator("for_", "repeat_interval", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        return value if isinstance(value, timedelta) else parse_duration(value)

    def breached(self, row: dict[str, Any]) -> bool:
        value = row.get(self.value)
        return value is not None and COMPARISONS[self.op](value, self.threshold)

    def item_key(self, row: dict[str, Any]) -> str:
        return "|".join(str(row[column]) for column in self.item)

    def line(self, row: dict[str, Any]) -> str:
        return self.template.format(**row)


RuleFileError = SpecFileError  # a rule file that does not describe a rule; names the file


def load_rules(folder: Path = RULES_DIR) -> dict[str, AlertRule]:
    return load_named(folder, AlertRule, "rule")
