"""Superset configuration for the ERP big screens, loaded via ``SUPERSET_CONFIG_PATH``.

Superset imports this file inside its own virtualenv, where the project's packages
(and pydantic-settings) are not installed, so it reads only environment variables.
:func:`dashboards.superset_service.superset_env` sets them from the typed settings:

- ``SUPERSET_HOME``: folder holding the SQLite metadata DB (``<run>/data/superset``).
- ``SUPERSET_SECRET_KEY``: signs sessions and encrypts stored DB passwords.
- ``ERPBI_SUPERSET_DATABASE_URI`` (optional): another metadata DB, e.g. Postgres in
  docker-compose.
- ``ERPBI_SUPERSET_DATA_CACHE_SECONDS`` (optional, default 10): chart result cache TTL.
- ``ERPBI_SUPERSET_RESPONSE_CACHE_SECONDS`` (optional, default 5, 0 = off): how long a
  login's sessions share one chart answer (``superset_response_cache.py``), and
  ``ERPBI_SUPERSET_RESPONSE_CACHE_DIR`` the folder the workers share them in (default
  ``<SUPERSET_HOME>/response-cache``).
- ``PROMETHEUS_MULTIPROC_DIR``: the folder the gunicorn workers count requests in, summed
  at ``/metrics`` (``superset_metrics.py``, also gunicorn's config file).
- ``ERPBI_SUPERSET_WAREHOUSE_LOGINS`` (optional): path of the shop owners' warehouse
  logins (JSON owner -> password, mode 0600); a shop owner's queries run under their own
  warehouse login, so the warehouse's per-shop filter stands behind Superset's RLS.

Everything here is loopback-only and offline: no example data, no telemetry pixel,
no map tiles or web fonts from the internet (the CSP only allows ``'self'``).
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path
from types import ModuleType

# ---------------------------------------------------------------------------
# Metadata DB, secrets
# ---------------------------------------------------------------------------
DATA_DIR = os.environ.get("SUPERSET_HOME") or str(Path.cwd() / ".run" / "data" / "superset")
Path(DATA_DIR).mkdir(parents=True, exist_ok=True)

SQLALCHEMY_DATABASE_URI = os.environ.get("ERPBI_SUPERSET_DATABASE_URI") or (
    f"sqlite:///{Path(DATA_DIR) / 'superset.db'}?check_same_thread=false"
)
if SQLALCHEMY_DATABASE_URI.startswith("sqlite"):
    # Several gunicorn workers share one SQLite file: wait for locks instead of failing.
    SQLALCHEMY_ENGINE_OPTIONS = {"connect_args": {"timeout": 30}}

_secret_key = os.environ.get("SUPERSET_SECRET_KEY", "")
if not _secret_key:
    raise RuntimeError(
        "SUPERSET_SECRET_KEY is not set; start Superset through dashboards.superset_service"
    )
SECRET_KEY = _secret_key
# Async-query and guest tokens are unused (features off) but must not keep public defaults.
GLOBAL_ASYNC_QUERIES_JWT_SECRET = _secret_key
GUEST_TOKEN_JWT_SECRET = _secret_key

# Two Supersets on 127.0.0.1 (dev and a test run) would otherwise overwrite each other's
# cookie in the same browser: cookies are scoped by host, not port.
SESSION_COOKIE_NAME = "erpbi_superset_session"

# ---------------------------------------------------------------------------
# A shop owner's queries run under their own warehouse login (a second wall behind RLS)
# ---------------------------------------------------------------------------
_LOGINS_PATH = os.environ.get("ERPBI_SUPERSET_WAREHOUSE_LOGINS", "")
_logins_read: dict[str, object] = {"mtime": None, "logins": {}}


def _warehouse_logins() -> dict[str, str]:
    """owner -> warehouse password, re-read when the file changes; {} without a file."""
    try:
        mtime = os.stat(_LOGINS_PATH).st_mtime_ns if _LOGINS_PATH else None
    except OSError:
        mtime = None
    if mtime != _logins_read["mtime"]:
        logins: dict[str, str] = {}
        if mtime is not None:
            import json

            with open(_LOGINS_PATH, encoding="utf-8") as handle:
                logins = {str(k): str(v) for k, v in json.load(handle).items()}
        _logins_read.update(mtime=mtime, logins=logins)
    return _logins_read["logins"]  # type: ignore[return-value]


# ---------------------------------------------------------------------------
# Several warehouse servers: every connection goes to the first that answers
# ---------------------------------------------------------------------------
_WAREHOUSE_URLS = [
    url for url in os.environ.get("ERPBI_SUPERSET_WAREHOUSE_URLS", "").split(",") if url
]
_warehouse_down_until: dict[str, float] = {}  # a server that did not answer is skipped 2 s


def _answering_warehouse() -> str:
    """Base URL of the first warehouse server answering /ping (a loopback round trip per
    connection); the first configured one when none answers (its error is the one shown)."""
    import time

    if len(_WAREHOUSE_URLS) < 2:
        return _WAREHOUSE_URLS[0] if _WAREHOUSE_URLS else ""
    import requests

    for url in _WAREHOUSE_URLS:
        if _warehouse_down_until.get(url, 0.0) > time.monotonic():
            continue
        try:
            if requests.get(f"{url}/ping", timeout=1).ok:
                return url
        except requests.RequestException:
            pass
        _warehouse_down_until[url] = time.monotonic() + 2.0
    return _WAREHOUSE_URLS[0]


def _viewer_shops() -> str:
    """The viewer's shops, as SQL list items, read from the shop sheet (``shop_access``)
    now, under the viewer's own warehouse login; ``NULL`` (no rows) when there is none or
    the warehouse does not answer. Used by the shop owners' RLS rule: the rendered clause
    (``shop_id IN (16000001,16000004)``) changes with the sheet, and so do the cache keys
    of Superset and of the warehouse, so no cached result outlives a change of owner."""
    import requests
    from superset.utils.core import get_username  # type: ignore[import-not-found]

    username = get_username() or ""
    password = _warehouse_logins().get(username)
    url = _answering_warehouse()
    if not (password and url):
        return "NULL"
    try:
        response = requests.post(
            url,
            params={"database": os.environ.get("ERPBI_SUPERSET_WAREHOUSE_DATABASE", "erp"),
                    "param_owner": username},
            data="SELECT shop_id FROM shop_access WHERE owner = {owner:String} "
                 "ORDER BY shop_id FORMAT TSV",
            auth=(username, password),
            timeout=10,
        )  # fmt: skip
        response.raise_for_status()
    except requests.RequestException:
        return "NULL"
    shops = [str(int(line)) for line in response.text.split() if line.strip()]
    return ",".join(shops) or "NULL"


JINJA_CONTEXT_ADDONS = {"viewer_shops": _viewer_shops}


# ---------------------------------------------------------------------------
# Event log: every chart of every wall asks for its data every 10-30 s, and Superset writes
# one row per request into the metadata database (a fifth of a cached request's cost under
# 30 walls). Those rows are left out; dashboard views, edits and logins are still logged.
# ---------------------------------------------------------------------------
UNLOGGED_PATHS = ("/api/v1/chart/data",)


def _event_logger():  # type: ignore[no-untyped-def]  # noqa: ANN202
    from flask import has_request_context, request  # type: ignore[import-not-found]
    from superset.utils.log import DBEventLogger  # type: ignore[import-not-found]

    class WallEventLogger(DBEventLogger):
        """Superset's database event log, less what a chart's JSON data request logs (the
        request itself and its timed steps: query, post-processing, JSON); CSV and Excel
        exports, form posts, are still logged."""

        def log(self, user_id, action, *args, **kwargs):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN002, ANN003, ANN202
            if (
                has_request_context()
                and request.path.startswith(UNLOGGED_PATHS)
                and request.mimetype == "application/json"  # exports (form posts) are logged
            ):
                return
            super().log(user_id, action, *args, **kwargs)

    return WallEventLogger()


EVENT_LOGGER = _event_logger()


def _schema_from_uri(_app):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN202
    """A ClickHouse database's default schema is the database its URI names. Superset asks
    for it on every chart request over a virtual dataset (the RLS part of the cache key)
    and, for the generic engine spec, opens a new connection to learn it (clickhouse-connect
    then reads the server's version and settings): a third of a cached request's time.
    Answer from the URI; a URI without a database still asks the server."""
    from superset.db_engine_specs.clickhouse import ClickHouseConnectEngineSpec  # type: ignore[import-not-found]

    asks_the_server = ClickHouseConnectEngineSpec.get_default_schema.__func__

    def get_default_schema(cls, database, catalog):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN202
        return database.url_object.database or asks_the_server(cls, database, catalog)

    ClickHouseConnectEngineSpec.get_default_schema = classmethod(get_default_schema)


def _load_beside(file_name: str, module_name: str) -> ModuleType:
    """A module of ours next to this file (our packages are not installed in this venv)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(module_name, Path(__file__).with_name(file_name))
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = module  # type: ignore[union-attr]  # its dataclasses look it up
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _request_metrics() -> ModuleType | None:
    """Request metrics and ``/metrics`` (superset_metrics.py); None without prometheus_client:
    Superset serves its screens all the same."""
    try:
        return _load_beside("superset_metrics.py", "erpbi_superset_metrics")
    except ImportError as error:
        import logging

        logging.getLogger(__name__).warning("no /metrics for Superset: %s", error)
        return None


def _response_cache(app, count):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN202
    """Chart answers shared by the sessions of one login (superset_response_cache.py)."""
    module = _load_beside("superset_response_cache.py", "erpbi_superset_response_cache")
    seconds = float(os.environ.get("ERPBI_SUPERSET_RESPONSE_CACHE_SECONDS", "5"))
    folder = os.environ.get("ERPBI_SUPERSET_RESPONSE_CACHE_DIR") or str(
        Path(DATA_DIR) / "response-cache"
    )
    # Shop owners' row-level security follows the shop sheet query by query: never shared.
    module.install(app, seconds, Path(folder),
                   shares_answers=lambda name: name not in _warehouse_logins(),
                   count=count)  # fmt: skip


def FLASK_APP_MUTATOR(app):  # type: ignore[no-untyped-def]  # noqa: N802, ANN001, ANN201
    _schema_from_uri(app)
    metrics = _request_metrics()
    _response_cache(app, count=metrics.count_cache_result if metrics else lambda _result: None)
    if metrics is not None:
        metrics.install(app)  # outermost: times the cache's answers too, answers /metrics


def DB_CONNECTION_MUTATOR(uri, params, username, security_manager, source):  # type: ignore[no-untyped-def]  # noqa: N802, ANN001, ANN201
    """Superset calls this for every connection it opens to run a query; ``username``
    is the viewer. A viewer with a warehouse login of that name connects as it; with
    several warehouse servers, the connection goes to the first that answers."""
    if not uri.drivername.startswith("clickhouse"):
        return uri, params
    password = _warehouse_logins().get(username or "")
    if password:
        uri = uri.set(username=username, password=password)
    if len(_WAREHOUSE_URLS) > 1:
        from urllib.parse import urlsplit

        server = urlsplit(_answering_warehouse())
        uri = uri.set(host=server.hostname, port=server.port)
    return uri, params


# ---------------------------------------------------------------------------
# Features: dashboards on a wall, nothing embedded, no background workers yet
# ---------------------------------------------------------------------------
FEATURE_FLAGS = {
    "DASHBOARD_RBAC": False,
    "EMBEDDED_SUPERSET": False,
    "EMBEDDABLE_CHARTS": False,
    "ALERT_REPORTS": False,  # needs Celery + a browser; not part of this stage yet
    "THUMBNAILS": False,
    "ENABLE_DASHBOARD_SCREENSHOT_ENDPOINTS": False,
    "GLOBAL_ASYNC_QUERIES": False,
    "SQLLAB_FORCE_RUN_ASYNC": False,
    # A wall screen is never scrolled: render every chart at once, not lazily.
    "DASHBOARD_VIRTUALIZATION": False,
    # Jinja in virtual datasets (e.g. time windows next to FINAL).
    "ENABLE_TEMPLATE_PROCESSING": True,
    "DRILL_TO_DETAIL": True,
    "DRILL_BY": True,
    "ALLOW_ADHOC_SUBQUERY": False,
    "ENABLE_JAVASCRIPT_CONTROLS": False,
    "DYNAMIC_PLUGINS": False,
    "SSH_TUNNELING": False,
    "TAGGING_SYSTEM": False,
}

# No Celery: SQL Lab runs queries synchronously in the web process.
RESULTS_BACKEND = None

# ---------------------------------------------------------------------------
# Big-screen defaults
# ---------------------------------------------------------------------------
APP_NAME = "ERP 实时 BI"
BABEL_DEFAULT_LOCALE = "zh"
LANGUAGES = {
    "zh": {"flag": "cn", "name": "简体中文"},
    "en": {"flag": "us", "name": "English"},
}
D3_FORMAT = {
    "decimal": ".",
    "thousands": ",",
    "grouping": [3],
    "currency": ["¥", ""],
}

# Many wall screens auto-refresh the same charts: let them share results for a few
# seconds ("fetch" reads the cache, "force" would bypass it) while staying well inside
# the one-minute freshness target. API callers that need the newest rows pass force.
_data_cache_seconds = int(os.environ.get("ERPBI_SUPERSET_DATA_CACHE_SECONDS", "10"))
DATA_CACHE_CONFIG = {
    "CACHE_TYPE": "SimpleCache",
    "CACHE_DEFAULT_TIMEOUT": _data_cache_seconds,
    "CACHE_THRESHOLD": 2000,
}
CACHE_CONFIG = {
    "CACHE_TYPE": "SimpleCache",
    "CACHE_DEFAULT_TIMEOUT": int(timedelta(minutes=5).total_seconds()),
    "CACHE_THRESHOLD": 1000,
}
DASHBOARD_AUTO_REFRESH_MODE = "fetch"
DASHBOARD_AUTO_REFRESH_INTERVALS = [
    [0, "不刷新"],
    [10, "10 秒"],
    [30, "30 秒"],
    [60, "1 分钟"],
    [300, "5 分钟"],
    [1800, "30 分钟"],
]
SUPERSET_DASHBOARD_PERIODICAL_REFRESH_LIMIT = 0  # walls refresh all day
SUPERSET_WEBSERVER_TIMEOUT = 60
ROW_LIMIT = 10000
# CSV downloads (the replenishment plan) open in Excel on a Chinese Windows desktop:
# a UTF-8 byte-order mark makes Excel read the Chinese headers and names correctly.
CSV_EXPORT = {"encoding": "utf-8-sig"}
SAMPLES_ROW_LIMIT = 500
DEFAULT_SQLLAB_LIMIT = 1000
SQLLAB_TIMEOUT = 60
SQLLAB_CTAS_NO_LIMIT = False

# ---------------------------------------------------------------------------
# Offline: nothing the server or the browser loads may leave the machine
# ---------------------------------------------------------------------------
MAPBOX_API_KEY = ""
ENABLE_CORS = False
CORS_OPTIONS: dict[str, object] = {}
THEME_FONT_URL_ALLOWED_DOMAINS: list[str] = []
DEFAULT_HTTP_HEADERS: dict[str, str] = {}
BUG_REPORT_URL = None
DOCUMENTATION_URL = None
TALISMAN_ENABLED = True
TALISMAN_CONFIG = {
    "content_security_policy": {
        "base-uri": ["'self'"],
        "default-src": ["'self'"],
        # No telemetry pixel (scarf.sh), no external images.
        "img-src": ["'self'", "blob:", "data:"],
        "worker-src": ["'self'", "blob:"],
        # No Mapbox / OpenStreetMap tiles: province heat maps use the bundled GeoJSON.
        "connect-src": ["'self'"],
        "object-src": "'none'",
        "style-src": ["'self'", "'unsafe-inline'"],
        "font-src": ["'self'", "data:"],
        "script-src": ["'self'", "'strict-dynamic'"],
    },
    "content_security_policy_nonce_in": ["script-src"],
    "force_https": False,
    "session_cookie_secure": False,
}
TALISMAN_DEV_CONFIG = TALISMAN_CONFIG

# ---------------------------------------------------------------------------
# API access for provisioning: JWT login + CSRF token (kept on, as in production)
# ---------------------------------------------------------------------------
WTF_CSRF_ENABLED = True
WTF_CSRF_TIME_LIMIT = int(timedelta(days=1).total_seconds())
RATELIMIT_ENABLED = False  # loopback only; the supervisor and tests log in repeatedly
AUTH_RATE_LIMITED = False
PREVENT_UNSAFE_DB_CONNECTIONS = True

# Logs go to stdout/stderr, which the process supervisor captures into .run/logs.
ENABLE_TIME_ROTATE = False
LOG_LEVEL = os.environ.get("ERPBI_SUPERSET_LOG_LEVEL", "INFO")
