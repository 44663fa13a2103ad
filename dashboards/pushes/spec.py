"""Pushes as code: one YAML file per push under ``dashboards/assets/pushes/``.

A push names its schedule (cron fields, in its time zone), the screen photographed and the
Superset login it is photographed as (so row-level security applies to the picture as to
the numbers), the channels, who is @-mentioned and which analyses write its insights.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dashboards.named_specs import SpecFileError, load_named
from dashboards.notifiers.message import Vendor
from warehouse.analysis.analyses import ANALYSES

PUSHES_DIR = Path(__file__).resolve().parent.parent / "assets" / "pushes"
ADMIN = "admin"  # as_user meaning the settings' Superset admin


class PushSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    schedule: str = "30 8 * * *"
    timezone: str = "Asia/Shanghai"
    screen: str
    as_user: str = ADMIN
    channels: tuple[Vendor, ...] = (Vendor.dingtalk,)
    mentions: tuple[str, ...] = ()
    analyses: tuple[str, ...] = tuple(ANALYSES)

    @field_validator("schedule")
    @classmethod
    def _five_cron_fields(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError("schedule is five cron fields: minute hour day month weekday")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {value!r}") from error
        return value

    @field_validator("analyses")
    @classmethod
    def _known_analyses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [name for name in value if name not in ANALYSES]
        if unknown:
            raise ValueError(f"unknown analyses {unknown}; known: {', '.join(ANALYSES)}")
        return value


PushFileError = SpecFileError  # a push file that does not describe a push; names the file


def load_pushes(folder: Path = PUSHES_DIR) -> dict[str, PushSpec]:
    return load_named(folder, PushSpec, "push")
