"""A retained checkpoint is restored only into the graph that took it: after an upgrade
that changes the job, it starts fresh instead of failing to map (or mis-mapping) state."""

from __future__ import annotations

from pathlib import Path

from flink_jobs import pipeline_job
from flink_jobs.runtime import PLAN_FILE, latest_checkpoint, plan_fingerprint, restorable
from testkit.support import isolated_settings


def plan_of(run_dir: Path, **sections: dict[str, object]) -> str:
    settings = isolated_settings(run_dir, **sections)
    definitions, inserts = pipeline_job.job_sql(settings)
    return plan_fingerprint([*definitions, *inserts], settings.flink.state_backend)


def test_the_plan_is_stable_and_ignores_addresses_and_credentials(tmp_path: Path) -> None:
    first = plan_of(tmp_path / "a")
    assert plan_of(tmp_path / "a") == first
    # other ports everywhere, another ClickHouse password: the same operators and state
    assert plan_of(tmp_path / "b", clickhouse={"password": "another-secret"}) == first


def test_the_plan_changes_with_the_topics_and_the_state_backend(tmp_path: Path) -> None:
    """Source offsets belong to their topics; a RocksDB checkpoint is no hashmap one."""
    first = plan_of(tmp_path / "a")
    assert plan_of(tmp_path / "b", kafka={"topic_prefix": "other"}) != first
    assert plan_of(tmp_path / "c", flink={"state_backend": "hashmap"}) != first


def test_the_plan_changes_with_the_graph(tmp_path: Path) -> None:
    definitions, inserts = pipeline_job.job_sql(isolated_settings(tmp_path / "run"))
    before = plan_fingerprint([*definitions, *inserts], "rocksdb")
    changed = [sql.replace("LEFT JOIN sku_latest", "JOIN sku_latest") for sql in definitions]
    assert changed != definitions
    assert plan_fingerprint([*changed, *inserts], "rocksdb") != before


def test_a_checkpoint_is_restored_only_into_the_graph_that_took_it(tmp_path: Path) -> None:
    checkpoint = tmp_path / "job-1" / "chk-7"
    checkpoint.mkdir(parents=True)
    assert restorable(tmp_path, checkpoint, "plan-a") is None  # taken before plans were kept
    (tmp_path / PLAN_FILE).write_text("plan-a\n")
    assert restorable(tmp_path, checkpoint, "plan-a") == checkpoint
    assert restorable(tmp_path, checkpoint, "plan-b") is None
    assert restorable(tmp_path, None, "plan-a") is None


def test_a_half_deleted_older_checkpoint_is_not_taken_for_the_newest(tmp_path: Path) -> None:
    """A kill during Flink's deletion of a subsumed checkpoint touches its folder last."""
    import os

    older, newer = tmp_path / "job-1" / "chk-5", tmp_path / "job-1" / "chk-7"
    for at, checkpoint in ((1000, older), (2000, newer)):
        checkpoint.mkdir(parents=True)
        (checkpoint / "_metadata").write_text("m")
        os.utime(checkpoint / "_metadata", (at, at))
    os.utime(older, (3000, 3000))  # its files being deleted
    assert latest_checkpoint(tmp_path) == newer
