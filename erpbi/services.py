"""The services of the single-machine stack, in dependency order.

Each service says how to prepare it (format storage, metadata), the command
that runs it, and how to tell it is ready, so ``erpbi up`` never waits on a
fixed sleep. Stage-specific knowledge stays in the stage packages; this module
only wires them.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.settings import (
    MAX_KAFKA_BROKERS,
    MAX_TASKMANAGERS,
    MAX_WAREHOUSE_REPLICAS,
    PROJECT_ROOT,
    ClickHouseSettings,
    Settings,
)
from common.streams import DIMENSION_STREAMS, ODS_STREAMS
from erpbi import flink_cluster, kafka_service
from erpbi.processes import wait_until

ReadyCheck = Callable[[Settings], bool]
Hook = Callable[[Settings], None]


@dataclass(frozen=True)
class Service:
    name: str
    description: str
    command: Callable[[Settings], list[str]]
    ready: ReadyCheck
    listens: Callable[[Settings], str]
    prepare: Hook | None = None
    after_ready: Hook | None = None
    env: Callable[[Settings], dict[str, str]] = field(default=lambda settings: {})
    # The secrets the service reads from its settings, as dotted prefixes: it is given
    # these and no other (``Settings.environment_for``); ``env`` adds its own variables.
    secrets: tuple[str, ...] = ()
    start_timeout: float = 120.0
    enabled: Callable[[Settings], bool] = field(default=lambda settings: True)


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(200 <= response.status < 300)
    except OSError:
        return False


def _python(settings: Settings, venv: str) -> str:
    return str(settings.paths.venv_python(venv))


# --- ClickHouse (single-machine: chDB behind ClickHouse's HTTP interface) -------------------


def _clickhouse_command(settings: Settings, replica: int = 1) -> list[str]:
    ch = settings.clickhouse
    peers = [
        f"--peer=http://{ch.host}:{ch.replica_port(other)}"
        for other in range(1, ch.replicas + 1)
        if other != replica
    ]
    return [
        _python(settings, "core"), "-m", "warehouse.server",
        "--host", ch.host, "--port", str(ch.replica_port(replica)),
        "--data-path", str(settings.paths.data_dir / _warehouse_name(replica)),
        "--database", ch.database, "--user", ch.user,
        "--shop-owners-file", str(_write_shop_owners(settings)),
        *peers,
    ]  # fmt: skip


def _warehouse_name(replica: int) -> str:
    """Service name, and data folder name, of the n-th single-machine server."""
    return "clickhouse" if replica == 1 else f"clickhouse-{replica}"


def _only_replica(settings: Settings, replica: int) -> ClickHouseSettings:
    """The settings of one server alone (no failover): to migrate or probe that one."""
    ch = settings.clickhouse
    return ch.alone(ch.host, ch.replica_port(replica))


def _warehouse_replica(replica: int) -> Service:
    """The n-th single-machine server; with two, each copies from the other (peer_sync.py)."""

    def migrate(settings: Settings) -> None:
        from warehouse.migrate import migrate

        migrate(_only_replica(settings, replica))

    return Service(
        name=_warehouse_name(replica),
        description="ClickHouse engine (chDB) behind ClickHouse's HTTP interface"
        + (f", replica {replica}" if replica > 1 else ""),
        command=lambda s: _clickhouse_command(s, replica),
        env=_clickhouse_env,
        ready=lambda s: http_ok(f"{_only_replica(s, replica).url}/ping"),
        listens=lambda s: _only_replica(s, replica).url,
        after_ready=migrate,
        enabled=lambda s: replica <= s.clickhouse.replicas,
    )


def _write_shop_owners(settings: Settings) -> Path:
    """Shop owners' warehouse logins, in a file only this user can read (never on argv)."""
    path = settings.paths.shop_owner_logins
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    owners = {
        name: secret.get_secret_value() for name, secret in settings.clickhouse.shop_owners.items()
    }
    path.write_text(json.dumps(owners), encoding="utf-8")
    return path


def _clickhouse_env(settings: Settings) -> dict[str, str]:
    return {"WAREHOUSE_SERVER_PASSWORD": settings.clickhouse.password.get_secret_value()}


# --- Kafka ---------------------------------------------------------------------------------



def _create_topics(settings: Settings) -> None:
    """ODS and dead-letter topics; dimension topics are compacted (latest row per key)."""
    kafka = settings.kafka
    ods = [kafka.topic("ods", stream) for stream in ODS_STREAMS]
    dlq = [kafka.topic("dlq", stream) for stream in ODS_STREAMS]
    dimensions = {kafka.topic("ods", stream) for stream in DIMENSION_STREAMS}
    kafka_service.ensure_topics(settings, ods + dlq, compacted=dimensions)


def _kafka_node(node: int) -> Service:
    """Node ``node`` of the KRaft quorum; the last one to start creates the topics."""

    def create_topics_once_all_run(settings: Settings) -> None:
        if node == settings.kafka.brokers:
            if not wait_until(lambda: kafka_service.all_serving(settings), 120.0, 0.5):
                from erpbi.stack import ServiceStartError

                raise ServiceStartError(
                    f"not every Kafka node serves yet ({settings.kafka.bootstrap_servers}); "
                    "see the kafka*.log files"
                )
            _create_topics(settings)

    return Service(
        name=kafka_service.service_name(node),
        description=f"Apache Kafka broker and KRaft controller, node {node}",
        command=lambda s: kafka_service.server_command(s, node),
        prepare=lambda s: kafka_service.format_storage(s, node),
        ready=lambda s: kafka_service.is_ready(s, node),
        listens=lambda s: f"kafka://{s.kafka.host}:{s.kafka.broker_port(node)}",
        after_ready=create_topics_once_all_run,
        enabled=lambda s: node <= s.kafka.brokers,
    )


# --- ERP simulator, connectors, Flink ------------------------------------------------------


def _simulator_command(settings: Settings) -> list[str]:
    sim = settings.simulator
    command = [
        _python(settings, "core"), "-m", "erp_simulator",
        "--host", sim.host, "--port", str(sim.port), "--seed", str(sim.seed),
        "--sku-count", str(sim.sku_count), "--warehouses", str(sim.warehouse_count),
    ]  # fmt: skip
    if not sim.enforce_quota:
        command.append("--no-quota")
    return command


def _taskmanager(index: int) -> Service:
    return Service(
        name=flink_cluster.taskmanager_name(index),
        description=f"Flink TaskManager {index} of the standalone session cluster",
        command=lambda s: flink_cluster.taskmanager_command(s, index),
        prepare=flink_cluster.write_config,
        env=flink_cluster.process_env,
        ready=lambda s: flink_cluster.taskmanager_ready(s, index),
        listens=lambda s: f"{s.flink.taskmanager_slots} slots -> {s.flink.jobmanager_address}",
        start_timeout=120.0,
        enabled=lambda s: (
            s.flink.mode == "cluster" and s.flink.start_cluster and index <= s.flink.taskmanagers
        ),
    )


def _flink_job_ready(settings: Settings) -> bool:
    """Ready when a job runs with every task deployed (not merely submitted)."""
    url = f"{settings.flink.rest_url}/jobs/overview"
    try:
        with urllib.request.urlopen(url, timeout=2.0) as response:
            jobs = json.load(response).get("jobs", [])
    except (OSError, ValueError):
        return False
    return any(
        job.get("state") == "RUNNING"
        and job.get("tasks", {}).get("running") == job.get("tasks", {}).get("total")
        for job in jobs
    )


def _flink_env(settings: Settings) -> dict[str, str]:
    """Bounded heap, capped logs and temp jars under the run folder (see flink_jobs.runtime)."""
    from flink_jobs.runtime import job_process_env

    return job_process_env(settings)


def _connector_command(settings: Settings) -> list[str]:
    return [_python(settings, "core"), "-m", "erpbi", "sync", "--all", "--follow"]


def _connector_ready(settings: Settings) -> bool:
    """Ready once a stream's first cursor has been saved (a page reached Kafka)."""
    from connectors.cli import STREAMS

    directory = settings.paths.data_dir / "connectors"
    return any((directory / f"{stream}.json").exists() for stream in STREAMS)


def _forecaster_command(settings: Settings) -> list[str]:
    every = str(settings.clickhouse.forecast_every_seconds)
    return [_python(settings, "core"), "-m", "erpbi", "warehouse", "forecast", "--every", every]


def _forecast_written(settings: Settings) -> bool:
    """Ready once a forecast is in the warehouse (the first run takes a few seconds)."""
    from warehouse.client import connect

    try:
        client = connect(settings.clickhouse)
        try:
            count = client.query("SELECT count() FROM dws_outbound_forecast_hourly")
            return int(count.result_rows[0][0]) > 0
        finally:
            client.close()
    except Exception:  # noqa: BLE001 - not ready yet, whatever the reason
        return False


# --- Alerts -------------------------------------------------------------------------------


def _alerter_prepare(settings: Settings) -> None:
    from dashboards.alerting.service import heartbeat_file

    heartbeat_file(settings).unlink(missing_ok=True)  # ready means: this run has evaluated


def _alerter_ready(settings: Settings) -> bool:
    """Ready once the service has evaluated every rule once (its heartbeat names a live pid)."""
    from dashboards.alerting.service import heartbeat_file

    return _beating(heartbeat_file(settings))


def _beating(heartbeat: Path) -> bool:
    """A service's heartbeat file names a live process."""
    import os

    try:
        pid = int(json.loads(heartbeat.read_text(encoding="utf-8"))["pid"])
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError):
        return False
    return True


def _alerter_listens(settings: Settings) -> str:
    alerts = settings.alerts
    channels = [n for n in ("feishu", "dingtalk", "wecom", "webhook")
                if getattr(alerts, n).configured]  # fmt: skip
    return f"every {alerts.evaluate_every_seconds:g} s -> {', '.join(channels) or 'no robot set'}"


def _reconciler_heartbeat(settings: Settings) -> Path:
    from backfill.reconcile_cli import heartbeat_file

    return heartbeat_file(settings)


def _pusher_heartbeat(settings: Settings) -> Path:
    from dashboards.pushes.schedule import heartbeat_file

    return heartbeat_file(settings)


def _heartbeat_read(heartbeat: Callable[[Settings], Path], settings: Settings) -> Any:
    """What a scheduled service last wrote to its heartbeat file (None when unreadable)."""
    try:
        return json.loads(heartbeat(settings).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _heartbeat_prepare(heartbeat: Callable[[Settings], Path]) -> Callable[[Settings], None]:
    return lambda settings: heartbeat(settings).unlink(missing_ok=True)


def _heartbeat_ready(heartbeat: Callable[[Settings], Path]) -> Callable[[Settings], bool]:
    return lambda settings: _beating(heartbeat(settings))


def _reconciler_listens(settings: Settings) -> str:
    at = str((_heartbeat_read(_reconciler_heartbeat, settings) or {}).get("next_run", "-"))
    return f"next: {at[:16].replace('T', ' ')} -> ops_reconciliation"


def _pusher_listens(settings: Settings) -> str:
    """The next run of each push (from the service's heartbeat), and the picture server."""
    runs = (_heartbeat_read(_pusher_heartbeat, settings) or {}).get("next_runs", {})
    upcoming = ", ".join(f"{name} {at[5:16].replace('T', ' ')}" for name, at in runs.items())
    return f"next: {upcoming or '-'}; pictures :{settings.push.image_port}"


# --- Superset ------------------------------------------------------------------------------


def _superset_prepare(settings: Settings) -> None:
    from dashboards.superset_service import bootstrap_metadata
    from erpbi.stack import ServiceStartError

    unsafe = settings.superset.unsafe_defaults()
    if unsafe:
        raise ServiceStartError(
            f"superset would listen on {settings.superset.host} with the local default "
            f"{' and '.join(unsafe)}: set them (ERPBI_SUPERSET__ADMIN_PASSWORD, "
            "ERPBI_SUPERSET__SECRET_KEY) or bind 127.0.0.1 / Superset 监听非本机地址时不能用默认"
            "管理员密码或密钥"
        )
    bootstrap_metadata(settings)


def _superset_command(settings: Settings) -> list[str]:
    from dashboards.superset_service import server_command

    return server_command(settings)


def _superset_env(settings: Settings) -> dict[str, str]:
    """Superset's own variables; none of the caller's ERPBI_* (settings and their secrets)."""
    from dashboards.superset_service import superset_env

    own = superset_env(settings, inherit=False)
    return {
        k: v for k, v in superset_env(settings).items() if k in own or not k.startswith("ERPBI_")
    }


def _superset_ready(settings: Settings) -> bool:
    from dashboards.superset_service import is_healthy

    return is_healthy(settings)


def _superset_provision(settings: Settings) -> None:
    from dashboards.provision import provision

    provision(settings)


SERVICES: tuple[Service, ...] = (
    *(_warehouse_replica(replica) for replica in range(1, MAX_WAREHOUSE_REPLICAS + 1)),
    *(_kafka_node(node) for node in range(1, MAX_KAFKA_BROKERS + 1)),
    Service(
        name="simulator",
        description="Jushuitan ERP simulator (open API envelope, quotas, control API)",
        command=_simulator_command,
        ready=lambda s: http_ok(f"http://{s.simulator.host}:{s.simulator.port}/control/state"),
        listens=lambda s: f"http://{s.simulator.host}:{s.simulator.port}",
        enabled=lambda s: s.simulator.enabled,
        secrets=("jushuitan.app_secret",),
    ),
    Service(
        name="flink-jobmanager",
        description="Flink JobManager of the standalone session cluster (cluster profile)",
        command=flink_cluster.jobmanager_command,
        prepare=flink_cluster.write_config,
        env=flink_cluster.process_env,
        ready=flink_cluster.jobmanager_ready,
        listens=lambda s: f"{s.flink.rest_url} (Flink REST)",
        start_timeout=120.0,
        enabled=lambda s: s.flink.mode == "cluster" and s.flink.start_cluster,
    ),
    *(_taskmanager(index) for index in range(1, MAX_TASKMANAGERS + 1)),
    Service(
        name="flink-pipeline",
        description="Flink pipeline: clean, dedupe, widen every stream -> ClickHouse",
        command=lambda s: [_python(s, "flink"), "-m", "flink_jobs.pipeline_job"],
        env=_flink_env,
        ready=_flink_job_ready,
        listens=lambda s: (
            f"{s.flink.rest_url} (Flink REST)"
            if s.flink.mode == "local"
            else f"submitted to {s.flink.jobmanager_address}, parallelism {s.flink.parallelism}"
        ),
        start_timeout=180.0,
        secrets=("clickhouse.password",),
    ),
    Service(
        name="connector",
        description="Jushuitan connectors: incremental pull -> Kafka ODS topics",
        command=_connector_command,
        ready=_connector_ready,
        listens=lambda s: f"pulls {s.jushuitan.base_url}",
        secrets=("jushuitan",),
    ),
    Service(
        name="forecaster",
        description="outbound forecasts (statsmodels) into the warehouse, every 15 minutes",
        command=_forecaster_command,
        ready=_forecast_written,
        listens=lambda s: f"every {s.clickhouse.forecast_every_seconds} s to {s.clickhouse.url}",
        secrets=("clickhouse.password",),
    ),
    Service(
        name="alerter",
        description="alert rules on the warehouse -> Feishu/DingTalk/WeCom/webhook robots",
        command=lambda s: [_python(s, "core"), "-m", "erpbi", "alerts", "run"],
        prepare=_alerter_prepare,
        ready=_alerter_ready,
        listens=_alerter_listens,
        secrets=("clickhouse.password", "alerts"),
    ),
    Service(
        name="pusher",
        description="scheduled chat-bot pushes: screenshot, KPIs, insights at 08:30",
        command=lambda s: [_python(s, "core"), "-m", "erpbi", "push", "run"],
        prepare=_heartbeat_prepare(_pusher_heartbeat),
        ready=_heartbeat_ready(_pusher_heartbeat),
        listens=_pusher_listens,
        secrets=(
            "clickhouse.password",
            "clickhouse.shop_owners",
            "superset.admin_password",
            "alerts",
            "push",
        ),
    ),
    Service(
        name="reconciler",
        description="nightly T-1 reconciliation: ERP vs warehouse, repair, report (02:00)",
        command=lambda s: [_python(s, "core"), "-m", "erpbi", "reconcile", "nightly"],
        prepare=_heartbeat_prepare(_reconciler_heartbeat),
        ready=_heartbeat_ready(_reconciler_heartbeat),
        listens=_reconciler_listens,
        secrets=("clickhouse.password", "jushuitan"),
    ),
    Service(
        name="superset",
        description="Superset big-screen dashboards",
        command=_superset_command,
        prepare=_superset_prepare,
        env=_superset_env,
        ready=_superset_ready,
        listens=lambda s: s.superset.url,
        after_ready=_superset_provision,
        start_timeout=300.0,
    ),
)


# --- Monitoring -----------------------------------------------------------------------------


def _monitoring_enabled(settings: Settings) -> bool:
    return settings.monitoring.enabled


def _prometheus_command(settings: Settings) -> list[str]:
    from erpbi.monitoring import prometheus_command

    return prometheus_command(settings)


def _alertmanager_command(settings: Settings) -> list[str]:
    from erpbi.monitoring import alertmanager_command

    return alertmanager_command(settings)


MONITORING_SERVICES: tuple[Service, ...] = (
    Service(
        name="alertmanager",
        description="Alertmanager: Prometheus's alerts -> the alert service's relay",
        command=_alertmanager_command,
        ready=lambda s: http_ok(f"http://127.0.0.1:{s.monitoring.alertmanager_port}/-/ready"),
        listens=lambda s: f"http://127.0.0.1:{s.monitoring.alertmanager_port}",
        enabled=_monitoring_enabled,
    ),
    Service(
        name="prometheus",
        description="Prometheus: scrapes every service, evaluates monitoring/rules",
        command=_prometheus_command,
        ready=lambda s: http_ok(f"http://127.0.0.1:{s.monitoring.prometheus_port}/-/ready"),
        listens=lambda s: f"http://127.0.0.1:{s.monitoring.prometheus_port}",
        enabled=_monitoring_enabled,
    ),
    Service(
        name="monitor",
        description="pipeline metrics (Flink, Kafka lag, freshness); screen 8's figures",
        command=lambda s: [_python(s, "core"), "-m", "erpbi", "monitor", "run"],
        ready=lambda s: http_ok(f"http://127.0.0.1:{s.monitoring.recorder_port}/metrics"),
        listens=lambda s: f"http://127.0.0.1:{s.monitoring.flink_port}/metrics",
        enabled=_monitoring_enabled,
        secrets=("clickhouse.password",),
    ),
)
SERVICES = SERVICES + MONITORING_SERVICES


def by_name(name: str) -> Service:
    for service in SERVICES:
        if service.name == name:
            return service
    raise KeyError(f"unknown service {name!r}; known: {', '.join(s.name for s in SERVICES)}")


def project_root() -> Path:
    return PROJECT_ROOT
