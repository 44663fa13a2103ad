"""The push service (`erpbi push run`, started by `erpbi up` as ``pusher``): each push at its
cron time in its own time zone, one service at a time, a run missed while it was down sent
once when it comes back (within ``push.missed_run_grace_minutes``), never twice.

The cron arithmetic is APScheduler's ``CronTrigger`` (time zones and daylight saving done
right); the rest is a ledger in SQLite: a run is claimed by inserting (push, scheduled
time) under a primary key before anything is sent, so a restart, a second service or a
crash mid-send can never send the same run twice (a crash mid-send loses that run: it is
in the ledger as started and never finished, and `erpbi push status` shows it). Several
missed runs of one push collapse into the newest. The service also serves the picture
folder on ``push.image_port`` for DingTalk to fetch (behind ``push.image_base_url``), and
each run's result as ``erpbi_push_runs_total`` on ``monitoring.pusher_port`` (metrics.py).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]

from common.settings import Settings
from dashboards.pushes.images import image_dir
from dashboards.pushes.metrics import count_run, serve_metrics, stop_metrics
from dashboards.pushes.spec import PushSpec
from dashboards.state_db import StateFile, exclusive

log = logging.getLogger(__name__)
IDLE_SECONDS = 30.0  # the longest the service sleeps between looks at the clock
LEDGER = """
CREATE TABLE IF NOT EXISTS run (
    push TEXT NOT NULL, scheduled_for TEXT NOT NULL, started_at TEXT NOT NULL,
    finished_at TEXT, result TEXT, PRIMARY KEY (push, scheduled_for));
"""


def ledger_file(settings: Settings) -> Path:
    return settings.push.state_file or settings.paths.data_dir / "push" / "push.sqlite"


def push_dir(settings: Settings) -> Path:
    return ledger_file(settings).parent


def heartbeat_file(settings: Settings) -> Path:
    return push_dir(settings) / "service.json"


DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # cron's numbering: 0 = Sunday


def cron_weekdays(field: str) -> str:
    """Cron's day-of-week field as day names: APScheduler counts numbers from Monday (0),
    cron from Sunday (0 or 7), so ``1-5`` must reach it as mon..fri."""
    if any(c.isalpha() for c in field):
        return field  # names mean the same to both
    days: set[int] = set()
    for part in field.split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text or 1)
        if span == "*":
            first, last = 0, 6
        else:
            low, _, high = span.partition("-")
            first, last = int(low), int(high or low)
            if step_text and not high:
                last = 6  # "2/3": from Tuesday on, every third day
        days.update(day % 7 for day in range(first, last + 1, step))
    return ",".join(DAY_NAMES[day] for day in sorted(days))


def trigger_for(push: PushSpec) -> CronTrigger:
    minute, hour, day, month, weekday = push.schedule.split()
    zone = ZoneInfo(push.timezone)
    return CronTrigger(minute=minute, hour=hour, day=day, month=month,
                       day_of_week=cron_weekdays(weekday), timezone=zone)  # fmt: skip


def next_fire(push: PushSpec, at_or_after: datetime) -> datetime:
    """The push's first scheduled time at or after ``at_or_after`` (aware, its zone)."""
    fire: datetime = trigger_for(push).get_next_fire_time(None, at_or_after)
    return fire


@dataclass(frozen=True)
class Run:
    push: str
    scheduled_for: datetime
    started_at: datetime
    finished_at: datetime | None
    result: str | None


class Ledger(StateFile):
    def __init__(self, path: Path) -> None:
        super().__init__(path, LEDGER)

    def claim(self, push: str, scheduled_for: datetime, now: datetime) -> bool:
        """True for the one caller that may send this run; False ever after."""
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO run (push, scheduled_for, started_at) VALUES (?, ?, ?)",
                (push, scheduled_for.isoformat(), now.isoformat()),
            )
            return cursor.rowcount == 1

    def finish(self, push: str, scheduled_for: datetime, now: datetime, result: str) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE run SET finished_at = ?, result = ? WHERE push = ? AND scheduled_for = ?",
                (now.isoformat(), result, push, scheduled_for.isoformat()),
            )

    def last(self, push: str, now: datetime) -> datetime | None:
        """The newest run claimed for a time up to ``now`` (a drill's future runs aside)."""
        with self.transaction() as db:
            rows = db.execute("SELECT scheduled_for FROM run WHERE push = ?", (push,))
            times = [datetime.fromisoformat(row[0]) for row in rows.fetchall()]
        return max((t for t in times if t <= now), default=None)

    def runs(self, limit: int = 20) -> list[Run]:
        with self.transaction() as db:
            rows = db.execute(
                "SELECT * FROM run ORDER BY started_at DESC LIMIT ?", (limit,)
            ).fetchall()
        return [
            Run(
                p,
                datetime.fromisoformat(s),
                datetime.fromisoformat(a),
                datetime.fromisoformat(f) if f else None,
                r,
            )
            for p, s, a, f, r in rows
        ]


def due_run(
    push: PushSpec, last: datetime | None, now: datetime, grace: timedelta
) -> datetime | None:
    """The scheduled time to send now, if any: the newest one at or before ``now``, after
    the last run claimed and no older than ``grace``."""
    start = now - grace
    if last is not None and last + timedelta(microseconds=1) > start:
        start = last + timedelta(microseconds=1)
    fire = next_fire(push, start)
    if fire is None or fire > now:
        return None
    while (later := next_fire(push, fire + timedelta(microseconds=1))) is not None and later <= now:
        fire = later  # several missed: only the newest is sent
    return fire


def single_instance(settings: Settings) -> AbstractContextManager[None]:
    """An exclusive lock held while the service runs: a second one refuses to start."""
    return exclusive(push_dir(settings) / "service.lock", "push service")


class PictureFolder(SimpleHTTPRequestHandler):
    """The picture folder, files only: no listing (the names are the only secret)."""

    def list_directory(self, path: str | os.PathLike[str]) -> Any:
        self.send_error(404)
        return None

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("picture server: " + format, *args)


def serve_pictures(settings: Settings) -> ThreadingHTTPServer:
    folder = image_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    handler = partial(PictureFolder, directory=str(folder))
    server = ThreadingHTTPServer((settings.push.image_bind, settings.push.image_port), handler)
    threading.Thread(target=server.serve_forever, name="push-pictures", daemon=True).start()
    return server


@dataclass
class PushScheduler:
    settings: Settings
    pushes: dict[str, PushSpec]
    ledger: Ledger
    send: Callable[[PushSpec, datetime], str]  # a push for its scheduled time -> result
    clock: Callable[[], datetime]  # aware

    def tick(self) -> list[tuple[str, datetime, str]]:
        """Send what is due now; returns (push, scheduled time, result) of each send."""
        grace = timedelta(minutes=self.settings.push.missed_run_grace_minutes)
        sent = []
        for push in self.pushes.values():
            now = self.clock().astimezone(ZoneInfo(push.timezone))
            fire = due_run(push, self.ledger.last(push.name, now), now, grace)
            if fire is None or not self.ledger.claim(push.name, fire, now):
                continue
            late = (now - fire).total_seconds()
            log.info(
                "push %s for %s%s",
                push.name,
                fire.isoformat(timespec="minutes"),
                f" ({late / 60:.0f} min late: missed while down)" if late > 60 else "",
            )
            try:
                result = self.send(push, fire)
            except Exception as error:  # noqa: BLE001 - recorded, the service goes on
                log.exception("push %s failed", push.name)
                result = f"failed: {type(error).__name__}: {error}"
            self.ledger.finish(push.name, fire, self.clock(), result)
            count_run(push.name, result)
            sent.append((push.name, fire, result))
        return sent

    def next_runs(self) -> dict[str, datetime]:
        now = self.clock()
        return {
            name: next_fire(
                push, now.astimezone(ZoneInfo(push.timezone)) + timedelta(microseconds=1)
            )
            for name, push in self.pushes.items()
        }

    def beat(self) -> None:
        beat = {
            "pid": os.getpid(),
            "at": self.clock().isoformat(timespec="seconds"),
            "next_runs": {n: t.isoformat(timespec="minutes") for n, t in self.next_runs().items()},
        }
        path = heartbeat_file(self.settings)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(beat, ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)

    def run(self, stop: threading.Event) -> None:
        """Until ``stop``: send what is due, beat, sleep; ``/metrics`` served meanwhile."""
        metrics = serve_metrics(self.settings, [push.name for push in self.pushes.values()])
        try:
            while not stop.is_set():
                self.tick()
                self.beat()
                upcoming = min(self.next_runs().values(), default=None)
                wait = IDLE_SECONDS
                if upcoming is not None:
                    wait = max(0.5, min(wait, (upcoming - self.clock()).total_seconds()))
                stop.wait(wait)
        finally:
            stop_metrics(metrics)
