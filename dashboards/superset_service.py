"""Run Superset for the big screens: its environment, metadata bootstrap, server command.

Superset lives in its own virtualenv (``<cache>/venvs/superset``; its pins clash with
PyFlink's), so everything here drives it as subprocesses. The process supervisor calls
:func:`bootstrap_metadata` once, then launches :func:`server_command` with
:func:`superset_env` and polls :func:`is_healthy`.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import requests

from common.settings import Settings

DASHBOARDS_DIR = Path(__file__).resolve().parent
CONFIG_PATH = DASHBOARDS_DIR / "superset_config.py"
GUNICORN_CONFIG_PATH = DASHBOARDS_DIR / "superset_metrics.py"  # its hooks: /metrics files
BOOTSTRAP_RUNNER = DASHBOARDS_DIR / "superset_bootstrap_runner.py"
VENV_NAME = "superset"
STAMP_NAME = "bootstrap.stamp.json"


class SupersetBootstrapError(RuntimeError):
    """Superset's metadata setup failed; the message carries the tail of its output."""


@dataclass(frozen=True)
class BootstrapResult:
    ran: bool  # False when the stamp showed the metadata DB was already set up
    seconds: float


def superset_home(settings: Settings) -> Path:
    """Folder of the SQLite metadata DB and the bootstrap stamp."""
    return settings.paths.data_dir / "superset"


def venv_dir(settings: Settings) -> Path:
    return settings.paths.cache_dir / "venvs" / VENV_NAME


def venv_bin(settings: Settings, program: str) -> Path:
    return venv_dir(settings) / "bin" / program


def superset_version(settings: Settings) -> str:
    """Installed apache-superset version, read from the venv without importing Superset."""
    site_packages = sorted(venv_dir(settings).glob("lib/python*/site-packages"))
    for dist in metadata.distributions(path=[str(p) for p in site_packages]):
        if str(dist.metadata["Name"]).lower().replace("_", "-") == "apache-superset":
            return dist.version
    raise SupersetBootstrapError(f"apache-superset is not installed in {venv_dir(settings)}")


def metrics_dir(settings: Settings) -> Path:
    """Folder of the gunicorn workers' metric files (prometheus_client multiprocess mode)."""
    return settings.paths.run_dir / "tmp" / "superset-metrics"


def superset_env(settings: Settings, inherit: bool = True) -> dict[str, str]:
    """Environment for any Superset process (web server, CLI, bootstrap runner).

    With ``inherit`` the current environment is the base (PATH, locale...), minus the
    variables of whichever virtualenv we run in, so the Superset venv is used alone.
    """
    base: dict[str, str] = dict(os.environ) if inherit else {}
    for name in ("VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH", "FLASK_DEBUG"):
        base.pop(name, None)
    venv = venv_dir(settings)
    path = base.get("PATH", "/usr/local/bin:/usr/bin:/bin")
    superset = settings.superset
    base.update(
        {
            "VIRTUAL_ENV": str(venv),
            "PATH": f"{venv / 'bin'}{os.pathsep}{path}",
            "SUPERSET_CONFIG_PATH": str(CONFIG_PATH),
            "SUPERSET_HOME": str(superset_home(settings)),
            "SUPERSET_SECRET_KEY": superset.secret_key.get_secret_value(),
            "FLASK_APP": "superset.app:create_app()",
            "PYTHONUNBUFFERED": "1",
            "ERPBI_SUPERSET_ADMIN_USER": superset.admin_user,
            "ERPBI_SUPERSET_ADMIN_PASSWORD": superset.admin_password.get_secret_value(),
            # a path, not the secrets: owners' queries run under their warehouse login
            "ERPBI_SUPERSET_WAREHOUSE_LOGINS": str(settings.paths.shop_owner_logins),
            # every warehouse server, in the order to try them (no secrets)
            "ERPBI_SUPERSET_WAREHOUSE_URLS": ",".join(settings.clickhouse.urls()),
            "ERPBI_SUPERSET_WAREHOUSE_DATABASE": settings.clickhouse.database,
            # the chart answers the workers share for a few seconds: scratch, not data
            "ERPBI_SUPERSET_RESPONSE_CACHE_DIR": str(
                settings.paths.run_dir / "tmp" / "superset-answers"
            ),  # fmt: skip
            # the workers' request counts, summed at /metrics; emptied as gunicorn starts
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir(settings)),
        }
    )
    return base


def _fingerprint(settings: Settings) -> dict[str, str]:
    """What the metadata DB was set up for; a change re-runs the bootstrap."""
    superset = settings.superset
    credentials = hashlib.sha256(
        "\0".join(
            (
                superset.secret_key.get_secret_value(),
                superset.admin_user,
                superset.admin_password.get_secret_value(),
            )
        ).encode()
    ).hexdigest()
    return {
        "superset_version": superset_version(settings),
        "admin_user": superset.admin_user,
        "credentials_sha256": credentials,
        "runner_sha256": hashlib.sha256(BOOTSTRAP_RUNNER.read_bytes()).hexdigest(),
    }


def _is_bootstrapped(home: Path, fingerprint: dict[str, str]) -> bool:
    stamp = home / STAMP_NAME
    if not (stamp.exists() and (home / "superset.db").exists()):
        return False
    try:
        return bool(json.loads(stamp.read_text()) == fingerprint)
    except ValueError:
        return False


def bootstrap_metadata(settings: Settings, timeout_seconds: float = 600.0) -> BootstrapResult:
    """Idempotent ``db upgrade`` + ``fab create-admin`` (if missing) + ``init``.

    A stamp in the Superset home records what was set up, so a second run returns in
    milliseconds; concurrent callers serialise on a lock file. Output goes to
    ``<logs>/superset-bootstrap.log``.
    """
    started = time.monotonic()
    home = superset_home(settings)
    home.mkdir(parents=True, exist_ok=True)
    fingerprint = _fingerprint(settings)
    with open(home / "bootstrap.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _is_bootstrapped(home, fingerprint):
            return BootstrapResult(ran=False, seconds=time.monotonic() - started)
        (home / STAMP_NAME).unlink(missing_ok=True)
        settings.paths.logs_dir.mkdir(parents=True, exist_ok=True)
        log_path = settings.paths.logs_dir / "superset-bootstrap.log"
        with open(log_path, "ab") as log:
            completed = subprocess.run(
                [str(venv_bin(settings, "python")), str(BOOTSTRAP_RUNNER)],
                env=superset_env(settings),
                cwd=home,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout_seconds,
                check=False,
            )
        if completed.returncode != 0:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise SupersetBootstrapError(
                f"Superset bootstrap exited with {completed.returncode}; see {log_path}:\n{tail}"
            )
        (home / STAMP_NAME).write_text(json.dumps(fingerprint, indent=2))
    return BootstrapResult(ran=True, seconds=time.monotonic() - started)


def server_command(settings: Settings, workers: int = 2, threads: int = 8) -> list[str]:
    """Command that serves Superset on ``settings.superset.host:port`` (loopback).

    gunicorn with threaded workers when the venv has it (as Superset's own images do),
    else the Flask development server. Run it with :func:`superset_env` as environment,
    in its own process group so that a stop reaches every worker. gunicorn's config file
    is ``superset_metrics.py``: its hooks empty :func:`metrics_dir` once the port is bound
    and mark dead workers. The development server (one process) does not empty it: an
    earlier run's counts are added to its own.
    """
    superset = settings.superset
    gunicorn = venv_bin(settings, "gunicorn")
    if gunicorn.exists():
        return [
            str(gunicorn),
            "--config",
            str(GUNICORN_CONFIG_PATH),
            "--bind",
            f"{superset.host}:{superset.port}",
            "--workers",
            str(workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(threads),
            "--timeout",
            "120",
            "--graceful-timeout",
            "10",
            "--limit-request-line",
            "0",
            "--limit-request-field_size",
            "0",
            "--name",
            "erpbi-superset",
            "superset.app:create_app()",
        ]
    return [
        str(venv_bin(settings, "superset")),
        "run",
        "-h",
        superset.host,
        "-p",
        str(superset.port),
        "--with-threads",
    ]


def is_healthy(settings: Settings, timeout_seconds: float = 2.0) -> bool:
    """True when Superset's ``/health`` answers 200 ``OK``."""
    try:
        response = requests.get(f"{settings.superset.url}/health", timeout=timeout_seconds)
    except requests.RequestException:
        return False
    return response.status_code == 200 and response.text.strip() == "OK"


def wait_until_healthy(
    settings: Settings,
    timeout_seconds: float = 180.0,
    process: subprocess.Popen[bytes] | None = None,
    poll_seconds: float = 0.25,
) -> float:
    """Poll :func:`is_healthy`; return the seconds waited. Fails fast if ``process`` died."""
    started = time.monotonic()
    while True:
        if is_healthy(settings):
            return time.monotonic() - started
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"Superset exited with {process.returncode} before it was healthy")
        if time.monotonic() - started > timeout_seconds:
            raise TimeoutError(
                f"Superset not healthy at {settings.superset.url} after {timeout_seconds:.0f}s"
            )
        time.sleep(poll_seconds)
