from __future__ import annotations

import os
from pathlib import Path

import pytest

from connectors.models import InventoryRow, SkuRow, validate_rows
from connectors.state import CursorStore, atomic_write_json, read_json

pytestmark = pytest.mark.unit


def test_valid_rows_keep_unknown_fields_and_negative_stock() -> None:
    raw = {
        "sku_id": "A-1",
        "ts": "18446744073709551615",
        "qty": "-3",
        "modified": "2026-11-22 10:00:00",
        "new_api_field": "x",
    }
    valid, dead = validate_rows(InventoryRow, [raw], stream="inventory", source="jushuitan")
    assert dead == []
    dumped = valid[0].model_dump(mode="json")
    assert dumped["ts"] == 2**64 - 1 and dumped["qty"] == -3 and dumped["new_api_field"] == "x"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ({"ts": 1}, "sku_id"),
        ({"sku_id": "", "ts": 1}, "sku_id"),
        ({"sku_id": "A", "ts": "abc"}, "ts"),
        ({"sku_id": "A", "ts": -1}, "ts"),
        ({"sku_id": "A", "ts": 1, "modified": "22/11/2026"}, "modified"),
        ({"sku_id": "A", "ts": 1, "qty": "lots"}, "qty"),
        ("not an object", "expected an object"),
    ],
)
def test_invalid_rows_become_dead_letters(raw: object, reason: str) -> None:
    valid, dead = validate_rows(
        InventoryRow, [raw], stream="inventory", source="jushuitan", context={"wms_co_id": 7}
    )
    assert valid == [] and len(dead) == 1
    assert reason in dead[0].reason
    assert dead[0].raw == raw and dead[0].context == {"wms_co_id": 7}
    assert dead[0].stream == "inventory" and dead[0].failed_at > 0


def test_sku_row_needs_modified_and_valid_enabled() -> None:
    _, dead = validate_rows(
        SkuRow,
        [{"sku_id": "A"}, {"sku_id": "B", "modified": "2026-01-01 00:00:00", "enabled": 5}],
        stream="sku",
        source="jushuitan",
    )
    assert len(dead) == 2


def test_cursor_store_round_trip(tmp_path: Path) -> None:
    store = CursorStore(tmp_path / "state")
    assert store.load("inventory") == {}
    store.save("inventory", {"cursors": {"1": "123"}})
    assert store.load("inventory") == {"cursors": {"1": "123"}}
    assert [path.name for path in (tmp_path / "state").iterdir()] == ["inventory.json"]
    store.reset("inventory")
    assert store.load("inventory") == {}


def test_failed_write_keeps_the_old_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "sku.json"
    atomic_write_json(path, {"window_end": "old"})

    def crash(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        atomic_write_json(path, {"window_end": "new"})
    assert read_json(path) == {"window_end": "old"}
    assert [p.name for p in tmp_path.iterdir()] == ["sku.json"]


def test_writes_are_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    atomic_write_json(tmp_path / "x.json", {"a": 1})
    assert len(synced) == 2  # the file, then its directory
