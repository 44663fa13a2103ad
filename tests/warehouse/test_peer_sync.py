"""Two single-machine servers fed by the same writers: each copies what landed on the other.

As `erpbi up --profile cluster` runs them (`python -m warehouse.server --peer URL`), as two
processes (chDB allows one data path per process). A writer on the first server, which
then stops; the writes go on on the second; the first comes back and answers its first
request with everything, each key once. A client given both servers follows them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import clickhouse_connect
import pytest
import requests
from clickhouse_connect.driver.client import Client
from pydantic import SecretStr

from common.settings import ClickHouseSettings
from warehouse.client import connect

pytestmark = pytest.mark.integration

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "peer-s3cret"
_CREATE_FACTS = (
    "CREATE TABLE IF NOT EXISTS dwd_facts (k String, qty Int64, _version UInt64, "
    "_loaded_at DateTime64(3, 'Asia/Shanghai') DEFAULT now64(3)) "
    "ENGINE = ReplacingMergeTree(_version) ORDER BY k"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def warehouse(data_path: Path, port: int, peer_port: int, log_file: Path) -> Iterator[None]:
    command = [
        sys.executable, "-m", "warehouse.server", "--host", "127.0.0.1", "--port", str(port),
        "--data-path", str(data_path), "--database", "erp", "--log-file", str(log_file),
        "--peer", f"http://127.0.0.1:{peer_port}",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "WAREHOUSE_SERVER_PASSWORD": PASSWORD}
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env)
    try:
        _until(lambda: _pings(port), f"server on {port} answers", process)
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, log_file.read_text()


def _pings(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/ping", timeout=2).text == "Ok.\n"
    except requests.RequestException:
        return False


def _until(
    condition: Callable[[], bool], what: str, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process is None or process.poll() is None, f"server exited before: {what}"
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within 60 s: {what}")


def _client(port: int) -> Client:
    return clickhouse_connect.get_client(
        host="127.0.0.1", port=port, password=PASSWORD, database="erp"
    )


def _facts(client: Client) -> dict[str, int]:
    rows = client.query("SELECT k, qty FROM dwd_facts FINAL").result_rows
    return {k: qty for k, qty in rows}


def _write(client: Client, rows: dict[str, int], version: int) -> None:
    client.insert("dwd_facts", [[k, qty, version] for k, qty in rows.items()],
                  column_names=["k", "qty", "_version"])  # fmt: skip


def test_a_server_that_comes_back_serves_what_landed_on_its_peer(tmp_path: Path) -> None:
    first, second = _free_port(), _free_port()
    first_data, second_data = tmp_path / "first", tmp_path / "second"
    settings = ClickHouseSettings(
        port=first, more_hosts=[f"127.0.0.1:{second}"], password=SecretStr(PASSWORD)
    )
    expected = {f"sku-{n}": n for n in range(100)}
    with warehouse(second_data, second, first, tmp_path / "second.log"):
        with warehouse(first_data, first, second, tmp_path / "first.log"):
            for port in (first, second):  # as migrations do on every server
                _client(port).command(_CREATE_FACTS)
            reader = connect(settings)  # the dashboards' client: both servers, first first
            _write(_client(first), expected, version=1)
            _until(lambda: _facts(_client(second)) == expected, "second has the first's rows")
            assert _facts(reader) == expected
        # the first is stopped: writes go on on the second, reads follow
        changed = {f"sku-{n}": -n for n in range(90, 150)}
        _write(_client(second), changed, version=2)
        expected |= changed
        assert _facts(reader) == expected

        with warehouse(first_data, first, second, tmp_path / "first.log"):
            # its first answer already has what landed on the second while it was away
            back = _client(first)
            assert _facts(back) == expected
            assert back.command("SELECT count() FROM dwd_facts FINAL") == len(expected)
            _write(back, {"sku-0": 7}, version=3)
            expected["sku-0"] = 7
            _until(lambda: _facts(_client(second)) == expected, "second has the new write")
    log = (tmp_path / "first.log").read_text()
    assert "caught up from peers" in log
    assert PASSWORD not in log + (tmp_path / "second.log").read_text()
