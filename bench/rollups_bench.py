"""What do the rollups cost the CDR writer, and how long does a roll take?

Writes N calls (default 50,000; ``--quick`` 10,000) through the CDR
writer's own batches (agi/storage/cdr_batch.py: an insert when the call
starts, an update when it ends, 500 operations a transaction) into a new
database with the rollup triggers, and into one without them (the
baseline, same run), alternating, best of ``--runs``. Then rolls every
quarter hour of those calls (the server's minute roll, a day per
transaction) and rolls them all again with ``--rebuild``. SQLite, and
PostgreSQL with ``--postgres URL`` (a server where databases may be
created). Prints microseconds per call and seconds per roll; speed is
never asserted.
"""
from __future__ import annotations

import argparse
import contextlib
import sqlite3
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from agi.db.location import PostgresUrl, parse_database
from agi.storage import connections
from agi.storage.call_measures import DEFAULT_THRESHOLDS
from agi.storage.cdr_batch import apply_batch
from agi.storage.migrations import upgrade
from agi.storage.rollups import roll_database, stamp

START = datetime(2025, 3, 1, tzinfo=timezone.utc)
BATCH = 500
TRIGGERS = {"sqlite": ("calls_rollup_insert", "calls_rollup_update", "calls_rollup_delete")}


def operations(count: int) -> Iterator[tuple[str, Any]]:
    """A call every 3 s: its insert, then its end one call later, as the writer sees them."""
    previous: str | None = None
    for n in range(count):
        key = uuid.uuid4().hex
        moment = START + timedelta(seconds=3 * n)
        yield "insert_call", {"id": key, "call_id": f"{n}.1", "started_at": stamp(moment), "status": "in_progress",
                              "flow": ("support", "sales")[n % 2], "caller": f"+34600{n % 5000:06d}",
                              "direction": "inbound"}
        if previous is not None:
            yield "update_call", (previous, {"status": "completed", "queue": "sales", "queue_status": "ANSWERED",
                                             "queue_wait": 4.5, "talk_time": 61.0, "duration": 70.0,
                                             "agent": f"agent{n % 20}", "ended_at": stamp(moment)})
        previous = key


def write(database: Any, count: int) -> float:
    """Seconds of CPU and waiting to write ``count`` calls in writer batches."""
    conn = connections.writer_connector(database, 30.0)(str(database))
    connections.prepare_writer(conn, 30.0)
    batch: list[tuple[str, Any]] = []
    started = time.perf_counter()
    for operation in operations(count):
        batch.append(operation)
        if len(batch) == BATCH:
            _commit(conn, batch)
            batch = []
    if batch:
        _commit(conn, batch)
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def _commit(conn: Any, batch: list[tuple[str, Any]]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    apply_batch(conn, batch)
    conn.execute("COMMIT")


@contextlib.contextmanager
def sqlite_database(triggers: bool) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cdr.db"
        upgrade(path)
        if not triggers:
            with contextlib.closing(sqlite3.connect(path)) as conn:
                for name in TRIGGERS["sqlite"]:
                    conn.execute(f"DROP TRIGGER {name}")
        yield path


@contextlib.contextmanager
def postgres_database(server: str, triggers: bool) -> Iterator[PostgresUrl]:
    import psycopg

    name = f"agiflow_rollups_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = parse_database(server.rsplit("/", 1)[0] + "/" + name)
    assert isinstance(url, PostgresUrl)
    try:
        upgrade(url)
        if not triggers:
            with psycopg.connect(url.url, autocommit=True) as conn:
                conn.execute("DROP TRIGGER calls_rollup_pending ON calls")
        yield url
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def measure(name: str, make: Callable[[bool], Any], count: int, runs: int) -> None:
    best: dict[bool, float] = {}
    for _ in range(runs):
        for triggers in (False, True):
            with make(triggers) as database:
                seconds = write(database, count)
                best[triggers] = min(best.get(triggers, seconds), seconds)
                if triggers:
                    rolled = _timed(lambda: roll_database(database, DEFAULT_THRESHOLDS, now=datetime.now(timezone.utc)))
                    rebuilt = _timed(lambda: roll_database(database, DEFAULT_THRESHOLDS,
                                                           now=datetime.now(timezone.utc), rebuild=True))
    per_call = {triggers: 1e6 * seconds / count for triggers, seconds in best.items()}
    print(f"{name:<11}{count:>9,}{per_call[False]:>12.1f}{per_call[True]:>12.1f}"
          f"{per_call[True] / per_call[False]:>8.2f}x{rolled:>10.2f}{rebuilt:>10.2f}", flush=True)


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=None, help="calls to write (default 50,000; quick 10,000)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each, the best kept (default 3)")
    parser.add_argument("--quick", action="store_true", help="10,000 calls, one run")
    parser.add_argument("--postgres", metavar="URL", help="also on PostgreSQL: a server URL to create databases on, "
                        "e.g. postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    count = args.calls or (10_000 if args.quick else 50_000)
    runs = 1 if args.quick else args.runs
    print(f"{'backend':<11}{'calls':>9}{'us/call':>12}{'us/call':>12}{'ratio':>9}{'roll s':>10}{'rebuild s':>10}")
    print(f"{'':<11}{'':>9}{'no trigger':>12}{'triggers':>12}")
    measure("SQLite", sqlite_database, count, runs)
    if args.postgres:
        measure("PostgreSQL", lambda triggers: postgres_database(args.postgres, triggers), count, runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
