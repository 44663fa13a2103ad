"""Versioned, idempotent ClickHouse migrations: ``migrations/NNNN_name.sql`` applied in order.

Applied versions are recorded in ``schema_migrations``; a file already recorded is
skipped, so ``erpbi warehouse migrate`` can run on every ``up``. The metric views are
generated from the catalogue (``warehouse/metrics``) and replaced on every run.

With ``clickhouse.replicated`` (a ClickHouse cluster with Keeper, docker-compose.yml) the
same files build replicated tables (``warehouse.replication`` rewrites each statement's
engine) on every server of ``clickhouse.endpoints``, in lockstep: each statement runs on
every server before the next one. A replica joining a replicated table must declare the
structure the table has in Keeper at that moment, so one server cannot run all the
migrations before the other (its later ALTERs would already be in Keeper when the other
runs the first CREATE). Each server records in its own ``schema_migrations`` (a local
table) what it ran, and gets its own metric views and row policies.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.settings import ClickHouseSettings
from warehouse import access, replication
from warehouse.client import connect
from warehouse.metrics import build as metric_views

LOG = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_FILE_PATTERN = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    def statements(self) -> list[str]:
        text = "\n".join(
            line for line in self.path.read_text().splitlines() if not line.strip().startswith("--")
        )
        # A statement ends with ';' at the end of a line (';' inside comments is fine).
        return [part.strip() for part in re.split(r";\s*$", text, flags=re.M) if part.strip()]


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_PATTERN.match(path.name)
        if not match:
            raise ValueError(f"migration file name must look like 0001_name.sql: {path.name}")
        found.append(Migration(int(match.group(1)), match.group(2), path))
    return found


def servers(settings: ClickHouseSettings) -> list[ClickHouseSettings]:
    """The servers migrations run on: every one of several (replicas of a real cluster, or
    single-machine servers that copy rows from each other), each on its own (no failover:
    a migration must reach every one)."""
    if len(settings.endpoints) == 1:
        return [settings]
    return [settings.alone(host, port) for host, port in settings.endpoints]


@dataclass
class _Server:
    """One server being migrated: its client and the versions it has applied."""

    settings: ClickHouseSettings
    client: Any
    done: set[int]
    ran: bool = False

    @property
    def name(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"


def _prepare(settings: ClickHouseSettings) -> _Server:
    """Create the database and ``schema_migrations`` on one server."""
    database = settings.database
    connect(settings, database="").command(f"CREATE DATABASE IF NOT EXISTS {database}")
    client = connect(settings)
    # Local on a replicated warehouse too: each server records what it ran.
    client.command(
        f"CREATE TABLE IF NOT EXISTS {database}.schema_migrations "
        "(version UInt32 COMMENT 'Migration number (NNNN of the file name)', "
        "name String COMMENT 'Migration name (the rest of the file name)', "
        "applied_at DateTime DEFAULT now() COMMENT 'When it was applied') "
        "ENGINE = ReplacingMergeTree ORDER BY version "
        "COMMENT 'Applied warehouse migrations'"
    )
    done = {
        row[0]
        for row in client.query(
            f"SELECT version FROM {database}.schema_migrations FINAL"
        ).result_rows
    }
    return _Server(settings, client, done)


def migrate(settings: ClickHouseSettings) -> list[Migration]:
    """Create the database, then apply every migration not yet recorded; returns those
    applied (on any of the servers, when replicated)."""
    replicated = settings.replicated
    targets = [_prepare(server) for server in servers(settings)]
    if len({frozenset(server.done) for server in targets}) > 1:
        LOG.warning(
            "replicas have applied different migrations: %s",
            "; ".join(f"{server.name} {sorted(server.done)}" for server in targets),
        )
    migrations = discover()
    local = (
        replication.local_tables(s for m in migrations for s in m.statements())
        if replicated
        else frozenset()
    )
    applied = []
    for migration in migrations:
        pending = [server for server in targets if migration.version not in server.done]
        if not pending:
            continue
        where = f" on {', '.join(server.name for server in pending)}" if len(targets) > 1 else ""
        LOG.info("applying migration %04d_%s%s", migration.version, migration.name, where)
        statements = migration.statements()
        if replicated:  # all rewritten before any runs: a refused one stops nothing halfway
            statements = [replication.replicated_statement(s, local) for s in statements]
        for statement in statements:
            for server in pending:  # lockstep: every server before the next statement
                server.client.command(statement)
        for server in pending:
            server.client.insert(
                f"{settings.database}.schema_migrations",
                [[migration.version, migration.name]],
                column_names=["version", "name"],
            )
            server.ran = True
        applied.append(migration)
    for server in targets:
        created = metric_views.apply(server.client)
        where = f" on {server.name}" if len(targets) > 1 else ""
        LOG.info("metric views: %d created or replaced%s", created, where)
        if server.ran and (
            policed := access.keep_row_policies(
                server.client, server.settings.database, [server.settings.user]
            )
        ):
            LOG.info("row policy %s kept on %d shop table(s)", access.POLICY_NAME, policed)
    return applied
