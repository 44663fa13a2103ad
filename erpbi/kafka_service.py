"""Real Apache Kafka in KRaft mode, from the jars Maven fetched into the cache.

Each node (``kafka.brokers`` of them: 1 on a single machine, 3 on the cluster profile) is
broker and controller at once, listening on loopback only; the nodes are the controller
quorum. Storage is formatted once with a fixed cluster id, so a restart keeps every topic.
"""

from __future__ import annotations

import logging
import socket
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from common.settings import Settings

if TYPE_CHECKING:
    from kafka import KafkaAdminClient

LOG = logging.getLogger(__name__)
CLUSTER_ID = "ErpbiLocalKRaftClstr"  # any 22-char base64 id; fixed so restarts reuse the log


def jars_dir(settings: Settings) -> Path:
    return settings.paths.cache_dir / "jars" / "kafka"


def service_name(node: int) -> str:
    """``kafka`` for node 1 (the only one on a single machine), ``kafka-<n>`` after it."""
    return "kafka" if node == 1 else f"kafka-{node}"


def data_dir(settings: Settings, node: int = 1) -> Path:
    return settings.paths.data_dir / service_name(node)


def config_dir(settings: Settings, node: int = 1) -> Path:
    return settings.paths.run_dir / "config" / service_name(node)


def broker_properties(settings: Settings, node: int) -> dict[str, str]:
    """server.properties of one node."""
    kafka = settings.kafka
    port, controller = kafka.broker_port(node), kafka.node_controller_port(node)
    voters = ",".join(f"{n}@{kafka.host}:{kafka.node_controller_port(n)}" for n in kafka.nodes)
    replicas, min_isr = str(kafka.replication_factor), str(kafka.min_insync_replicas)
    return {
        "process.roles": "broker,controller",
        "node.id": str(node),
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://{kafka.host}:{port},CONTROLLER://{kafka.host}:{controller}",
        "advertised.listeners": f"PLAINTEXT://{kafka.host}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data_dir(settings, node)),
        "num.partitions": str(kafka.partitions),
        "default.replication.factor": replicas,
        "min.insync.replicas": min_isr,
        # a replica that was down rejoins the in-sync set only once it has caught up: never
        # elect one that has not (a committed write would be lost)
        "unclean.leader.election.enable": "false",
        "offsets.topic.replication.factor": replicas,
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.replication.factor": replicas,
        "transaction.state.log.min.isr": min_isr,
        "share.coordinator.state.topic.replication.factor": replicas,
        "share.coordinator.state.topic.min.isr": min_isr,
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "true",
        "log.retention.hours": "168",
        "log.segment.bytes": str(64 * 1024 * 1024),
        "num.network.threads": "2",
        "num.io.threads": "2",
    }


def write_config(settings: Settings, node: int = 1) -> Path:
    """Write server.properties and log4j2 config for one node; returns the properties path."""
    directory = config_dir(settings, node)
    directory.mkdir(parents=True, exist_ok=True)
    properties = broker_properties(settings, node)
    path = directory / "server.properties"
    path.write_text("".join(f"{key}={value}\n" for key, value in properties.items()))
    (directory / "log4j2.properties").write_text(
        "rootLogger.level = INFO\n"
        "rootLogger.appenderRef.stdout.ref = STDOUT\n"
        "appender.stdout.type = Console\n"
        "appender.stdout.name = STDOUT\n"
        "appender.stdout.layout.type = PatternLayout\n"
        "appender.stdout.layout.pattern = [%d] %p %m (%c)%n\n"
        "logger.kafka.name = kafka\nlogger.kafka.level = WARN\n"
        "logger.kafkaorg.name = org.apache.kafka\nlogger.kafkaorg.level = WARN\n"
        "logger.server.name = kafka.server.KafkaServer\nlogger.server.level = INFO\n"
    )
    return path


def java_command(settings: Settings, main_class: str, *args: str, node: int = 1) -> list[str]:
    directory = config_dir(settings, node)
    heap = f"-Xmx{settings.kafka.heap_mb}m"
    return [
        "java",
        heap,
        f"-Xms{min(settings.kafka.heap_mb, 256)}m",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={directory / 'log4j2.properties'}",
        "-cp",
        f"{jars_dir(settings)}/*",
        main_class,
        *args,
    ]


def format_storage(settings: Settings, node: int = 1) -> None:
    """Format a node's KRaft log directory once (a formatted directory is left alone)."""
    properties = write_config(settings, node)
    if (data_dir(settings, node) / "meta.properties").exists():
        return
    data_dir(settings, node).mkdir(parents=True, exist_ok=True)
    command = java_command(
        settings, "kafka.tools.StorageTool", "format", "-t", CLUSTER_ID, "-c", str(properties),
        node=node,
    )  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, timeout=120)


def server_command(settings: Settings, node: int = 1) -> list[str]:
    properties = str(config_dir(settings, node) / "server.properties")
    return java_command(settings, "kafka.Kafka", properties, node=node)


def is_ready(settings: Settings, node: int = 1) -> bool:
    """True when the node serves as a broker of the cluster: it answers metadata requests on
    its own listener and is among the cluster's brokers. The first nodes of a quorum cannot
    serve until a majority runs, so those count as ready once their controller listens."""
    kafka = settings.kafka
    if node <= kafka.brokers // 2 and not _any_broker_listening(settings, but=node):
        return _listening(kafka.host, kafka.node_controller_port(node))
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    quiet = logging.getLogger("kafka")
    previous = quiet.level
    quiet.setLevel(logging.CRITICAL)  # refused connections are expected while it boots
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=f"{kafka.host}:{kafka.broker_port(node)}",
            request_timeout_ms=5000,
        )
    except (KafkaError, OSError, ValueError) as error:
        LOG.debug("kafka not ready: %s", error)
        return False
    finally:
        quiet.setLevel(previous)
    try:
        return node in _serving(admin)
    except (KafkaError, OSError, KeyError, ValueError):
        return False
    finally:
        admin.close()


def _serving(admin: KafkaAdminClient) -> set[int]:
    brokers = admin.describe_cluster().get("brokers", [])
    return {int(broker["broker_id"]) for broker in brokers if not broker.get("is_fenced")}


def all_serving(settings: Settings) -> bool:
    """Every node of the cluster serves as a broker and accepts connections (topics are
    created only then: a replica placed on a node still starting would refuse them)."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    kafka = settings.kafka
    if not all(_listening(kafka.host, kafka.broker_port(n)) for n in kafka.nodes):
        return False
    try:
        admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers, request_timeout_ms=5000)
    except (KafkaError, OSError, ValueError):
        return False
    try:
        return _serving(admin) == set(kafka.nodes)
    except (KafkaError, OSError, KeyError, ValueError):
        return False
    finally:
        admin.close()


def _any_broker_listening(settings: Settings, but: int) -> bool:
    kafka = settings.kafka
    return any(_listening(kafka.host, kafka.broker_port(n)) for n in kafka.nodes if n != but)


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def ensure_topics(settings: Settings, names: list[str], compacted: set[str] | None = None) -> None:
    """Create missing topics (compacted ones keep only the latest record per key)."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    compacted = compacted or set()
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap_servers)
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(
                name=name,
                num_partitions=settings.kafka.partitions,
                replication_factor=settings.kafka.replication_factor,
                topic_configs={"cleanup.policy": "compact"} if name in compacted else {},
            )
            for name in names
            if name not in existing
        ]
        if wanted:
            try:
                admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()
