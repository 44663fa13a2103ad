"""A real Apache Kafka broker in KRaft mode, from the jars Maven fetched into the cache.

One node acts as broker and controller, listening on loopback only. Storage is
formatted once with a fixed cluster id, so a restart keeps every topic.
"""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

from common.settings import Settings

LOG = logging.getLogger(__name__)
CLUSTER_ID = "ErpbiLocalKRaftClstr"  # any 22-char base64 id; fixed so restarts reuse the log


def jars_dir(settings: Settings) -> Path:
    return settings.paths.cache_dir / "jars" / "kafka"


def data_dir(settings: Settings) -> Path:
    return settings.paths.data_dir / "kafka"


def config_dir(settings: Settings) -> Path:
    return settings.paths.run_dir / "config" / "kafka"


def write_config(settings: Settings) -> Path:
    """Write server.properties and log4j2 config for this broker; returns the properties path."""
    kafka = settings.kafka
    directory = config_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    properties = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{kafka.host}:{kafka.controller_port}",
        "listeners": (
            f"PLAINTEXT://{kafka.host}:{kafka.port},CONTROLLER://{kafka.host}:{kafka.controller_port}"
        ),
        "advertised.listeners": f"PLAINTEXT://{kafka.host}:{kafka.port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data_dir(settings)),
        "num.partitions": str(kafka.partitions),
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "true",
        "log.retention.hours": "168",
        "log.segment.bytes": str(64 * 1024 * 1024),
        "num.network.threads": "2",
        "num.io.threads": "2",
    }
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


def java_command(settings: Settings, main_class: str, *args: str) -> list[str]:
    directory = config_dir(settings)
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


def format_storage(settings: Settings) -> None:
    """Format the KRaft log directory once (a formatted directory is left alone)."""
    properties = write_config(settings)
    if (data_dir(settings) / "meta.properties").exists():
        return
    data_dir(settings).mkdir(parents=True, exist_ok=True)
    command = java_command(
        settings, "kafka.tools.StorageTool", "format", "-t", CLUSTER_ID, "-c", str(properties)
    )
    subprocess.run(command, check=True, capture_output=True, timeout=120)


def server_command(settings: Settings) -> list[str]:
    return java_command(settings, "kafka.Kafka", str(config_dir(settings) / "server.properties"))


def is_ready(settings: Settings) -> bool:
    """True when the broker answers metadata requests (kafka-python admin client)."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    quiet = logging.getLogger("kafka")
    previous = quiet.level
    quiet.setLevel(logging.CRITICAL)  # refused connections are expected while it boots
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=settings.kafka.bootstrap_servers,
            request_timeout_ms=5000,
        )
    except (KafkaError, OSError, ValueError) as error:
        LOG.debug("kafka not ready: %s", error)
        return False
    finally:
        quiet.setLevel(previous)
    try:
        admin.list_topics()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        admin.close()


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
                replication_factor=1,
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
