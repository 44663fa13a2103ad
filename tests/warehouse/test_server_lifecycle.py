"""The command line: start, clean stop on SIGTERM/SIGINT, restart with the data still there.

Runs the server as a separate process (`python -m warehouse.server`), exactly as the stack
scripts do; a separate process is also the only way to use a second chDB data path, since
chDB allows one path per process and the contract suite's server already holds one.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import clickhouse_connect
import pytest
import requests

pytestmark = pytest.mark.integration

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "lifecycle-s3cret"
_CREATE_INVENTORY = (
    "CREATE TABLE inventory (sku String, qty Int64, version UInt64) "
    "ENGINE = ReplacingMergeTree(version) ORDER BY sku"
)
_SERVING = re.compile(r"serving ClickHouse HTTP on http://127\.0\.0\.1:(\d+)")


@contextmanager
def running_server(data_path: Path, log_file: Path, stop_signal: signal.Signals) -> Iterator[int]:
    """Start the CLI on a free port, yield the port, stop it with `stop_signal`, check exit 0."""
    command = [
        sys.executable,
        "-m",
        "warehouse.server",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--data-path",
        str(data_path),
        "--database",
        "erp",
        "--password",
        PASSWORD,
        "--log-file",
        str(log_file),
    ]
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env)
    try:
        yield _wait_for_port(process, log_file)
    finally:
        if process.poll() is None:
            process.send_signal(stop_signal)
        try:
            exit_code = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert exit_code == 0, log_file.read_text()


def _wait_for_port(process: subprocess.Popen[bytes], log_file: Path) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, (
            f"server exited early: {log_file.read_text() if log_file.exists() else ''}"
        )
        text = log_file.read_text() if log_file.exists() else ""
        starts = _SERVING.findall(text)
        if starts and len(starts) > text.count("stopped; chDB session closed"):
            port = int(starts[-1])
            if requests.get(f"http://127.0.0.1:{port}/ping", timeout=5).text == "Ok.\n":
                return port
        time.sleep(0.1)
    raise AssertionError("server did not start within 60 s")


def test_restart_keeps_data_and_shutdown_is_clean(tmp_path: Path) -> None:
    data_path, log_file = tmp_path / "data", tmp_path / "server.log"
    with running_server(data_path, log_file, signal.SIGTERM) as port:
        client = clickhouse_connect.get_client(
            host="127.0.0.1", port=port, password=PASSWORD, database="erp"
        )
        client.command(_CREATE_INVENTORY)
        client.insert(
            "inventory",
            [["A", 1, 1], ["A", 3, 2], ["B", 5, 1]],
            column_names=["sku", "qty", "version"],
        )
        # A request carrying the password in the URL must not leak it into the log.
        requests.get(
            f"http://127.0.0.1:{port}/",
            params={"query": "SELECT 1", "password": PASSWORD},
            timeout=5,
        )
        client.close()
    assert "stopped; chDB session closed" in log_file.read_text()

    with running_server(data_path, log_file, signal.SIGINT) as port:
        client = clickhouse_connect.get_client(
            host="127.0.0.1", port=port, password=PASSWORD, database="erp"
        )
        rows = client.query("SELECT sku, qty FROM inventory FINAL ORDER BY sku").result_rows
        assert rows == [("A", 3), ("B", 5)]
        # The query log of the first run survived it: written at shutdown, kept on disk.
        logged = client.query(
            "SELECT query_kind, user, query FROM system.query_log WHERE query LIKE 'CREATE%'"
        ).result_rows
        assert logged == [("Create", "default", _CREATE_INVENTORY)]
        assert not client.query(
            "SELECT query FROM system.query_log WHERE position(query, {p:String}) > 0",
            parameters={"p": PASSWORD},
        ).result_rows
        client.close()

    log_text = log_file.read_text()
    assert log_text.count("stopped; chDB session closed") == 2
    assert PASSWORD not in log_text
    assert re.search(r'"POST /" query_id=\S+ user=default status=200 duration_ms=[\d.]+', log_text)
