"""SQLite against PostgreSQL: calls a second and CPU per call, a list import
with COPY, and lookup latency under load.

1. Import: a CSV of N numbers (lists_bench's file: Spanish numbers in the
   usual shapes, 1 line in 1000 bad) into a PostgreSQL list, as
   ``agiflow lists import`` does (read and normalise, COPY into a temporary
   table, one INSERT ... SELECT into the list). Times the whole import and the
   rows a second.
2. Calls: ``agiflow serve`` (one process, pinned to CPU 0) on the reference
   flow with a lookup of the caller in the imported list (reference_lookup.yaml), ``--calls`` calls at ``--concurrency``, first with a SQLite file,
   then with the PostgreSQL database. Prints calls/s, the server's CPU
   milliseconds per call, and PostgreSQL's: that of the backends serving
   the server's connections (its CDR writer, its lookups), from /proc.
3. Lookups under load: the ``lookup`` step of every call, as the server
   recorded its duration in ``call_steps`` (sent and read on the server's
   reactor since 2026-12-05, before that through a database thread: what a
   call waits); during the PostgreSQL run, 4
   threads of this process looking numbers up in the imported list through
   ``PostgresNumberLists`` (the server's store), half listed, half not,
   and a fifth sending ``SELECT 1`` at the same pace: the floor of a round
   trip on this machine at that moment. p50, p99 and max in milliseconds.

With ``--keep DIR`` the list (the SQLite file in DIR, the PostgreSQL
database ``agiflow_bench``) is kept, and a later run with the same DIR and
``--numbers`` imports nothing: the calls and lookups can be measured again
on 50 million entries without importing them again.

The PostgreSQL server is ``--url`` (a database this may create databases
from), else one on the local socket or 127.0.0.1:5432 as user postgres.
A database ``agiflow_bench`` is created and dropped.

    PYTHONPATH=. python bench/postgres_bench.py [--quick] [--numbers N] [--calls N]
"""
from __future__ import annotations

import argparse
import contextlib
import random
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

from agi.db.location import PostgresUrl
from agi.lists.csvio import ReadReport, read_entries
from agi.lists.numbers import Normaliser
from agi.db import postgres as pg
from agi.lists.pg_store import LOOKUP_STATEMENT_TIMEOUT_MS, PostgresNumberLists
from agi.storage.migrations import upgrade
from agi.storage.stores import list_admin
from agi.vocabulary import iso
from bench.lists_bench import national, write_csv
from bench.procstat import ROOT, LoadRun, agiflow_server, cpu_seconds, free_port

CANDIDATES = ("postgresql://postgres@/postgres?host=/var/run/postgresql",
              "postgresql://postgres@127.0.0.1:5432/postgres")
BENCH_DB = "agiflow_bench"


def admin_url(given: str | None) -> str | None:
    for url in ([given] if given else []) + list(CANDIDATES):
        try:
            psycopg.connect(url, connect_timeout=2).close()
            return url
        except psycopg.Error:
            continue
    return None


def database_url(admin: str, name: str) -> PostgresUrl:
    """The URL of database ``name`` on the server of ``admin``."""
    head, _, query = admin.partition("?")
    return PostgresUrl(head.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else ""))


def fresh_database(admin: str) -> PostgresUrl:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    return database_url(admin, BENCH_DB)


def server_backends(url: PostgresUrl) -> dict[int, float]:
    """CPU seconds so far of each backend serving ``url``'s database for an
    agiflow server (application name ``agiflow ...``): not this script's
    lookup threads, nor any other database of the machine."""
    with psycopg.connect(url.url, autocommit=True) as conn:
        pids = [pid for pid, in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name LIKE 'agiflow%' AND application_name NOT LIKE 'agiflow bench%'").fetchall()]
    found = {}
    for pid in pids:
        try:
            found[pid] = cpu_seconds(pid)
        except (OSError, ValueError, IndexError):
            continue
    return found


def postgres_cpu_since(url: PostgresUrl | None, before: dict[int, float]) -> float:
    if url is None:
        return 0.0
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in server_backends(url).items())


def import_list(url: PostgresUrl, csv_path: Path) -> tuple[float, int]:
    started = time.perf_counter()
    with list_admin(url) as admin, csv_path.open(encoding="utf-8", newline="") as source:
        result = admin.import_entries("robinson", read_entries(source, Normaliser("ES"), ReadReport()))
    return time.perf_counter() - started, result.entries


class Lookups(threading.Thread):
    """``threads`` threads looking numbers up until stopped, and one more
    sending ``SELECT 1`` on a connection of its own at the same pace: the
    floor a round trip to PostgreSQL has on this machine at that moment.
    Milliseconds each."""

    def __init__(self, url: PostgresUrl, count: int, threads: int = 4) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.store = PostgresNumberLists(url, "ES", threads=threads, wait=2.0)
        self.store._pool = pg.pool(url, size=threads, timeout=2.0, statement_timeout_ms=LOOKUP_STATEMENT_TIMEOUT_MS,
                                   name="bench lookups")  # told apart from the server's backends
        self.count = count
        self.threads = threads
        self.times: list[float] = []
        self.floor: list[float] = []
        self.stop = threading.Event()

    def one(self, seed: int) -> None:
        rng = random.Random(seed)
        while not self.stop.is_set():
            i = rng.randrange(self.count * 2)
            number = national(i) if i < self.count else str(700_000_000 + i)
            started = time.perf_counter()
            self.store.match("robinson", number)
            self.times.append((time.perf_counter() - started) * 1000)
            time.sleep(0.001)

    def select_1(self) -> None:
        with psycopg.connect(self.url.url, autocommit=True, application_name="bench floor") as conn:
            while not self.stop.is_set():
                started = time.perf_counter()
                conn.execute("SELECT 1").fetchone()
                self.floor.append((time.perf_counter() - started) * 1000)
                time.sleep(0.001)

    def run(self) -> None:
        workers = [threading.Thread(target=self.one, args=(n,), daemon=True) for n in range(self.threads)]
        workers.append(threading.Thread(target=self.select_1, daemon=True))
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()


def calls_run(name: str, database: str, calls: int, concurrency: int, folder: Path,
              rate: float = 0.0) -> dict[str, Any]:
    port = free_port()
    server = agiflow_server(folder, ROOT / "bench" / "reference_lookup.yaml", port, cpu=0, database=database)
    since = iso(time.time())
    pg_url = PostgresUrl(database) if name == "postgresql" else None
    before, pg_before = cpu_seconds(server.pid), server_backends(pg_url) if pg_url else {}
    load = LoadRun(["run", "--port", str(port), "--calls", str(calls), "--concurrency", str(concurrency),
                    "--rate", str(rate)], cpu=1)
    took = load.result.get("seconds", 0.0)
    server_cpu, pg_cpu = cpu_seconds(server.pid) - before, postgres_cpu_since(pg_url, pg_before)
    server.stop()
    done = load.result.get("completed", 0)
    return {"calls": done, "calls_per_s": done / took if took else 0.0,
            "server_ms": 1000 * server_cpu / done if done else 0.0,
            "postgres_ms": 1000 * pg_cpu / done if done and name == "postgresql" else 0.0,
            "lookup_ms": lookup_steps(database if name == "postgresql" else folder / "cdr.db", since),
            "failed": load.exit_code}


def lookup_steps(database: str | Path, since: str | None) -> list[float]:
    """The ``lookup`` steps' durations (ms) since ``since``, as the server
    recorded them: the lookup as a call waits for it, the hop to a database
    thread and back included."""
    sql = "SELECT duration_ms, outcome FROM call_steps WHERE type = 'lookup' AND started_at >= ?"
    if isinstance(database, Path):
        with contextlib.closing(sqlite3.connect(database)) as db:
            rows = db.execute(sql, (since,)).fetchall()
    else:
        with psycopg.connect(database) as conn:
            rows = conn.execute(sql.replace("?", "%s"), (since,)).fetchall()
    errors = sum(outcome == "error" for _, outcome in rows)
    if errors:
        print(f"{errors} lookups of {len(rows)} ended in error", flush=True)
    return [float(ms) for ms, _ in rows]


def prepare(admin: str, folder: Path, numbers: int) -> PostgresUrl:
    """The database with its list of ``numbers`` numbers, and a SQLite file
    with the same list in ``folder/sqlite``; made once for a ``--keep``
    folder that already holds them (its ``imported`` file says how many)."""
    marker = folder / "imported"
    kept = database_url(admin, BENCH_DB)
    if marker.exists() and marker.read_text().strip() == str(numbers) and admin_url(kept.url):
        print(f"reusing the {numbers:,} numbers imported in {folder} and {BENCH_DB}", flush=True)
        return kept
    marker.unlink(missing_ok=True)
    url = fresh_database(admin)
    upgrade(url)
    csv_path = folder / "numbers.csv"
    write_csv(csv_path, numbers)
    took, entries = import_list(url, csv_path)
    with psycopg.connect(url.url) as conn:
        size = conn.execute(f"SELECT pg_size_pretty(pg_database_size('{BENCH_DB}'))").fetchone()
    print(f"import: {entries:,} entries in {took:.1f} s ({entries / took:,.0f} a second); "
          f"database {size[0] if size else '?'}", flush=True)
    (folder / "sqlite").mkdir(exist_ok=True)
    (folder / "sqlite" / "cdr.db").unlink(missing_ok=True)
    started = time.perf_counter()
    with list_admin(folder / "sqlite" / "cdr.db") as sqlite_lists, csv_path.open(encoding="utf-8") as source:
        sqlite_lists.import_entries("robinson", read_entries(source, Normaliser("ES"), ReadReport()))
    print(f"the same list into SQLite in {time.perf_counter() - started:.1f} s", flush=True)
    csv_path.unlink()
    marker.write_text(str(numbers))
    return url


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=None, help="a PostgreSQL database to create the bench database from")
    parser.add_argument("--numbers", type=int, default=None, help="numbers to import (default 5,000,000; quick 200,000)")
    parser.add_argument("--calls", type=int, default=None, help="calls per backend (default 6000; quick 1500)")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--rate", type=float, default=0.0,
                        help="new calls a second (default: as fast as the server takes them)")
    parser.add_argument("--quick", action="store_true", help="the short run used by make bench")
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the SQLite list in this folder and the database agiflow_bench; "
                             "a later run with the same folder and --numbers imports nothing")
    args = parser.parse_args()
    numbers = args.numbers or (200_000 if args.quick else 5_000_000)
    calls = args.calls or (1500 if args.quick else 6000)
    admin = admin_url(args.url)
    if admin is None:
        print("no PostgreSQL server answers: nothing measured (give --url)")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        url = prepare(admin, folder, numbers)
        sqlite = calls_run("sqlite", "cdr.db", calls, args.concurrency, folder / "sqlite", args.rate)
        lookups = Lookups(url, numbers)
        lookups.start()
        postgres = calls_run("postgresql", url.url, calls, args.concurrency, folder / "postgres", args.rate)
        lookups.stop.set()
        lookups.join()
        lookups.store.close()
    print(f"{'backend':<11} {'calls':>6} {'calls/s':>8} {'server ms/call':>15} {'postgres ms/call':>17}")
    for name, run in (("sqlite", sqlite), ("postgresql", postgres)):
        print(f"{name:<11} {run['calls']:>6.0f} {run['calls_per_s']:>8.0f} {run['server_ms']:>15.2f} "
              f"{run['postgres_ms']:>17.2f}")
    for label, times in (("sqlite: lookup steps of the calls", sqlite["lookup_ms"]),
                         ("postgresql: lookup steps of the calls", postgres["lookup_ms"]),
                         ("postgresql: 4 threads beside the server", lookups.times),
                         ("postgresql: SELECT 1 beside them (the floor)", lookups.floor)):
        print(f"{label}: {len(times):,}; p50 {pct(times, 0.5):.2f} ms, p99 {pct(times, 0.99):.2f} ms, "
              f"max {max(times, default=float('nan')):.2f} ms")
    if args.keep is None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
    return int(bool(sqlite["failed"] or postgres["failed"]))


if __name__ == "__main__":
    sys.exit(main())
