"""One typed settings model shared by every stage.

Values come, lowest precedence first, from the defaults below, a YAML file
(``erpbi.yaml`` in the working directory, or the path in ``ERPBI_CONFIG``) and
environment variables (``ERPBI_`` prefix, ``__`` between nested names, e.g.
``ERPBI_KAFKA__PORT=19092``). Secrets are ``SecretStr`` so that printing the
settings never shows them; use :meth:`Settings.masked_dump` for display.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
PROFILES_DIR = Path(__file__).resolve().parent / "profiles"
PROFILES = ("single", "cluster")  # common/profiles/<name>.yaml
MAX_KAFKA_BROKERS = 3
MAX_TASKMANAGERS = 4
MAX_WAREHOUSE_REPLICAS = 2


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PathsSettings(_Section):
    """Where downloaded tools (cache) and service data/logs (run) live; both git-ignored."""

    cache_dir: Path = PROJECT_ROOT / ".cache"
    run_dir: Path = PROJECT_ROOT / ".run"

    @property
    def logs_dir(self) -> Path:
        return self.run_dir / "logs"

    @property
    def pids_dir(self) -> Path:
        return self.run_dir / "pids"

    @property
    def data_dir(self) -> Path:
        return self.run_dir / "data"

    @property
    def shop_owner_logins(self) -> Path:
        """Shop owners' warehouse logins (owner -> password), mode 0600: read by the
        single-machine warehouse server and by Superset's connection mutator."""
        return self.run_dir / "config" / "clickhouse" / "shop_owners.json"

    def venv_python(self, name: str) -> Path:
        return self.cache_dir / "venvs" / name / "bin" / "python"


class KafkaSettings(_Section):
    """The brokers (KRaft: each node is broker and controller). Node ``n`` (from 1) listens
    on ``port + (n - 1) * port_step`` and its controller on ``controller_port`` likewise."""

    host: str = LOOPBACK
    port: int = 19092
    controller_port: int = 19093
    port_step: int = Field(default=100, ge=1)
    brokers: int = Field(default=1, ge=1, le=MAX_KAFKA_BROKERS)
    # Copies of each partition, and how many must have a write before it is acknowledged
    # (producers send acks=all): 3 and 2 lose nothing and keep writing with one broker down.
    replication_factor: int = Field(default=1, ge=1)
    min_insync_replicas: int = Field(default=1, ge=1)
    # Brokers that run elsewhere ("kafka-1:9092,kafka-2:9092", the compose network, other
    # machines): every client connects there. Empty: this machine's nodes above.
    bootstrap: str = ""
    heap_mb: int = 512
    topic_prefix: str = "erp"
    partitions: int = 2

    @model_validator(mode="after")
    def _replicas_fit(self) -> KafkaSettings:
        if not self.min_insync_replicas <= self.replication_factor <= self.brokers:
            raise ValueError(
                f"kafka: need min_insync_replicas ({self.min_insync_replicas}) <= "
                f"replication_factor ({self.replication_factor}) <= brokers ({self.brokers})"
            )
        return self

    @property
    def nodes(self) -> range:
        return range(1, self.brokers + 1)

    def broker_port(self, node: int) -> int:
        return self.port + (node - 1) * self.port_step

    def node_controller_port(self, node: int) -> int:
        return self.controller_port + (node - 1) * self.port_step

    @property
    def bootstrap_servers(self) -> str:
        if self.bootstrap:
            return self.bootstrap
        return ",".join(f"{self.host}:{self.broker_port(node)}" for node in self.nodes)

    def topic(self, layer: str, stream: str) -> str:
        """Topic naming: ``<prefix>.<layer>.<stream>``, e.g. ``erp.ods.inventory``."""
        return f"{self.topic_prefix}.{layer}.{stream}"


def _host_port(entry: str, default_port: int) -> tuple[str, int]:
    host, _, port = entry.strip().rpartition(":")
    if not host:  # no port given
        return entry.strip(), default_port
    return host, int(port)


class ClickHouseSettings(_Section):
    """The warehouse. ``host:port`` is the first server clients try; ``replicas`` servers
    run on this machine (``erpbi up``), the n-th on ``port + (n - 1) * port_step``, each
    copying from the others what landed there (warehouse/server/peer_sync.py);
    ``more_hosts`` ("host:port", ...) name servers that run elsewhere. Every client uses the
    first of ``endpoints`` that answers and moves to the next when it stops answering."""

    host: str = LOOPBACK
    port: int = 18123
    replicas: int = Field(default=1, ge=1, le=MAX_WAREHOUSE_REPLICAS)
    port_step: int = Field(default=100, ge=1)
    more_hosts: list[str] = Field(default_factory=list)
    # Migrations create Replicated* engines (a real ClickHouse cluster with Keeper, as in
    # docker-compose.yml); the serving tables stay local, each replica refreshes its own.
    replicated: bool = False
    database: str = "erp"
    user: str = "default"
    password: SecretStr = SecretStr("")
    secure: bool = False
    # Shop owners' read-only logins (owner name as in the shop sheet -> password): they see
    # only their shops' rows (single-machine server; row policies on a real server).
    shop_owners: dict[str, SecretStr] = Field(default_factory=dict)
    # Dashboards read through ClickHouse's query cache: 30 screens asking the same question
    # within this many seconds cost the engine one run. 0 turns it off. Serving tables are
    # rebuilt every 10-60 s, so a few seconds add little staleness.
    dashboard_cache_seconds: int = Field(default=5, ge=0)
    # The outbound forecasts (warehouse/forecast) are remade this often by the stack's
    # forecaster service: the hourly curve of today and 30 days per shop.
    forecast_every_seconds: int = Field(default=900, ge=10)

    @property
    def url(self) -> str:
        scheme = "https" if self.secure else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def replica_port(self, replica: int) -> int:
        """Port of the n-th single-machine server (1-based)."""
        return self.port + (replica - 1) * self.port_step

    @property
    def endpoints(self) -> list[tuple[str, int]]:
        """Every warehouse server, in the order clients try them."""
        local = [(self.host, self.replica_port(n)) for n in range(1, self.replicas + 1)]
        return local + [_host_port(entry, self.port) for entry in self.more_hosts]

    def alone(self, host: str, port: int) -> ClickHouseSettings:
        """These settings for one server only (no failover): to migrate or probe that one."""
        return self.model_copy(update={"host": host, "port": port, "replicas": 1,
                                       "more_hosts": []})  # fmt: skip

    def urls(self) -> list[str]:
        scheme = "https" if self.secure else "http"
        return [f"{scheme}://{host}:{port}" for host, port in self.endpoints]

    def dashboard_query_settings(self) -> dict[str, str]:
        """ClickHouse settings every dashboard query carries (the query cache, if on)."""
        if self.dashboard_cache_seconds == 0:
            return {}
        return {
            "use_query_cache": "1",
            "query_cache_ttl": str(self.dashboard_cache_seconds),
            # metric views use now() for "today", Superset reads system tables for metadata:
            # a real server refuses to cache either unless told to
            "query_cache_nondeterministic_function_handling": "save",
            "query_cache_system_table_handling": "save",
        }

    def sqlalchemy_uri(self, masked: bool = False) -> str:
        """URI for Superset's clickhousedb dialect (the password masked on request).

        Query parameters other than the driver's own become settings of every query.
        """
        secret = "XXXXXXXXXX" if masked else self.password.get_secret_value()
        user, secret = quote(self.user, safe=""), quote(secret, safe="")  # "@", "/" in them
        query = "&".join(
            f"{key}={value}"
            for key, value in {"compress": "false", **self.dashboard_query_settings()}.items()
        )
        return f"clickhousedb://{user}:{secret}@{self.host}:{self.port}/{self.database}?{query}"


class FlinkSettings(_Section):
    """``local``: the job on a MiniCluster inside its own process. ``cluster``: submitted to
    the standalone session cluster's JobManager at ``jobmanager_address``; ``erpbi up``
    starts that cluster (a JobManager, ``taskmanagers`` TaskManagers) when
    ``start_cluster`` is set (the cluster profile), the compose file runs its own."""

    mode: Literal["local", "cluster"] = "local"
    rest_port: int = 18081
    jobmanager_address: str = f"{LOOPBACK}:18081"
    start_cluster: bool = False
    jobmanager_rpc_port: int = 16123
    jobmanager_memory_mb: int = Field(default=768, ge=512)
    taskmanagers: int = Field(default=2, ge=1, le=MAX_TASKMANAGERS)
    taskmanager_slots: int = Field(default=2, ge=1)
    taskmanager_memory_mb: int = Field(default=1536, ge=1024)
    parallelism: int = 1
    jvm_heap_mb: int = 1024
    checkpoint_interval_ms: int = 5000
    # rocksdb: join state lives per entry on local disk, checkpoints are incremental.
    # hashmap copies a join key's whole fact map on the first write after each
    # checkpoint, which is quadratic when few keys (shops, warehouses) hold many facts.
    state_backend: Literal["rocksdb", "hashmap"] = "rocksdb"
    # Native memory RocksDB shares across every stateful operator (write buffers, block
    # cache). Local execution otherwise gives it 128 MB, too little once join state grows.
    state_memory_mb: int = Field(default=512, ge=64)
    flush_interval_ms: int = 1000
    flush_max_rows: int = 20000
    sink_retry_max_seconds: float = 30.0
    # Rows the sink keeps for tables ClickHouse does not take right now (5xx, too many parts);
    # they are in every checkpoint until they land. Past this the job waits (back-pressure).
    sink_max_pending_rows: int = Field(default=50_000, ge=1000)
    # `erpbi status` counts dead letters appended this recently; rows ClickHouse refused in
    # that window mark the pipeline degraded.
    status_dead_letter_window_minutes: int = Field(default=60, ge=1)


    @property
    def rest_url(self) -> str:
        """Flink's REST API: the MiniCluster on loopback, or the cluster's JobManager."""
        if self.mode == "cluster":
            return f"http://{self.jobmanager_address}"
        return f"http://{LOOPBACK}:{self.rest_port}"


LOOPBACK_HOSTS = frozenset({LOOPBACK, "localhost", "::1"})
LOCAL_ADMIN_PASSWORD = "admin"  # good for a Superset only this machine reaches
LOCAL_SECRET_KEY = "change-me-erpbi-local-only"


class SupersetSettings(_Section):
    host: str = LOOPBACK
    port: int = 18088
    admin_user: str = "admin"
    admin_password: SecretStr = SecretStr(LOCAL_ADMIN_PASSWORD)
    secret_key: SecretStr = SecretStr(LOCAL_SECRET_KEY)
    database_name: str = "ERP ClickHouse"

    def unsafe_defaults(self) -> list[str]:
        """The local defaults still set while Superset listens beyond this machine: it must
        not start so (anyone could log in as admin, or forge a session with the key)."""
        if self.host in LOOPBACK_HOSTS:
            return []
        defaults = {"superset.admin_password": (self.admin_password, LOCAL_ADMIN_PASSWORD),
                    "superset.secret_key": (self.secret_key, LOCAL_SECRET_KEY)}  # fmt: skip
        return [name for name, (value, local) in defaults.items()
                if value.get_secret_value() in ("", local)]  # fmt: skip

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class ChatRobotSettings(_Section):
    """One chat robot: its webhook URL (holding its token, so a secret) and the signing
    secret where the vendor signs (DingTalk, Feishu; an HMAC header for the webhook)."""

    url: SecretStr = SecretStr("")
    secret: SecretStr = SecretStr("")

    @property
    def configured(self) -> bool:
        return bool(self.url.get_secret_value())


class RecipientSettings(_Section):
    """How to @-mention one owner on each vendor."""

    mobile: str = ""  # DingTalk atMobiles, WeCom mentioned_mobile_list
    feishu_user_id: str = ""  # ou_... for <at id=...> in a Feishu card
    wecom_user_id: str = ""  # <@userid> in WeCom markdown


class BackfillSettings(_Section):
    """Re-pulling past days through the connectors (``erpbi backfill``)."""

    # Calls a minute a backfill or reconciliation takes of the app key's quota while it
    # has work; the live streams keep the rest meanwhile, and all of it otherwise (see
    # connectors.jushuitan.quota, "background budget").
    share_per_minute: int = Field(default=30, ge=1)
    max_day_rereads: int = Field(default=3, ge=0)  # a day whose row count moved while paged
    # The nightly T-1 reconciliation (`erpbi reconcile`, and the stack's reconciler).
    nightly_at: str = Field(default="02:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")  # Beijing
    repair_wait_seconds: float = Field(default=300.0, gt=0)  # for repaired keys to land
    rewiden_days: int = Field(default=30, ge=0)  # how far back late dimensions re-widen


class AlertsSettings(_Section):
    feishu: ChatRobotSettings = Field(default_factory=ChatRobotSettings)
    dingtalk: ChatRobotSettings = Field(default_factory=ChatRobotSettings)
    wecom: ChatRobotSettings = Field(default_factory=ChatRobotSettings)
    webhook: ChatRobotSettings = Field(default_factory=ChatRobotSettings)
    recipients: dict[str, RecipientSettings] = Field(default_factory=dict)
    # Who is @-mentioned for a route value that is not itself an owner's name: a rule
    # routed by category names the category (女装 -> its category owner).
    route_owners: dict[str, str] = Field(default_factory=dict)
    screen_base_url: str = ""  # the screens' address in a message; default: Superset's URL
    evaluate_every_seconds: float = Field(default=15.0, gt=0)
    retry_every_seconds: float = Field(default=60.0, gt=0)  # a failed delivery, next try
    attempt_seconds: float = Field(default=120.0, gt=0)  # retrying one send before that
    give_up_after_hours: float = Field(default=24.0, gt=0)  # then recorded as abandoned
    state_file: Path | None = None  # default: <run>/data/alerts/alerts.sqlite


class PushSettings(_Section):
    """The scheduled pushes (dashboards/assets/pushes): where their pictures go."""

    # DingTalk shows a picture only from a URL its servers can fetch: the public address
    # under which the push service's picture folder is reachable ("" = no DingTalk image).
    image_base_url: str = ""
    image_port: int = 18095  # the push service serves its pictures here
    image_bind: str = "127.0.0.1"  # loopback on one machine; 0.0.0.0 inside a container
    image_dir: Path | None = None  # default: <run>/data/push/images
    keep_images_days: int = Field(default=14, ge=1)
    # A Feishu app (a custom bot cannot upload): its credentials give the image_key.
    feishu_app_id: str = ""
    feishu_app_secret: SecretStr = SecretStr("")
    feishu_api_base: str = "https://open.feishu.cn"
    ops_channel: str = "feishu"  # where a failed push says so (its own alert)
    missed_run_grace_minutes: float = Field(default=120.0, gt=0)  # a missed run, sent late
    state_file: Path | None = None  # default: <run>/data/push/push.sqlite
    specs_dir: Path | None = None  # default: dashboards/assets/pushes
    # Optional: an OpenAI-compatible endpoint rewrites the insights in its own words; a
    # text with any number that is not one of the facts is dropped for the template's.
    llm_url: str = ""  # e.g. https://api.example.com/v1 (POST <url>/chat/completions)
    llm_model: str = ""
    llm_api_key: SecretStr = SecretStr("")


class MonitoringSettings(_Section):
    """Prometheus metrics of every service, the Prometheus and Alertmanager that scrape and
    route them, and the recorder that copies the figures of screen 8 into the warehouse."""

    enabled: bool = True  # run Prometheus, Alertmanager and the recorder with the stack
    prometheus_host: str = LOOPBACK  # where the recorder and `erpbi monitor` ask
    prometheus_port: int = 19090
    alertmanager_host: str = LOOPBACK
    alertmanager_port: int = 19094
    scrape_interval_seconds: float = Field(default=5.0, gt=0)
    metrics_bind: str = "127.0.0.1"  # where /metrics listen: 0.0.0.0 inside a container
    connector_port: int = 19101  # each service's /metrics
    flink_port: int = 19102  # Flink REST + Kafka consumer lag, as Prometheus metrics
    alerter_port: int = 19103  # /metrics and the Alertmanager webhook relay
    pusher_port: int = 19104
    recorder_port: int = 19105
    record_every_seconds: float = Field(default=10.0, gt=0)  # Prometheus -> warehouse
    ops_channels: tuple[str, ...] = ("feishu",)  # where Prometheus's alerts are delivered
    rules_dir: Path = PROJECT_ROOT / "monitoring" / "rules"  # Prometheus's, promtool-checked


class PollMaxSeconds(_Section):
    """The longest pause between two polls of a stream that keeps finding nothing."""

    inventory: float = 4.0  # per warehouse: the stock screens wait for it
    outbound: float = 8.0
    refund: float = 30.0
    aftersale_received: float = 30.0
    sku: float = 60.0
    shop: float = 300.0
    warehouse: float = 300.0


class JushuitanSettings(_Section):
    """The ERP open API the connectors read. Defaults point at the local simulator."""

    base_url: str = f"http://{LOOPBACK}:18900"
    app_key: str = "erpbi-local-app"
    app_secret: SecretStr = SecretStr("erpbi-local-secret")
    access_token: SecretStr = SecretStr("")
    refresh_token: SecretStr = SecretStr("")
    authorization_code: str = "123456"
    timeout_seconds: float = 60.0
    page_size: int = 100  # each stream is capped at its API's maximum
    min_call_interval_seconds: float = 0.26
    requests_per_second: int = 5
    requests_per_minute: int = 100
    # One budget per app key for every process of this machine (a file under flock in
    # quota_ledger_dir, default <tmp>/erpbi-quota). A second machine on the same app key
    # needs its own share: set requests_per_second/minute so that the machines sum to 5/100.
    share_quota: bool = True
    quota_ledger_dir: Path | None = None
    # Adaptive polling: a stream that finds rows polls again after poll_interval_seconds
    # (at once while a page comes back full); every empty poll doubles its pause, up to
    # its poll_max_seconds entry.
    poll_interval_seconds: float = 2.0
    poll_max_seconds: PollMaxSeconds = Field(default_factory=lambda: PollMaxSeconds())


class SimulatorSettings(_Section):
    enabled: bool = True
    host: str = LOOPBACK
    port: int = 18900
    seed: int = 20261122
    sku_count: int = 2000
    warehouse_count: int = 4
    enforce_quota: bool = True
    quota_per_second: int = 5
    quota_per_minute: int = 100
    backfill_days: int = 2
    orders_per_hour: int = 120
    live_orders_per_hour: int = 1200
    token_lifetime_seconds: int = 7 * 24 * 3600


class Settings(BaseSettings):
    """Everything a stage needs, frozen once loaded."""

    model_config = SettingsConfigDict(
        env_prefix="ERPBI_",
        env_nested_delimiter="__",
        frozen=True,
        extra="forbid",
    )

    # A named set of defaults (common/profiles/<profile>.yaml) under the YAML file and the
    # environment: "cluster" runs the same stack on a Flink cluster and a 3-broker Kafka.
    profile: Literal["single", "cluster"] = "single"
    paths: PathsSettings = Field(default_factory=PathsSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    clickhouse: ClickHouseSettings = Field(default_factory=ClickHouseSettings)
    flink: FlinkSettings = Field(default_factory=FlinkSettings)
    superset: SupersetSettings = Field(default_factory=SupersetSettings)
    jushuitan: JushuitanSettings = Field(default_factory=JushuitanSettings)
    simulator: SimulatorSettings = Field(default_factory=SimulatorSettings)
    alerts: AlertsSettings = Field(default_factory=AlertsSettings)
    push: PushSettings = Field(default_factory=PushSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    backfill: BackfillSettings = Field(default_factory=BackfillSettings)

    @model_validator(mode="before")
    @classmethod
    def _own_run_dir_per_profile(cls, data: Any) -> Any:
        """A profile other than the default keeps its data and logs apart (``.run/cluster``):
        a 3-broker Kafka cannot start on the log of a single broker, nor the reverse."""
        if isinstance(data, dict) and data.get("profile", "single") != "single":
            paths = dict(data.get("paths") or {})
            paths.setdefault("run_dir", PROJECT_ROOT / ".run" / str(data["profile"]))
            data = {**data, "paths": paths}
        return data

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_path = config_file_path()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if yaml_path is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=yaml_path))
        profile = chosen_profile(init_settings, sources[1:])
        sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=profile_file(profile)))
        return tuple(sources)

    def masked_dump(self) -> dict[str, Any]:
        """Plain data safe to print or log: every secret replaced by asterisks."""
        return self.model_dump(mode="json")

    @property
    def environment(self) -> dict[str, str]:
        """These settings as ERPBI_* variables, to hand to child processes, every secret
        included (a command the user runs; a service gets :meth:`environment_for`)."""
        return settings_to_env(self)

    def environment_for(self, secrets: Iterable[str]) -> dict[str, str]:
        """Every setting but the secrets, plus the secrets under the dotted ``secrets``
        prefixes (``clickhouse.password``, ``alerts``): a service gets only its own."""
        wanted = tuple(secrets)
        variables = settings_to_env(
            self, keep_secret=lambda path: any(_under(path, prefix) for prefix in wanted)
        )
        # not the YAML file either: it may hold the secrets left out here
        return variables | {"ERPBI_CONFIG": NO_CONFIG_FILE}


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + ".")


def settings_to_env(
    model: BaseModel,
    prefix: str = "ERPBI_",
    path: str = "",
    keep_secret: Callable[[str], bool] = lambda path: True,
) -> dict[str, str]:
    """A settings model as environment variables: sections by ``__``, mappings and lists
    as JSON (their keys keep their case: an owner named 李 or Alice stays so), secrets
    revealed (the child needs them; the caller keeps them off argv and logs) where
    ``keep_secret(dotted path)`` says so, and left out otherwise."""
    out: dict[str, str] = {}
    for field_name in type(model).model_fields:
        value = getattr(model, field_name)
        name = f"{prefix}{field_name.upper()}"
        where = f"{path}.{field_name}" if path else field_name
        if value is None:
            continue  # unset: the child's default, not the text "None"
        if _holds_secret(value) and not keep_secret(where):
            continue
        if isinstance(value, BaseModel):
            out.update(settings_to_env(value, f"{name}__", where, keep_secret))
        elif isinstance(value, dict | list | tuple):
            out[name] = json.dumps(_revealed(value), ensure_ascii=False)
        else:
            out[name] = _revealed(value) if isinstance(value, SecretStr) else _scalar(value)
    return out


def _holds_secret(value: Any) -> bool:
    """A secret, or a mapping or list with one (``shop_owners``); sections are walked."""
    if isinstance(value, SecretStr):
        return True
    if isinstance(value, dict):
        return any(_holds_secret(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_holds_secret(v) for v in value)
    return False


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _revealed(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, BaseModel):
        return {name: _revealed(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, dict):
        return {str(k): _revealed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_revealed(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def profile_file(name: str) -> Path:
    if name not in PROFILES:
        raise ValueError(f"unknown settings profile {name!r}; known: {', '.join(PROFILES)}")
    return PROFILES_DIR / f"{name}.yaml"


def chosen_profile(
    init_settings: PydanticBaseSettingsSource, sources: list[PydanticBaseSettingsSource]
) -> str:
    """The ``profile`` given by the caller, else by the environment or the YAML file."""
    for source in (init_settings, *sources):
        value = source().get("profile")
        if value:
            return str(value)
    return "single"


NO_CONFIG_FILE = "-"  # ERPBI_CONFIG of a service: every setting it gets is in its environment


def config_file_path() -> Path | None:
    explicit = os.environ.get("ERPBI_CONFIG")
    if explicit == NO_CONFIG_FILE:
        return None
    if explicit:
        return Path(explicit)
    default = Path.cwd() / "erpbi.yaml"
    return default if default.exists() else None


def load_settings(**overrides: Any) -> Settings:
    """Load settings from defaults, YAML and environment (overrides win)."""
    return Settings(**overrides)
