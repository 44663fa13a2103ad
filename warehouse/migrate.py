"""Versioned, idempotent ClickHouse migrations: ``migrations/NNNN_name.sql`` applied in order.

Applied versions are recorded in ``schema_migrations``; a file already recorded is
skipped, so ``erpbi warehouse migrate`` can run on every ``up``. The metric views are
generated from the catalogue (``warehouse/metrics``) and replaced on every run.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from common.settings import ClickHouseSettings
from warehouse import access
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


def migrate(settings: ClickHouseSettings) -> list[Migration]:
    """Create the database, then apply every migration not yet recorded; returns those applied."""
    database = settings.database
    connect(settings, database="").command(f"CREATE DATABASE IF NOT EXISTS {database}")
    client = connect(settings)
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
    applied = []
    for migration in discover():
        if migration.version in done:
            continue
        LOG.info("applying migration %04d_%s", migration.version, migration.name)
        for statement in migration.statements():
            client.command(statement)
        client.insert(
            f"{database}.schema_migrations",
            [[migration.version, migration.name]],
            column_names=["version", "name"],
        )
        applied.append(migration)
    created = metric_views.apply(client)
    LOG.info("metric views: %d created or replaced", created)
    if applied and (policed := access.keep_row_policies(client, database, [settings.user])):
        LOG.info("row policy %s kept on %d shop table(s)", access.POLICY_NAME, policed)
    return applied
