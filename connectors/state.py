"""Durable cursor store: one JSON file per stream, replaced atomically.

Write order: temp file in the same directory -> flush -> fsync -> rename over the old
file -> fsync the directory. A crash leaves either the old or the new state, never a
torn file, so a cursor is only ever saved after Kafka acknowledged the records it covers.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def atomic_write_json(path: Path, data: Any, *, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, ensure_ascii=False, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp_name, mode)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object stored at ``path``, or None when there is no file yet."""
    try:
        with path.open(encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


class CursorStore:
    """Stream state files ``<directory>/<stream>.json``; each value is a JSON object."""

    def __init__(self, directory: Path):
        self.directory = directory

    def path_for(self, stream: str) -> Path:
        return self.directory / f"{stream}.json"

    def load(self, stream: str) -> dict[str, Any]:
        return read_json(self.path_for(stream)) or {}

    def save(self, stream: str, state: dict[str, Any]) -> None:
        atomic_write_json(self.path_for(stream), state)

    def reset(self, stream: str) -> None:
        self.path_for(stream).unlink(missing_ok=True)
