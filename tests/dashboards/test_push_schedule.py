"""The push service's clock: at the push's time in its zone, a run missed while down sent
once when it comes back (within the grace window, only the newest of several), never
twice (a second service or a restart), one service at a time, pictures without a listing."""

from __future__ import annotations

import urllib.error
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dashboards.pushes.schedule import (
    Ledger,
    PushScheduler,
    cron_weekdays,
    due_run,
    next_fire,
    serve_pictures,
    single_instance,
)
from dashboards.pushes.spec import PushFileError, PushSpec, load_pushes
from testkit.support import isolated_settings

pytestmark = pytest.mark.unit

SHANGHAI = ZoneInfo("Asia/Shanghai")
PUSH = PushSpec(name="morning", title="早报", screen="outbound-trend", schedule="30 8 * * *")
GRACE = timedelta(hours=2)


def at(day: int, hour: int, minute: int = 0, zone: ZoneInfo = SHANGHAI) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=zone)


def test_a_run_is_due_at_its_time_in_its_zone_and_not_before() -> None:
    assert due_run(PUSH, None, at(3, 8, 29), GRACE) is None
    assert due_run(PUSH, None, at(3, 8, 30), GRACE) == at(3, 8, 30)
    # 08:30 in Shanghai is 00:30 UTC: a clock read in UTC finds the same run.
    assert due_run(PUSH, None, at(3, 0, 31, ZoneInfo("UTC")), GRACE) == at(3, 8, 30)


def test_a_run_missed_while_down_is_sent_within_the_grace_only_the_newest() -> None:
    assert due_run(PUSH, at(1, 8, 30), at(3, 9, 45), GRACE) == at(3, 8, 30)  # 2 missed: newest
    assert due_run(PUSH, at(1, 8, 30), at(3, 10, 31), GRACE) is None  # too late: skipped
    assert due_run(PUSH, at(3, 8, 30), at(3, 9, 0), GRACE) is None  # already claimed


def test_a_zone_with_daylight_saving_fires_at_its_wall_clock_time() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    push = PUSH.model_copy(update={"timezone": "Europe/Berlin"})
    summer = datetime(2026, 3, 30, 8, 30, tzinfo=berlin)  # the day after the clocks moved
    assert due_run(push, summer - timedelta(days=1), summer, GRACE) == summer
    assert summer.utcoffset() == timedelta(hours=2)


def test_a_run_is_claimed_once_whoever_asks(tmp_path: Path) -> None:
    first, second = Ledger(tmp_path / "push.sqlite"), Ledger(tmp_path / "push.sqlite")
    assert first.claim("morning", at(3, 8, 30), at(3, 8, 30))
    assert not second.claim("morning", at(3, 8, 30), at(3, 8, 31))
    assert second.last("morning", now=at(3, 9)) == at(3, 8, 30)
    assert second.last("morning", now=at(3, 8)) is None  # a drill's future run does not count


@pytest.mark.parametrize(
    "weekdays, names",
    [
        ("1-5", "mon,tue,wed,thu,fri"),
        ("0", "sun"),
        ("7", "sun"),
        ("*", "sun,mon,tue,wed,thu,fri,sat"),
        ("*/2", "sun,tue,thu,sat"),
        ("1,3", "mon,wed"),
        ("sat", "sat"),
    ],
)
def test_cron_weekdays_count_from_sunday(weekdays: str, names: str) -> None:
    assert cron_weekdays(weekdays) == names


def test_a_weekday_push_skips_the_weekend() -> None:
    weekdays = PUSH.model_copy(update={"schedule": "30 8 * * 1-5"})
    friday = datetime(2026, 12, 4, 9, 0, tzinfo=SHANGHAI)
    assert next_fire(weekdays, friday) == datetime(2026, 12, 7, 8, 30, tzinfo=SHANGHAI)  # Monday


def test_the_scheduler_sends_each_run_once_across_a_restart(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path / "run")
    now = [at(3, 8, 29)]
    sent: list[datetime] = []

    def scheduler() -> PushScheduler:
        return PushScheduler(settings, {"morning": PUSH}, Ledger(tmp_path / "push.sqlite"),
                             lambda _push, fire: sent.append(fire) or "sent",
                             lambda: now[0])  # fmt: skip

    service = scheduler()
    assert service.tick() == [] and service.next_runs() == {"morning": at(3, 8, 30)}
    now[0] = at(3, 8, 30) + timedelta(seconds=5)
    assert [fire for _, fire, _ in service.tick()] == [at(3, 8, 30)]
    assert service.tick() == []
    restarted = scheduler()  # the service comes back the same morning
    now[0] = at(3, 9, 0)
    assert restarted.tick() == [] and sent == [at(3, 8, 30)]
    now[0] = at(4, 9, 15)  # down over the next 08:30, back within the grace window
    assert [fire for _, fire, _ in scheduler().tick()] == [at(4, 8, 30)]
    runs = Ledger(tmp_path / "push.sqlite").runs()
    assert [run.result for run in runs] == ["sent", "sent"]


def test_a_failing_send_is_recorded_and_the_service_goes_on(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path / "run")

    def broken(_push: PushSpec, _fire: datetime) -> str:
        raise RuntimeError("superset down")

    service = PushScheduler(settings, {"morning": PUSH}, Ledger(tmp_path / "push.sqlite"),
                            broken, lambda: at(3, 8, 31))  # fmt: skip
    ((_, _, result),) = service.tick()
    assert result.startswith("failed: RuntimeError: superset down")


def test_only_one_push_service_runs(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path / "run")
    with single_instance(settings):
        with pytest.raises(SystemExit, match="another push service"):
            with single_instance(settings):
                pass


def test_pictures_are_served_but_never_listed(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path / "run")
    server = serve_pictures(settings)
    try:
        folder = settings.paths.data_dir / "push" / "images"
        (folder / "morning-x.png").write_bytes(b"\x89PNG picture")
        base = f"http://127.0.0.1:{settings.push.image_port}/"
        with urllib.request.urlopen(base + "morning-x.png", timeout=5) as answer:
            assert answer.read() == b"\x89PNG picture"
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(base, timeout=5)
    finally:
        server.shutdown()
        server.server_close()


def test_the_shipped_pushes_load_and_a_wrong_one_names_its_file(tmp_path: Path) -> None:
    assert "morning_report" in load_pushes()
    (tmp_path / "bad.yaml").write_text("name: bad\ntitle: x\nscreen: s\nschedule: '30 8 * *'\n")
    with pytest.raises(PushFileError, match="(?s)bad.yaml.*five cron fields"):
        load_pushes(tmp_path)
