"""Benchmark: one worker against N workers (``agiflow serve --workers N``).

The reference call (``bench/reference.yaml``, 13 AGI commands, CDRs in one
SQLite file) is made by ``bench/loadgen.py`` against ``agiflow serve`` run
four ways, each on a fresh database:

- **1 worker, 1 core**: the server pinned to one CPU, the load generator
  to the other: what one core gives when the load costs it nothing;
- **N workers, N cores shared with the load**: nothing pinned, so the
  load generator takes its share of the same cores: what this machine can
  show end to end;
- **1 worker, N cores shared with the load**: the same for one worker;
- **N workers on 1 core**: pinned like the first run: what N processes
  cost over one on the same core (scheduling, N CDR writers on one file).

For each run: calls/s, the server's CPU per call (utime + stime of the
supervisor and every worker, from /proc), the load generator's CPU per
call (its rusage), how the calls spread over the workers (the CDR ``node``
column), how many CDRs were on disk when the load ended, and whether a
writer met a lock it could not wait out (``cannot write CDRs`` in the log).
Every server is up from the start (an idle one uses no CPU), and each of
the ``--rounds`` rounds runs every setup in turn, so that a busier minute of
a shared machine weighs on all of them alike; each figure is the median of
the rounds.

**Capacity** is what the server side alone would give if it had its cores
to itself: calls/s ÷ the cores its processes kept busy. Its ratio for N
workers over one worker is the scaling the machine cannot show end to end
when the load generator needs cores too.

With ``--database postgresql`` every server writes to a PostgreSQL
database of its own (created on the local server, or from ``--url``, and
dropped at the end) instead of a SQLite file, and the table adds
PostgreSQL's CPU per call: that of the backends serving that database
(the server's CDR writers), from /proc.

Checks (exit status 1 when one fails): every call completed, one completed
CDR row per call, the server exited 0 after SIGTERM.

    PYTHONPATH=. python bench/fleet.py [--quick] [--workers N] [--database postgresql] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.procstat import ROOT, LoadRun, ServerProcess, agiflow_server, cpu_seconds, cpus, free_port
from bench.postgres_bench import admin_url

REFERENCE_FLOW = ROOT / "bench" / "reference.yaml"


@dataclass
class Setup:
    label: str
    workers: int
    server_cpus: set[int] | None
    load_cpus: set[int] | None


@dataclass
class Figures:
    setup: Setup
    calls: int = 0
    calls_per_second: float = 0.0
    server_cpu_ms: float = 0.0
    load_cpu_ms: float = 0.0
    busy_cores: float = 0.0
    capacity: float = 0.0
    p99_ms: float = 0.0
    postgres_cpu_ms: float = 0.0
    per_worker: dict[str, int] = field(default_factory=dict)
    on_disk_at_end: int = 0
    lock_errors: int = 0
    exit_code: int = 0
    problems: list[str] = field(default_factory=list)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Store:
    """Where a setup's server keeps its CDRs: a SQLite file in its folder,
    or a PostgreSQL database of its own."""

    def __init__(self, folder: Path, admin: str | None, name: str) -> None:
        self.path = folder / "cdr.db"
        self.admin, self.url = admin, None
        if admin is not None:
            import psycopg
            from bench.postgres_bench import database_url
            from agi.storage.migrations import upgrade
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                conn.execute(f"CREATE DATABASE {name}")
            self.name = name
            self.url = database_url(admin, name)
            upgrade(self.url)

    @property
    def database(self) -> str:
        return self.url.url if self.url is not None else "cdr.db"

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        if self.url is not None:
            import psycopg
            with psycopg.connect(self.url.url) as conn:
                return list(conn.execute(sql).fetchall())
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            return db.execute(sql).fetchall()
        finally:
            db.close()

    def completed_rows(self) -> dict[str, int]:
        rows = self.query("SELECT worker, count(*) FROM calls WHERE status = 'completed' GROUP BY worker")
        return {f"worker {worker}": int(count) for worker, count in rows}

    def backend_cpu(self) -> float:
        """CPU seconds of the PostgreSQL backends connected to this database (0 on SQLite)."""
        if self.url is None:
            return 0.0
        pids = self.query(f"SELECT pid FROM pg_stat_activity WHERE datname = '{self.name}' "
                          "AND pid <> pg_backend_pid()")
        return sum(cpu_seconds(int(pid)) for pid, in pids)

    def drop(self) -> None:
        if self.admin is not None:
            import psycopg
            with psycopg.connect(self.admin, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")


def one_round(server_pid: int, port: int, setup: Setup, calls: int, concurrency: int, first: int,
              store: Store) -> dict[str, float]:
    server_before, load_before, pg_before = cpu_seconds(server_pid), children_cpu(), store.backend_cpu()
    started = time.monotonic()
    load = LoadRun(["run", "--port", str(port), "--calls", str(calls), "--concurrency", str(concurrency),
                    "--expect-commands", "13", "--first", str(first)], cpu=setup.load_cpus)
    seconds = time.monotonic() - started
    server = cpu_seconds(server_pid) - server_before
    postgres = store.backend_cpu() - pg_before
    result = load.result
    done = max(result.get("completed", 0), 1)
    if load.exit_code or result.get("completed") != calls:
        raise RuntimeError(f"{result.get('completed')} of {calls} calls completed: {result.get('failures', [])[:3]}")
    return {"calls_per_second": result.get("calls_per_second", 0.0), "server_cpu_ms": server / done * 1000,
            "load_cpu_ms": (children_cpu() - load_before) / done * 1000, "busy_cores": server / seconds,
            "p99_ms": result.get("latency", {}).get("load", {}).get("p99_ms", 0.0),
            "postgres_cpu_ms": postgres / done * 1000}


def measure(all_setups: list[Setup], args: argparse.Namespace) -> list[Figures]:
    """Every server started (an idle one uses no CPU) and warmed up, then
    ``args.rounds`` rounds, each running every setup in turn, so that a busier
    minute of a shared machine weighs on all of them alike; then each server
    is stopped and its CDRs are checked."""
    with ExitStack() as stack:
        runs: list[tuple[Setup, Figures, ServerProcess, Store, int]] = []
        for n, setup in enumerate(all_setups):
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="agiflow-fleet-")))
            store = Store(folder, args.admin, f"agiflow_fleet_{n}")
            stack.callback(store.drop)
            port = free_port()
            server = agiflow_server(folder, REFERENCE_FLOW, port, cpu=setup.server_cpus, workers=setup.workers,
                                    node="bench", database=store.database)
            stack.callback(server.stop)
            figures = Figures(setup)
            warm = LoadRun(["run", "--port", str(port), "--calls", "300", "--concurrency", "20"],
                           cpu=setup.load_cpus)
            figures.calls += warm.result.get("started", 0)
            runs.append((setup, figures, server, store, port))
        rounds: dict[str, list[dict[str, float]]] = {setup.label: [] for setup in all_setups}
        for n in range(args.rounds):
            print(f"== round {n + 1} of {args.rounds}", flush=True)
            for setup, figures, server, store, port in runs:
                try:
                    rounds[setup.label].append(one_round(server.pid, port, setup, args.calls // args.rounds,
                                                         args.concurrency, 100000 + n * args.calls, store))
                except RuntimeError as exc:
                    figures.problems.append(str(exc))
                figures.calls += args.calls // args.rounds
        for setup, figures, server, store, _ in runs:
            figures.on_disk_at_end = sum(store.completed_rows().values())
            figures.exit_code = server.stop()
            finish(figures, rounds[setup.label], server, store)
        return [figures for _, figures, *_ in runs]


def finish(figures: Figures, rounds: list[dict[str, float]], server: ServerProcess, store: Store) -> None:
    """The medians of the rounds, and the checks of the stopped server's CDRs."""
    for key in ("calls_per_second", "server_cpu_ms", "load_cpu_ms", "busy_cores", "p99_ms", "postgres_cpu_ms"):
        if rounds:
            setattr(figures, key, statistics.median(r[key] for r in rounds))
    figures.capacity = figures.calls_per_second / figures.busy_cores if figures.busy_cores else 0.0
    figures.per_worker = store.completed_rows()
    figures.lock_errors = sum("cannot write CDRs" in line for line in server.lines)
    total = sum(figures.per_worker.values())
    if total != figures.calls or figures.exit_code:
        figures.problems.append(f"{total} completed CDR rows for {figures.calls} calls, "
                                f"exit status {figures.exit_code}")


def setups(workers: int) -> list[Setup]:
    available = cpus()
    if len(available) < 2:
        return [Setup("1 worker", 1, None, None), Setup(f"{workers} workers", workers, None, None)]
    one, other = {available[0]}, set(available[1:])
    shared = len(available)
    return [Setup("1 worker, 1 core; load on another", 1, one, other),
            Setup(f"1 worker, {shared} cores shared with the load", 1, None, None),
            Setup(f"{workers} workers, {shared} cores shared with the load", workers, None, None),
            Setup(f"{workers} workers on 1 core; load on another", workers, one, other)]


def report(runs: list[Figures], args: argparse.Namespace) -> None:
    print(f"\nReference call, 13 AGI commands, CDRs in {args.database}; {args.calls} calls a run in "
          f"{args.rounds} rounds, {args.concurrency} at once.\n")
    print(f"{'':46}{'calls/s':>9}{'server':>9}{'pg':>8}{'load':>8}{'busy':>7}{'capacity':>10}{'p99':>8}"
          f"{'on disk':>9}{'lock':>6}")
    print(f"{'':46}{'':>9}{'ms/call':>9}{'ms/call':>8}{'ms/call':>8}{'cores':>7}{'calls/s':>10}{'ms':>8}"
          f"{'at end':>9}{'errs':>6}")
    for f in runs:
        print(f"{f.setup.label:46}{f.calls_per_second:9.0f}{f.server_cpu_ms:9.3f}{f.postgres_cpu_ms:8.3f}"
              f"{f.load_cpu_ms:8.3f}{f.busy_cores:7.2f}{f.capacity:10.0f}{f.p99_ms:8.2f}{f.on_disk_at_end:9}"
              f"{f.lock_errors:6}")
    base = runs[0]
    for f in runs[1:]:
        if base.capacity and base.calls_per_second:
            print(f"{f.setup.label}: calls/s x{f.calls_per_second / base.calls_per_second:.2f}, "
                  f"capacity x{f.capacity / base.capacity:.2f} of '{base.setup.label}'")
    for f in runs:
        spread = ", ".join(f"{node}: {count}" for node, count in sorted(f.per_worker.items()))
        print(f"{f.setup.label}: {f.calls} calls, CDR rows by worker {spread}; exit status {f.exit_code}: "
              f"{'FAILED ' + '; '.join(f.problems) if f.problems else 'OK'}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run, for make bench")
    parser.add_argument("--workers", type=int, default=None, help="N (default: the CPUs there are)")
    parser.add_argument("--calls", type=int, default=None, help="calls a run (default 6000, quick 1500)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds a run is split into (default 5, quick 1)")
    parser.add_argument("--concurrency", type=int, default=50, help="calls at once (default 50)")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite",
                        help="where the servers keep their CDRs (default sqlite)")
    parser.add_argument("--url", default=None, help="with --database postgresql: a PostgreSQL database "
                        "to create the servers' databases from (default: the local server)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    args.admin = None
    if args.database == "postgresql":
        args.admin = admin_url(args.url)
        if args.admin is None:
            parser.error("no PostgreSQL server answers (give --url)")
    args.workers = args.workers or max(2, len(cpus()))
    args.calls = args.calls or (1500 if args.quick else 6000)
    args.rounds = args.rounds or (1 if args.quick else 5)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    runs = measure(setups(args.workers), args)
    report(runs, args)
    if args.json:
        args.json.write_text(json.dumps([{**f.__dict__, "setup": f.setup.label} for f in runs], indent=2,
                                        default=str), encoding="utf-8")
    return 1 if any(f.problems for f in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
