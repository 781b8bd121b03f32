"""Rollups: the sums of agi/storage/call_measures.py per quarter hour,
kept beside the calls so that a report over months reads thousands of
rows instead of millions (docs/database.md#rollups).

The tables, on both backends:

- ``call_rollups`` (``CALLS``): one row per quarter hour (``started_at``,
  the UTC start of the quarter hour as the CDR writes times) × flow × flow
  version × queue × agent × direction × status × outcome, with ``SUMS`` of
  the calls that started in it (seconds summed in whole milliseconds, so
  that a sum of rollups is exactly the sum over the calls);
  ``compliance_rollups`` (``COMPLIANCE``): calls per quarter hour × flow ×
  flow version × the compliance report's keys; ``ivr_rollups`` (``IVR``):
  menu steps per quarter hour of their call × flow version × the step's
  flow, menu and choice; ``campaign_rollups`` (``CAMPAIGN``): the
  campaign report's sums of the outbound legs that have ended per quarter
  hour × flow × flow version; ``call_rollups_hourly``: ``call_rollups`` summed
  per hour without agent and status (a fifth of the rows), recomputed
  from the quarter hours of every hour a roll touches.
- ``rollups_pending``: the quarter hours whose calls changed since
  they were rolled up. Triggers on ``calls`` add a call's quarter hour
  whenever a row is inserted, updated or deleted, whoever writes it (the
  server, ``agiflow-agi``, ``db copy``, ``report import-queue-log``), and
  triggers on ``call_steps`` when a menu or schedule step is written or
  deleted. Until schema version 7 it was the table
  ``call_rollups_pending``; that name is now a view that reads it and takes
  no write (``OLD_PENDING_VIEW``), so that an older agiflow still running
  beside a newer one during an upgrade reads the rollups but cannot roll
  them: they are counted only by the newer definitions.
- ``call_rollups_state``: the thresholds (short abandon, service level)
  the rollups were counted with, and the definitions (``counted_by``:
  ``COUNTED_BY``). None yet: nothing is rolled up. A roll leaves rollups
  counted by newer definitions to the newer agiflow, and counts again
  those counted by older ones.

Every rollup table is rolled in the same transaction as the others.

``roll`` recomputes pending quarter hours from the calls, in one
transaction that no call write or other roll can interleave with
(SQLite's write lock; on PostgreSQL a SHARE ROW EXCLUSIVE lock on ``calls``
and ``call_steps``), so a quarter hour that is not
pending always holds exactly the sums of its calls (an hour none of whose
quarter hours is pending, likewise). Readers
(agi/reports/rollup_plan.py) take rollups for quarter hours that are not
pending and read the calls for the rest. The server rolls every minute
(agi/storage/cdr_writer.py); ``agiflow db rollups`` rolls or rebuilds.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator, Mapping

from agi.db.transactions import rollback
from agi.storage.call_measures import (CAMPAIGN_LEG, CAMPAIGN_SUMS, COMPLIANCE_FLAGS, COMPLIANCE_KEYS, IVR_KEYS,
                                       LARGEST, OUTCOME, ROLLED_STEP_TYPES, SMALLEST, SUMS, Thresholds, ivr_sums)

QUARTER = timedelta(minutes=15)
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Rollup:
    """One rollup table: rows keyed by quarter hour (``started_at``) and
    ``keys``, holding ``sums``; each as SQL over the rows of ``source``
    (calls ``c``, and their steps ``s`` where they are joined) that meet
    ``where``. ``postgres_sums`` replaces ``sums`` on PostgreSQL."""

    table: str
    keys: Mapping[str, str]
    sums: Mapping[str, str]
    #: Keys that are numbers, and keys that are never NULL.
    numbers: tuple[str, ...] = ()
    not_null: tuple[str, ...] = ()
    source: str = "calls c"
    where: str = ""
    postgres_sums: Mapping[str, str] | None = None

    def create(self, postgres: bool) -> tuple[str, str]:
        """The table and its index (idempotent)."""
        text = 'TEXT COLLATE "C"' if postgres else "TEXT"
        integer = "BIGINT" if postgres else "INTEGER"
        keys = ", ".join(f"{name} {integer if name in self.numbers else text}"
                         f"{' NOT NULL' if name in self.not_null else ''}" for name in self.keys)
        sums = ", ".join(f"{name} {_column_type(name, postgres)}" for name in self.sums)
        return (f"CREATE TABLE IF NOT EXISTS {self.table} (started_at {text} NOT NULL, {keys}, {sums})",
                f"CREATE INDEX IF NOT EXISTS idx_{self.table}_started ON {self.table} (started_at)")

    def roll(self, postgres: bool) -> str:
        """Its rows of the quarter hours in [:low, :high), from their calls."""
        sums = self.postgres_sums if postgres and self.postgres_sums is not None else self.sums
        return (f"INSERT INTO {self.table} (started_at, {', '.join(self.keys)}, {', '.join(sums)})\n"
                f"SELECT {bucket_sql('c.started_at')}, {', '.join(self.keys.values())}, {', '.join(sums.values())}\n"
                f"FROM {self.source} WHERE c.started_at >= :low AND c.started_at < :high{self.where}\n"
                f"GROUP BY {', '.join(str(i) for i in range(1, len(self.keys) + 2))}")

    @property
    def clear(self) -> str:
        return f"DELETE FROM {self.table} WHERE started_at >= :low AND started_at < :high"


#: What the aggregate reports read: per flow, version, queue, agent,
#: direction, status and outcome, the sums of agi/storage/call_measures.py.
CALLS = Rollup("call_rollups", {
    "flow": "c.flow",
    "flow_version": "c.flow_version",
    "queue": "c.queue",
    "agent": "c.agent",
    "direction": "coalesce(c.direction, 'inbound')",
    "status": "c.status",
    "outcome": OUTCOME,
}, SUMS, not_null=("direction", "status", "outcome"))
#: What the compliance report reads: calls per flow, version and compliance keys.
COMPLIANCE = Rollup("compliance_rollups", {"flow": "c.flow", "flow_version": "c.flow_version", **COMPLIANCE_KEYS},
                    {"calls": "count(*)"}, numbers=COMPLIANCE_FLAGS)
#: What the ivr report reads: menu steps per flow version, step flow, menu and choice.
IVR = Rollup("ivr_rollups", {"flow_version": "c.flow_version", **IVR_KEYS}, ivr_sums(False),
             source="calls c JOIN call_steps s ON s.call = c.id", where=" AND s.type = 'menu'",
             postgres_sums=ivr_sums(True))
#: What the campaign report reads: its sums of the outbound legs that have
#: ended, per flow and version (schema version 7).
CAMPAIGN = Rollup("campaign_rollups", {"flow": "c.flow", "flow_version": "c.flow_version"}, CAMPAIGN_SUMS,
                  where=f" AND {CAMPAIGN_LEG}")
ROLLUPS = (CALLS, COMPLIANCE, IVR, CAMPAIGN)
#: The keys of ``call_rollups_hourly``: those of ``CALLS`` but the agent and
#: the status, which multiply its rows most.
HOURLY_KEYS = ("flow", "flow_version", "queue", "direction", "outcome")
_TEXT_SUMS = ("first_at", "last_at")
_REAL_SUMS = ("max_duration_s",)


def bucket_sql(column: str) -> str:
    """SQL giving the quarter hour of ``column`` (a CDR UTC timestamp,
    ``2025-03-10T09:37:12.345Z``) as a timestamp: ``2025-03-10T09:30:00.000Z``."""
    minute = f"substr({column}, 15, 2)"
    return (f"substr({column}, 1, 14) || CASE WHEN {minute} < '15' THEN '00' WHEN {minute} < '30' THEN '15' "
            f"WHEN {minute} < '45' THEN '30' ELSE '45' END || ':00.000Z'")


def stamp(moment: datetime) -> str:
    """A moment as the CDR writes it (UTC, milliseconds, Z)."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def quarter_floor(moment: datetime) -> datetime:
    """The start of the quarter hour ``moment`` is in (UTC)."""
    utc = moment.astimezone(timezone.utc)
    return utc.replace(minute=utc.minute - utc.minute % 15, second=0, microsecond=0)


def hour_floor(moment: datetime) -> datetime:
    """The start of the hour ``moment`` is in (UTC)."""
    return moment.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)


def hour_ceil(moment: datetime) -> datetime:
    """``moment`` when it starts an hour, else the start of the next one."""
    floor = hour_floor(moment)
    return floor if floor == moment else floor + HOUR


def quarter_ceil(moment: datetime) -> datetime:
    """``moment`` when it starts a quarter hour, else the start of the next one."""
    floor = quarter_floor(moment)
    return floor if floor == moment else floor + QUARTER


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _column_type(name: str, postgres: bool) -> str:
    if name in _TEXT_SUMS:
        return 'TEXT COLLATE "C"' if postgres else "TEXT"
    if name in _REAL_SUMS:
        return "DOUBLE PRECISION" if postgres else "REAL"
    return "BIGINT" if postgres else "INTEGER"


def tables(postgres: bool) -> tuple[str, ...]:
    """The statements that create the rollup tables and their indexes (idempotent)."""
    real = "DOUBLE PRECISION" if postgres else "REAL"
    text = 'TEXT COLLATE "C"' if postgres else "TEXT"
    return (
        *(statement for rollup in ROLLUPS for statement in rollup.create(postgres)),
        *_hourly_table(postgres),
        f"CREATE TABLE IF NOT EXISTS rollups_pending (bucket {text} PRIMARY KEY)"
        + ("" if postgres else " WITHOUT ROWID"),
        f"CREATE TABLE IF NOT EXISTS call_rollups_state (id INTEGER PRIMARY KEY CHECK (id = 1), "
        f"short_abandon {real} NOT NULL, service_level {real} NOT NULL, counted_by INTEGER)",
    )


def hour_sql(column: str) -> str:
    """SQL giving the hour of ``column`` (a CDR UTC timestamp) as a timestamp: ``2025-03-10T09:00:00.000Z``."""
    return f"substr({column}, 1, 13) || ':00:00.000Z'"


def _hourly_table(postgres: bool) -> tuple[str, str]:
    keys = {name: CALLS.keys[name] for name in HOURLY_KEYS}
    return Rollup("call_rollups_hourly", keys, SUMS, not_null=("direction", "outcome")).create(postgres)


#: Each of ``SUMS`` over rollup rows ``c``: counts and totals add, the
#: largest and the first/last are taken again.
SUMMED_AGAIN = {name: f"{'max' if name in LARGEST else 'min' if name in SMALLEST else 'sum'}(c.{name})"
                for name in SUMS}
#: ``call_rollups_hourly``: ``call_rollups`` summed per hour, without agent
#: and status, from the quarter hours of the hours in [:low, :high).
CLEAR_HOURLY = "DELETE FROM call_rollups_hourly WHERE started_at >= :low AND started_at < :high"
ROLL_HOURLY = (f"INSERT INTO call_rollups_hourly (started_at, {', '.join(HOURLY_KEYS)}, {', '.join(SUMS)})\n"
               f"SELECT {hour_sql('c.started_at')}, {', '.join(f'c.{name}' for name in HOURLY_KEYS)}, "
               + ", ".join(SUMMED_AGAIN.values())
               + "\nFROM call_rollups c WHERE c.started_at >= :low AND c.started_at < :high\n"
               f"GROUP BY {', '.join(str(i) for i in range(1, len(HOURLY_KEYS) + 2))}")


def _mark(row: str, sqlite: bool) -> str:
    verb = "INSERT OR IGNORE INTO" if sqlite else "INSERT INTO"
    tail = "" if sqlite else " ON CONFLICT DO NOTHING"
    return f"{verb} rollups_pending (bucket) VALUES ({bucket_sql(row + '.started_at')}){tail};"


#: SQLite: a trigger per change of ``calls`` marks the call's quarter hour pending.
SQLITE_TRIGGERS = (
    f"CREATE TRIGGER IF NOT EXISTS calls_rollup_insert AFTER INSERT ON calls BEGIN {_mark('NEW', True)} END",
    "CREATE TRIGGER IF NOT EXISTS calls_rollup_update AFTER UPDATE ON calls BEGIN "
    f"{_mark('NEW', True)} {_mark('OLD', True)} END",
    f"CREATE TRIGGER IF NOT EXISTS calls_rollup_delete AFTER DELETE ON calls BEGIN {_mark('OLD', True)} END",
)
#: The step types whose rows the rollups count, as an SQL list.
_STEP_TYPES = f"({', '.join(repr(kind) for kind in ROLLED_STEP_TYPES)})"
#: SQLite: a menu or schedule step written or deleted marks its call's
#: quarter hour (``ivr_rollups``, ``campaign_rollups``); steps are never updated.
SQLITE_STEP_TRIGGERS = tuple(
    f"CREATE TRIGGER IF NOT EXISTS call_steps_rollup_{event.lower()} AFTER {event} ON call_steps "
    f"WHEN {row}.type IN {_STEP_TYPES} BEGIN INSERT OR IGNORE INTO rollups_pending (bucket) "
    f"SELECT {bucket_sql('c.started_at')} FROM calls c WHERE c.id = {row}.call; END"
    for event, row in (("INSERT", "NEW"), ("DELETE", "OLD")))
#: SQLite: the triggers of versions 5 and 6 (which marked ``call_rollups_pending``,
#: and menu steps only) dropped, so that the ones above are created anew (version 7).
SQLITE_DROP_TRIGGERS = tuple(f"DROP TRIGGER IF EXISTS {name}" for name in (
    "calls_rollup_insert", "calls_rollup_update", "calls_rollup_delete",
    "call_steps_rollup_insert", "call_steps_rollup_delete"))
#: PostgreSQL: a menu or schedule step written or deleted marks its call's
#: quarter hour (replaced by schema version 7, which added schedule steps).
POSTGRES_STEP_FUNCTION = (
    "CREATE OR REPLACE FUNCTION agiflow_step_rollup_pending() RETURNS trigger LANGUAGE plpgsql AS $fn$ BEGIN "
    f"IF TG_OP = 'INSERT' AND NEW.type IN {_STEP_TYPES} THEN INSERT INTO rollups_pending (bucket) "
    f"SELECT {bucket_sql('c.started_at')} FROM calls c WHERE c.id = NEW.call ON CONFLICT DO NOTHING; END IF; "
    f"IF TG_OP = 'DELETE' AND OLD.type IN {_STEP_TYPES} THEN INSERT INTO rollups_pending (bucket) "
    f"SELECT {bucket_sql('c.started_at')} FROM calls c WHERE c.id = OLD.call ON CONFLICT DO NOTHING; END IF; "
    "RETURN NULL; END $fn$")
#: PostgreSQL: the same as SQLite's triggers, through trigger functions.
POSTGRES_TRIGGERS = (
    "CREATE OR REPLACE FUNCTION agiflow_rollup_pending() RETURNS trigger LANGUAGE plpgsql AS $fn$ BEGIN "
    f"IF TG_OP <> 'INSERT' THEN {_mark('OLD', False)} END IF; "
    f"IF TG_OP <> 'DELETE' THEN {_mark('NEW', False)} END IF; "
    "RETURN NULL; END $fn$",
    "DROP TRIGGER IF EXISTS calls_rollup_pending ON calls",
    "CREATE TRIGGER calls_rollup_pending AFTER INSERT OR UPDATE OR DELETE ON calls "
    "FOR EACH ROW EXECUTE FUNCTION agiflow_rollup_pending()",
    POSTGRES_STEP_FUNCTION,
    "DROP TRIGGER IF EXISTS call_steps_rollup_pending ON call_steps",
    "CREATE TRIGGER call_steps_rollup_pending AFTER INSERT OR DELETE ON call_steps "
    "FOR EACH ROW EXECUTE FUNCTION agiflow_step_rollup_pending()",
)

#: The name the pending quarter hours had until version 7, as a view: older
#: agiflow versions read through it, and their rolls, which delete from it,
#: fail and change nothing (SQLite writes no view; PostgreSQL none with DISTINCT).
OLD_PENDING_VIEW = "CREATE VIEW call_rollups_pending AS SELECT DISTINCT bucket FROM rollups_pending"

CLEAR_BUCKET = "DELETE FROM rollups_pending WHERE bucket = :bucket"
PENDING_BEFORE = "SELECT bucket FROM rollups_pending WHERE bucket < :before ORDER BY bucket LIMIT :limit"
COUNT_PENDING = "SELECT count(*) FROM rollups_pending"
#: The schema version whose definitions these rollups count: a version that
#: changes what any rollup counts raises it (agi/storage/migrations.py).
COUNTED_BY = 7
READ_STATE = "SELECT short_abandon, service_level, counted_by FROM call_rollups_state"
#: Forget every rollup and mark every quarter hour that has calls pending.
RESET = (
    *(f"DELETE FROM {table}" for table in (*(rollup.table for rollup in ROLLUPS), "call_rollups_hourly")),
    "DELETE FROM rollups_pending",
    f"INSERT INTO rollups_pending (bucket) SELECT DISTINCT {bucket_sql('started_at')} FROM calls",
    "DELETE FROM call_rollups_state",
    "INSERT INTO call_rollups_state (id, short_abandon, service_level, counted_by) "
    f"VALUES (1, :short_abandon, :service_level, {COUNTED_BY})",
)
#: PostgreSQL: wait for the call writes in flight, then keep new ones and
#: other servers' rolls out until the roll commits; give up this round
#: after half a second (writes queue behind a waiting lock).
POSTGRES_LOCK = ("SET LOCAL lock_timeout = '500ms'", "LOCK TABLE calls, call_steps IN SHARE ROW EXCLUSIVE MODE")


def quarter_of(text: str) -> datetime | None:
    """The quarter hour (UTC) a pending bucket names, whatever its spelling;
    None when it names no time (a call's ``started_at`` written by hand)."""
    try:
        moment = parse(text)
    except (TypeError, ValueError):
        return None
    return quarter_floor(moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc))


def runs(buckets: list[str]) -> Iterator[tuple[str, str]]:
    """The quarter hours ``buckets`` name, in time order, as [low, high)
    runs of consecutive ones; buckets that name no time are left out."""
    low = high = None
    for start in sorted({quarter for quarter in map(quarter_of, buckets) if quarter is not None}):
        if high is not None and start == high:
            high = start + QUARTER
            continue
        if low is not None and high is not None:
            yield stamp(low), stamp(high)
        low, high = start, start + QUARTER
    if low is not None and high is not None:
        yield stamp(low), stamp(high)


def counted_with(row: Any) -> Thresholds | None:
    """The thresholds of a row of ``READ_STATE`` (or None), when it says
    the rollups were counted by ``COUNTED_BY``; else None."""
    if row is None or row[2] != COUNTED_BY:
        return None
    return Thresholds(float(row[0]), float(row[1]))


def roll(conn: Any, thresholds: Thresholds, *, postgres: bool, before: datetime, limit: int = 96,
         rebuild: bool = False) -> tuple[int, int]:
    """Recompute up to ``limit`` pending quarter hours that start before
    ``before``, oldest first, in one transaction on ``conn`` (autocommit,
    either backend). When the rollups were counted with other thresholds
    or older definitions, or ``rebuild``, every rollup is forgotten first
    and every quarter hour with calls becomes pending; when newer
    definitions counted them (a newer agiflow beside this one), nothing is
    rolled. Returns (quarter hours rolled, still pending)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        if postgres:
            for statement in POSTGRES_LOCK:
                conn.execute(statement)
        found = conn.execute(READ_STATE).fetchone()
        newer = found is not None and (found[2] or 0) > COUNTED_BY
        if not newer and (rebuild or counted_with(found) != thresholds):
            for statement in RESET:
                conn.execute(statement, thresholds.params())
        params: dict[str, Any] = {"before": stamp(before), "limit": limit}
        buckets = [] if newer else [row[0] for row in conn.execute(PENDING_BEFORE, params).fetchall()]
        for low, high in runs(buckets):
            span = {"low": low, "high": high}
            for rollup in ROLLUPS:
                conn.execute(rollup.clear, span)
                conn.execute(rollup.roll(postgres), {**span, **thresholds.params()})
            hours = {"low": stamp(hour_floor(parse(low))), "high": stamp(hour_ceil(parse(high)))}
            conn.execute(CLEAR_HOURLY, hours)
            conn.execute(ROLL_HOURLY, hours)
        for bucket in buckets:  # as read: a bucket spelt otherwise is never left pending
            conn.execute(CLEAR_BUCKET, {"bucket": bucket})
        left = int(conn.execute(COUNT_PENDING).fetchone()[0])
    except BaseException:
        rollback(conn)
        raise
    conn.execute("COMMIT")
    return len(buckets), left


def roll_database(database: Any, thresholds: Thresholds, *, now: datetime, rebuild: bool = False,
                  progress: Any = None) -> tuple[int, int]:
    """Roll every pending quarter hour of ``database`` that has ended by
    ``now`` (``rebuild``: every quarter hour), a day of them per
    transaction, so that the servers' writes wait at most one day's roll;
    a transaction that waited too long for its lock is tried again, up to
    ``LOCK_TRIES`` times.
    ``progress(rolled, pending)`` after each transaction. Returns (quarter
    hours rolled, still pending: the current one, or those written meanwhile)."""
    from agi.db.location import PostgresUrl
    from agi.storage import connections

    postgres = isinstance(database, PostgresUrl)
    conn = connections.writer_connector(database, 30.0)(str(database))
    connections.prepare_writer(conn, 30.0)
    total, first = 0, True
    busy = _lock_timeout() if postgres else ()
    tries = 0
    try:
        while True:
            try:
                rolled, left = roll(conn, thresholds, postgres=postgres, before=quarter_floor(now),
                                    rebuild=rebuild and first)
            except busy:
                tries += 1
                if tries == LOCK_TRIES:
                    raise
                continue
            first = False
            total += rolled
            if progress is not None:
                progress(total, left)
            if not rolled:
                return total, left
    finally:
        conn.close()


#: How many times ``roll_database`` tries a transaction whose lock was taken.
LOCK_TRIES = 20


def _lock_timeout() -> tuple[type[Exception], ...]:
    from psycopg import errors
    return (errors.LockNotAvailable,)
