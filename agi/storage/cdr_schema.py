"""Tables, indexes and the named SQL statements of the CDR database; the
columns themselves are defined once in agi.vocabulary."""
from __future__ import annotations

import sqlite3
from typing import Any

import sqlite_utils

from agi.db.transactions import rollback
from agi.storage import rollups
from agi.storage.callbacks import ensure_callbacks_table
from agi.vocabulary import CALL_COLUMNS, IN_PROGRESS, INTERRUPTED, STEP_COLUMNS, STEP_FIELDS

#: Indexes for the reports (agi/reports); their effect on 1M calls is in docs/benchmarks.md.
REPORT_INDEXES = {
    "idx_calls_caller_started": ("calls", ("caller", "started_at")),
    "idx_calls_flow_started": ("calls", ("flow", "started_at")),
    "idx_calls_e164_started": ("calls", ("caller_e164", "started_at")),
}

#: Calls still running: the only rows of this index, which the writer
#: touches only for calls that outlive a batch, and startup reads.
IN_PROGRESS_INDEX = (
    f"CREATE INDEX IF NOT EXISTS idx_calls_in_progress ON calls(status) WHERE status = '{IN_PROGRESS}'"
)

MARK_INTERRUPTED = (  # the literal status, so that SQLite uses IN_PROGRESS_INDEX
    "UPDATE calls SET status = :interrupted, ended_at = COALESCE(ended_at, :now), "
    "error = COALESCE(error, 'the server stopped before the call ended') "
    f"WHERE status = '{IN_PROGRESS}'"
)


#: Parameters one statement binds at most: SQLite before 3.32 allows no more.
MAX_PARAMETERS = 999


def insert_sql(table: str, columns: tuple[str, ...], key: str, rows: int = 1) -> str:
    """``INSERT INTO table (a, b) VALUES (?, ?) ON CONFLICT (key) DO NOTHING``,
    with ``rows`` rows of parameters: positional parameters, which SQLite
    binds without looking each name up in a dict; a row written again (a
    batch retried after its commit was not acknowledged, a journal
    replayed) changes nothing. The same text runs on PostgreSQL."""
    one = f"({', '.join('?' * len(columns))})"
    return (f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([one] * rows)} "
            f"ON CONFLICT ({key}) DO NOTHING")


def row_counts(columns: int) -> tuple[int, ...]:
    """How many rows one multi-row insert of a table with ``columns``
    columns takes: powers of 4, largest first, within MAX_PARAMETERS.
    A few statement texts, so that each is prepared once and cached."""
    counts = [1]
    while counts[-1] * 4 * columns <= MAX_PARAMETERS:
        counts.append(counts[-1] * 4)
    return tuple(reversed(counts))


STEP_KEY = "CREATE UNIQUE INDEX IF NOT EXISTS idx_call_steps_call_seq_unique ON call_steps (call, seq)"
#: The calls table, its columns and its key; the same of call_steps.
CALL_TABLE = ("calls", tuple(CALL_COLUMNS), "id")
STEP_TABLE = ("call_steps", STEP_FIELDS, "call, seq")
INSERT_CALL = insert_sql(*CALL_TABLE)
INSERT_STEP = insert_sql(*STEP_TABLE)


def call_values(row: dict[str, Any]) -> tuple[Any, ...]:
    """INSERT_CALL's parameters: the row's value for every column, NULL for the rest."""
    return tuple(map(row.get, CALL_COLUMNS))


def step_values(call: str, step: dict[str, Any]) -> tuple[Any, ...]:
    """INSERT_STEP's parameters for a step of the call with key ``call``."""
    return (call, *map(step.get, STEP_FIELDS[1:]))


def update_call_sql(columns: tuple[str, ...]) -> str:
    """``UPDATE calls SET a = ?, b = ? WHERE id = ?``; only known columns.
    Its parameters: the values in the order of ``columns``, then the id."""
    unknown = [c for c in columns if c not in CALL_COLUMNS or c == "id"]
    if unknown:
        raise ValueError(f"not updatable columns of calls: {', '.join(unknown)}")
    return f"UPDATE calls SET {', '.join(f'{c} = ?' for c in columns)} WHERE id = ?"


def ensure_schema(db: sqlite_utils.Database) -> None:
    """Create the tables, indexes and rollup triggers if they are missing;
    WAL so that reports read while the server writes."""
    db.enable_wal()
    db.execute("PRAGMA synchronous = NORMAL")
    if "calls" not in db.table_names():
        db.table("calls").create(CALL_COLUMNS, pk="id", not_null={"call_id", "started_at", "status"})
    else:
        missing = {c: t for c, t in CALL_COLUMNS.items() if c not in db.table("calls").columns_dict}
        for column, kind in missing.items():
            db.table("calls").add_column(column, kind)
    if "call_steps" not in db.table_names():
        db.table("call_steps").create(STEP_COLUMNS, pk="id", foreign_keys=[("call", "calls", "id")])
    db.table("calls").create_index(["started_at"], if_not_exists=True)
    db.table("calls").create_index(["call_id"], if_not_exists=True)
    db.execute("DROP INDEX IF EXISTS idx_calls_status")  # every row's status: replaced by IN_PROGRESS_INDEX
    db.execute(IN_PROGRESS_INDEX)
    ensure_step_key(db.conn)
    for name, (table, columns) in REPORT_INDEXES.items():
        db.table(table).create_index(list(columns), index_name=name, if_not_exists=True)
    ensure_callbacks_table(db)
    for statement in (*rollups.tables(postgres=False), *rollups.SQLITE_TRIGGERS, *rollups.SQLITE_STEP_TRIGGERS):
        db.execute(statement)


def ensure_step_key(conn: sqlite3.Connection) -> None:
    """One step row per call and sequence number: a write retried after a
    lost acknowledgement changes nothing. Steps written twice before the
    key existed keep their first row."""
    try:
        conn.execute(STEP_KEY)
    except sqlite3.IntegrityError:
        conn.execute("DELETE FROM call_steps WHERE id NOT IN (SELECT min(id) FROM call_steps GROUP BY call, seq)")
        conn.execute(STEP_KEY)
    conn.execute("DROP INDEX IF EXISTS idx_call_steps_call_seq")  # the key replaces it


#: The rows of one node's processes, and rows that name no node (written
#: before the column existed, or by agiflow-agi).
OF_NODE = " AND (node IS NULL OR node = :node)"
#: The rows of one worker of one node.
OF_WORKER = " AND node = :node AND worker = :worker"


def mark_interrupted(conn: Any, now: str, node: str | None = None, worker: int | None = None) -> int:
    """Close the rows of calls a previous server left running; their count.
    ``conn``: an autocommit connection of either backend.

    Without ``node``, every such row. With ``node``, the rows of that node's
    workers and those that name no node; with ``worker`` too, that worker's
    only. Other servers sharing the database keep their running calls' rows."""
    params: dict[str, Any] = {"interrupted": INTERRUPTED, "now": now}
    scope = ""
    if node is not None:
        scope, params["node"] = (OF_NODE if worker is None else OF_WORKER), node
        if worker is not None:
            params["worker"] = worker
    conn.execute("BEGIN IMMEDIATE")
    try:
        count = conn.execute(MARK_INTERRUPTED + scope, params).rowcount
    except BaseException:
        rollback(conn)
        raise
    conn.execute("COMMIT")
    return int(count)
