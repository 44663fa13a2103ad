"""The chart answers walls of one login share: never another login's, never stale past
their seconds, never for a forced refresh, and computed once when many ask at once, in
one worker process or several."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from dashboards.superset_response_cache import ResponseCache, is_export, is_forced

pytestmark = pytest.mark.unit

URL = "/api/v1/chart/data?form_data=%7B%22slice_id%22%3A7%7D&dashboard_id=2"
BODY = b'{"datasource":{"id":3},"force":false,"queries":[{}]}'
OK, JSON = "200 OK", [("Content-Type", "application/json")]


def test_an_answer_is_kept_for_one_login_and_one_request_only(tmp_path: Path) -> None:
    cache = ResponseCache(seconds=5, folder=tmp_path)
    cache.put(cache.key("wall", URL, BODY), OK, JSON, b"{}", now=100.0)
    assert cache.get(cache.key("wall", URL, BODY), now=104.9) is not None
    assert cache.get(cache.key("alice", URL, BODY), now=101.0) is None  # another login
    assert cache.get(cache.key("wall", URL + "&x=1", BODY), now=101.0) is None
    assert cache.get(cache.key("wall", URL, BODY.replace(b"3", b"4")), now=101.0) is None
    # The parts cannot be shifted into each other to make another login's key.
    assert cache.key("wal", "l" + URL, BODY) != cache.key("wall", URL, BODY)


def test_an_answer_expires_after_its_seconds(tmp_path: Path) -> None:
    cache = ResponseCache(seconds=5, folder=tmp_path)
    key = cache.key("wall", URL, BODY)
    cache.put(key, OK, JSON, b"{}", now=100.0)
    assert cache.get(key, now=105.0) is None


def test_the_oldest_answers_make_room(tmp_path: Path) -> None:
    cache = ResponseCache(seconds=5, folder=tmp_path, max_entries=2)
    keys = [cache.key("wall", f"{URL}&n={n}", BODY) for n in range(3)]
    for age, key in zip((30, 20, 10), keys, strict=True):  # seconds old, the first oldest
        cache.put(key, OK, JSON, b"{}", now=1_000.0)
        os.utime(tmp_path / f"{key}.answer", (1_000.0 - age, 1_000.0 - age))
    cache.sweep(now=1_000.0 - 10)
    assert cache.get(keys[0], now=1_001.0) is None
    assert cache.get(keys[2], now=1_001.0) is not None


def test_a_forced_refresh_is_never_answered_from_memory() -> None:
    assert is_forced({}, b'{"force": true, "queries": []}')
    assert is_forced({"force": "true"}, b"------WebKitFormBoundary\r\n")  # the legacy map
    assert not is_forced({}, BODY)
    assert not is_forced({}, b"{not json")


def test_exports_and_cookies_never_come_from_memory(tmp_path: Path) -> None:
    assert is_export({"csv": "true"}, BODY)
    assert is_export({}, b'{"result_format": "xlsx", "queries": []}')
    assert not is_export({}, b'{"result_format": "json"}') and not is_export({}, BODY)
    cache = ResponseCache(seconds=5, folder=tmp_path)
    key = cache.key("wall", URL, BODY)
    cache.put(key, OK, [*JSON, ("Set-Cookie", "session=alice")], b"{}", now=100.0)
    kept = cache.get(key, now=101.0)
    assert kept is not None and kept.headers == (("Content-Type", "application/json"),)


def test_an_error_is_kept_for_a_second_at_most(tmp_path: Path) -> None:
    cache = ResponseCache(seconds=5, folder=tmp_path)
    key = cache.key("wall", URL, BODY)
    cache.put(key, "500 INTERNAL SERVER ERROR", JSON, b"{}", now=100.0, seconds=1.0)
    assert cache.get(key, now=100.5) is not None
    assert cache.get(key, now=101.0) is None


def test_askers_of_one_question_wait_for_the_first(tmp_path: Path) -> None:
    cache = ResponseCache(seconds=5, folder=tmp_path)
    key = cache.key("wall", URL, BODY)
    waited = threading.Event()

    def second_asker() -> None:
        with cache.first_asker(key) as first:
            assert first
            waited.set()

    with cache.first_asker(key) as first:
        assert first
        with cache.first_asker(cache.key("alice", URL, BODY)) as other:
            assert other  # another question does not wait
        thread = threading.Thread(target=second_asker)
        thread.start()
        assert not waited.wait(0.2)  # blocked while the first computes
    thread.join(5)
    assert waited.is_set()


HOLDER = """
import fcntl, sys, time
with open(sys.argv[1], "a") as handle:
    fcntl.flock(handle, fcntl.LOCK_EX)
    print("holding", flush=True)
    sys.stdin.readline()
"""


def test_another_worker_process_computing_holds_the_question(tmp_path: Path) -> None:
    cache = ResponseCache(seconds=5, folder=tmp_path)
    key = cache.key("wall", URL, BODY)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path / f"{key}.lock")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        with cache.first_asker(key, wait=0.3) as first:
            assert not first  # the other worker has it: gave up waiting after 0.3 s
        cache.put(key, OK, JSON, b'{"from": "the other worker"}')
    finally:
        holder.communicate("done\n", timeout=10)
    with cache.first_asker(key, wait=5) as first:
        assert first
    answer = ResponseCache(seconds=5, folder=tmp_path).get(key)  # another process's view
    assert answer is not None and answer.body == b'{"from": "the other worker"}'


@pytest.mark.integration
def test_the_hooks_in_superset_s_flask_keep_logins_exports_and_streams_apart(
    tmp_path: Path,
) -> None:
    """The middleware runs in Superset's own Python: one login's repeat is answered from
    memory without its session cookie, another login's is not, nor a shop owner's; force,
    API tokens, CSV downloads (their file name kept) and exports go through; a form is
    recognised across multipart boundaries; an error is shared for a second only; a gzip
    answer goes only to those who accept gzip."""
    from common.settings import PROJECT_ROOT, load_settings

    python = load_settings().paths.venv_python("superset")
    check = PROJECT_ROOT / "tests" / "dashboards" / "response_cache_hooks_check.py"
    module = PROJECT_ROOT / "dashboards" / "superset_response_cache.py"
    done = subprocess.run([str(python), str(check), str(module), str(tmp_path)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("ok: 18 computed for 24 requests")
