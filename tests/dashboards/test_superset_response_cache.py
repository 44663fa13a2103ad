"""The chart answers walls of one login share: never another login's, never stale past
their seconds, never for a forced refresh, and computed once when many ask at once."""

from __future__ import annotations

import threading

import pytest

from dashboards.superset_response_cache import ResponseCache, is_export, is_forced

pytestmark = pytest.mark.unit

URL = "/api/v1/chart/data?form_data=%7B%22slice_id%22%3A7%7D&dashboard_id=2"
BODY = b'{"datasource":{"id":3},"force":false,"queries":[{}]}'
OK, JSON = "200 OK", [("Content-Type", "application/json")]


def test_an_answer_is_kept_for_one_login_and_one_request_only() -> None:
    cache = ResponseCache(seconds=5)
    cache.put(cache.key("wall", URL, BODY), OK, JSON, b"{}", now=100.0)
    assert cache.get(cache.key("wall", URL, BODY), now=104.9) is not None
    assert cache.get(cache.key("alice", URL, BODY), now=101.0) is None  # another login
    assert cache.get(cache.key("wall", URL + "&x=1", BODY), now=101.0) is None
    assert cache.get(cache.key("wall", URL, BODY.replace(b"3", b"4")), now=101.0) is None
    # The parts cannot be shifted into each other to make another login's key.
    assert cache.key("wal", "l" + URL, BODY) != cache.key("wall", URL, BODY)


def test_an_answer_expires_after_its_seconds() -> None:
    cache = ResponseCache(seconds=5)
    key = cache.key("wall", URL, BODY)
    cache.put(key, OK, JSON, b"{}", now=100.0)
    assert cache.get(key, now=105.0) is None


def test_the_oldest_answers_make_room() -> None:
    cache = ResponseCache(seconds=5, max_entries=2)
    for n in range(3):
        cache.put(cache.key("wall", f"{URL}&n={n}", BODY), OK, JSON, b"{}", now=100.0)
    assert cache.get(cache.key("wall", f"{URL}&n=0", BODY), now=101.0) is None
    assert cache.get(cache.key("wall", f"{URL}&n=2", BODY), now=101.0) is not None


def test_a_forced_refresh_is_never_answered_from_memory() -> None:
    assert is_forced({}, b'{"force": true, "queries": []}')
    assert is_forced({"force": "true"}, b"------WebKitFormBoundary\r\n")  # the legacy map
    assert not is_forced({}, BODY)
    assert not is_forced({}, b"{not json")


def test_exports_and_cookies_never_come_from_memory() -> None:
    assert is_export({"csv": "true"}, BODY)
    assert is_export({}, b'{"result_format": "xlsx", "queries": []}')
    assert not is_export({}, b'{"result_format": "json"}') and not is_export({}, BODY)
    cache = ResponseCache(seconds=5)
    key = cache.key("wall", URL, BODY)
    cache.put(key, OK, [*JSON, ("Set-Cookie", "session=alice")], b"{}", now=100.0)
    kept = cache.get(key, now=101.0)
    assert kept is not None and kept.headers == (("Content-Type", "application/json"),)


def test_an_error_is_kept_for_a_second_at_most() -> None:
    cache = ResponseCache(seconds=5)
    key = cache.key("wall", URL, BODY)
    cache.put(key, "500 INTERNAL SERVER ERROR", JSON, b"{}", now=100.0, seconds=1.0)
    assert cache.get(key, now=100.5) is not None
    assert cache.get(key, now=101.0) is None


def test_askers_of_one_question_share_one_lock() -> None:
    cache = ResponseCache(seconds=5)
    key = cache.key("wall", URL, BODY)
    first = cache.lock_for(key)
    assert cache.lock_for(key) is first
    assert cache.lock_for(cache.key("alice", URL, BODY)) is not first
    first.acquire()
    waited = threading.Event()

    def second_asker() -> None:
        with cache.lock_for(key):
            waited.set()

    thread = threading.Thread(target=second_asker)
    thread.start()
    assert not waited.wait(0.2)  # blocked while the first computes
    first.release()
    thread.join(5)
    assert waited.is_set()


@pytest.mark.integration
def test_the_hooks_in_superset_s_flask_keep_logins_exports_and_streams_apart() -> None:
    """The middleware runs in Superset's own Python: one login's repeat is answered from
    memory without its session cookie, another login's is not, nor a shop owner's; force,
    API tokens, CSV downloads (their file name kept) and exports go through; a form is
    recognised across multipart boundaries; an error is shared for a second only; a gzip
    answer goes only to those who accept gzip."""
    import subprocess

    from common.settings import PROJECT_ROOT, load_settings

    python = load_settings().paths.venv_python("superset")
    check = PROJECT_ROOT / "tests" / "dashboards" / "response_cache_hooks_check.py"
    module = PROJECT_ROOT / "dashboards" / "superset_response_cache.py"
    done = subprocess.run([str(python), str(check), str(module)], capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("ok: 16 computed for 22 requests")
