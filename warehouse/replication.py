"""The migrations on a replicated ClickHouse (Keeper + several servers, docker-compose.yml).

The same ``migrations/NNNN_*.sql`` build both warehouses; with
``clickhouse.replicated`` every statement goes through :func:`replicated_statement`
before it runs, so no DDL is written twice:

- ``ENGINE = <Kind>MergeTree(<args>)`` of a ``CREATE TABLE`` becomes
  ``ENGINE = Replicated<Kind>MergeTree('/clickhouse/tables/{shard}/{database}/{table}',
  '{replica}', <args>)``: facts and dimensions (ReplacingMergeTree, ``_version`` kept) and
  the log-like tables (alerts, ops metrics, reconciliation) are written once, on whichever
  server a client is on, and Keeper copies them to the other.
- Tables in :func:`local_tables` keep their local engine on every server:
  - the targets of refreshable materialized views (``REFRESH ... TO <table>``): every
    server refreshes its own serving tables from its own replicated facts, so they need
    no replication, and two servers replacing the same replicated table every few
    seconds would only fight;
  - the tables that code replaces by ``CREATE TABLE <copy> AS <table>`` and
    ``EXCHANGE TABLES`` (:data:`SWAPPED_BY_COPY`): a copy made with ``AS`` repeats the
    original's Keeper path, and a second replica on the same path and server is refused.
- ``DROP TABLE`` gets ``SYNC``: a replicated table leaves Keeper at once, not 8 minutes
  later, so a migration that drops and creates a table again (0010's rerun) finds the
  path free.

``{database}`` and ``{table}`` are expanded when the table is created and stored so in
its metadata (a later RENAME or EXCHANGE keeps the path); ``{shard}`` and ``{replica}``
are each server's ``<macros>``. Every server runs the same CREATE for the same name, so
all of them land on the same path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

ZOOKEEPER_PATH = "/clickhouse/tables/{shard}/{database}/{table}"
REPLICA_NAME = "{replica}"

# Tables replaced wholesale by code with CREATE TABLE <copy> AS <table> + EXCHANGE TABLES
# (warehouse/forecast/job.py replace_table): kept local, see the module docstring.
SWAPPED_BY_COPY = frozenset({"dws_outbound_forecast_hourly", "dws_outbound_forecast_daily"})

_NAME = r"(?:`[^`]+`|\w+)"
_QUALIFIED = rf"(?:{_NAME}\.)?({_NAME})"
_CREATE_TABLE = re.compile(
    rf"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?{_QUALIFIED}", re.I
)
# CREATE TABLE x AS y (a table to copy; not AS SELECT, AS WITH or AS a table function)
_AS_TABLE = re.compile(rf"\s+AS\s+(?!(?:SELECT|WITH)\b){_QUALIFIED}(?![\w`])(?!\s*\()", re.I)
_REFRESH_TO = re.compile(rf"\bREFRESH\b.*?\bTO\s+{_QUALIFIED}", re.I | re.S)
_ENGINE = re.compile(
    r"\bENGINE\s*=\s*(?P<kind>Replacing|Summing|Aggregating|Collapsing|VersionedCollapsing|)"
    r"MergeTree\b(?:\s*\((?P<args>[^()]*)\))?",
    re.I,
)
_DROP_TABLE = re.compile(r"^\s*DROP\s+TABLE\b", re.I)
_SYNC = re.compile(r"\bSYNC\s*$", re.I)


def _unquote(name: str) -> str:
    return name.strip("`")


def _masked(statement: str) -> str:
    """The statement with the inside of string literals and comments blanked (same length),
    so that a COMMENT 'ENGINE = MergeTree' is never taken for an engine."""
    out = list(statement)
    index, length = 0, len(statement)
    while index < length:
        char = statement[index]
        if char == "'":
            end = index + 1
            while end < length:
                if statement[end] == "\\":
                    end += 2
                    continue
                if statement[end] == "'":
                    if end + 1 < length and statement[end + 1] == "'":  # '' inside a literal
                        end += 2
                        continue
                    break
                end += 1
            for position in range(index + 1, min(end, length)):
                out[position] = " "
            index = end + 1
        elif statement.startswith("--", index):
            end = statement.find("\n", index)
            end = length if end < 0 else end
            for position in range(index, end):
                out[position] = " "
            index = end
        else:
            index += 1
    return "".join(out)


def created_table(statement: str) -> str | None:
    """The table a ``CREATE TABLE`` statement creates (None for any other statement)."""
    match = _CREATE_TABLE.match(_masked(statement))
    return _unquote(match.group(1)) if match else None


def copied_table(statement: str) -> str | None:
    """``y`` of ``CREATE TABLE x AS y ...``: the table whose columns (and, without an
    ENGINE clause, engine) the new one copies."""
    masked = _masked(statement)
    create = _CREATE_TABLE.match(masked)
    if not create:
        return None
    match = _AS_TABLE.match(masked, create.end())
    return _unquote(match.group(1)) if match else None


def refresh_targets(statements: Iterable[str]) -> set[str]:
    """Tables refreshable materialized views write into (``REFRESH ... TO <table>``)."""
    targets = set()
    for statement in statements:
        masked = _masked(statement)
        if re.match(r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?MATERIALIZED\s+VIEW\b", masked, re.I):
            match = _REFRESH_TO.search(masked)
            if match:
                targets.add(_unquote(match.group(1)))
    return targets


def local_tables(
    statements: Iterable[str], swapped: Iterable[str] = SWAPPED_BY_COPY
) -> frozenset[str]:
    """Tables that keep a local engine on every server: refresh targets, tables swapped by
    copy, and tables created ``AS`` one of those without an ENGINE clause (which copy its
    local engine)."""
    statements = list(statements)
    local = refresh_targets(statements) | set(swapped)
    for statement in statements:  # migrations run in order: a copy follows its original
        name, original = created_table(statement), copied_table(statement)
        if name and original in local and not _ENGINE.search(_masked(statement)):
            local.add(name)
    return frozenset(local)


def replicated_statement(statement: str, local: frozenset[str] | set[str]) -> str:
    """``statement`` as it runs on a replicated warehouse (see the module docstring).

    Raises ValueError for ``CREATE TABLE x AS y`` without an ENGINE clause when either
    table is replicated: the copy would repeat y's Keeper path (or be local where it
    should not), so such a migration must name its engine.
    """
    masked = _masked(statement)
    if _DROP_TABLE.match(masked):
        return statement if _SYNC.search(masked) else f"{statement} SYNC"
    name = created_table(statement)
    if name is None:
        return statement
    engine = _ENGINE.search(masked)
    if engine is None:
        original = copied_table(statement)
        if original is not None and not (name in local and original in local):
            raise ValueError(
                f"CREATE TABLE {name} AS {original} copies the engine of a replicated table "
                "(its Keeper path too): give it an ENGINE clause"
            )
        return statement
    if name in local:
        return statement
    args = [f"'{ZOOKEEPER_PATH}'", f"'{REPLICA_NAME}'"]
    own = (engine.group("args") or "").strip()
    if own:
        args.append(own)
    kind = statement[engine.start("kind") : engine.end("kind")]
    replacement = f"ENGINE = Replicated{kind}MergeTree({', '.join(args)})"
    return statement[: engine.start()] + replacement + statement[engine.end() :]
