"""PostgreSQL list lookups as a call waits for them: sent from the reactor
(``ReactorLists``, what ``agiflow serve`` does) against the baseline of the
same store through the database threads (``ThreadedLists``, what it did
before), in the same run, on the same list and reactor.

Each round starts lookups at ``--rate`` a second for ``--seconds`` (half
of the numbers listed, half not) and records, for each, the time from the
call asking to the answer reaching the reactor. Rounds alternate between
the two ways (``--rounds`` of each), so that a change in the machine's load
hits both alike. A fourth line, ``SELECT 1`` from a thread of its own at
the same pace, is the floor of a round trip to PostgreSQL at that moment.
Prints p50, p99 and max in milliseconds for each way over all its rounds,
with the machine's load average.

The server is ``--url`` (a database this may create databases from), else
the one on 127.0.0.1:5432 as user postgres. A database
``agiflow_lookups_bench`` is created and dropped.

    PYTHONPATH=. python bench/pg_lookups_bench.py [--rate 300] [--seconds 5] [--rounds 3]
"""
from __future__ import annotations

import argparse
import io
import os
import random
import sys
import threading
import time
from pathlib import Path
from statistics import quantiles
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from twisted.internet import defer, task
from twisted.internet.pollreactor import PollReactor

from agi.db.location import PostgresUrl
from agi.lists.csvio import ReadReport, read_entries
from agi.lists.numbers import Normaliser
from agi.lists.pg_store import PostgresNumberLists
from agi.server.database_threads import DatabaseThreads, ThreadedLists
from agi.server.pg_reactor import ReactorLists
from agi.storage.stores import list_admin

DATABASE = "agiflow_lookups_bench"
LISTED = 100_000


def percentiles(samples: list[float]) -> str:
    cuts = quantiles(samples, n=100)
    return f"{cuts[49] * 1000:7.2f} {cuts[98] * 1000:7.2f} {max(samples) * 1000:7.2f}"


def make_list(url: PostgresUrl) -> None:
    text = "".join(f"6{n:08d}\n" for n in range(0, 2 * LISTED, 2))
    with list_admin(url) as admin:
        admin.import_entries("robinson", read_entries(io.StringIO(text), Normaliser("ES"), ReadReport()))


def floor(url: PostgresUrl, rate: float, seconds: float, samples: list[float]) -> None:
    with psycopg.connect(url.url, autocommit=True) as conn:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            started = time.perf_counter()
            conn.execute("SELECT 1").fetchone()
            samples.append(time.perf_counter() - started)
            time.sleep(1 / rate)


async def one_round(reactor: Any, match: Callable[[str, str], Any], rate: float, seconds: float) -> list[float]:
    waits: list[float] = []
    pending: list[defer.Deferred[Any]] = []

    def ask() -> None:
        number = f"6{random.randrange(2 * LISTED):08d}"
        started = time.perf_counter()
        asked = defer.maybeDeferred(match, "robinson", number)
        asked.addCallback(lambda _: waits.append(time.perf_counter() - started))
        pending.append(asked)

    ticking = task.LoopingCall(ask)
    ticking.clock = reactor
    ticking.start(1 / rate)
    await task.deferLater(reactor, seconds, lambda: None)
    ticking.stop()
    await defer.gatherResults(pending)
    return waits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--rate", type=float, default=300.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    admin = psycopg.connect(args.url, autocommit=True)
    admin.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
    admin.execute(f"CREATE DATABASE {DATABASE}")
    url = PostgresUrl(args.url.rsplit("/", 1)[0] + f"/{DATABASE}")
    try:
        make_list(url)
        results = run(url, args)
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        admin.close()
    print(f"{args.rounds} rounds of {args.seconds:g} s at {args.rate:g} lookups/s each way, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'':32} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'count':>7}")
    for name, samples in results.items():
        print(f"{name:32} {percentiles(samples)} {len(samples):7}")


def run(url: PostgresUrl, args: argparse.Namespace) -> dict[str, list[float]]:
    reactor = PollReactor()  # type: ignore[no-untyped-call]
    results: dict[str, list[float]] = {"through a database thread": [], "sent from the reactor": [],
                                       "floor: SELECT 1 from a thread": []}
    failures: list[Any] = []

    async def rounds() -> None:
        threads = DatabaseThreads(reactor, 2.0)
        threads.start()
        store = PostgresNumberLists(url, "ES", threads=4, wait=2.0)
        ways = {"through a database thread": ThreadedLists(store, threads).match,
                "sent from the reactor": ReactorLists(store, threads, reactor).match}
        for match in ways.values():  # warm both: connections open, caches filled
            await one_round(reactor, match, args.rate, 0.5)
        for _ in range(args.rounds):
            for name, match in ways.items():
                beside = threading.Thread(target=floor, args=(url, args.rate, args.seconds,
                                                              results["floor: SELECT 1 from a thread"]))
                beside.start()
                results[name] += await one_round(reactor, match, args.rate, args.seconds)
                beside.join()
        threads.stop()
        store.close()

    def start() -> None:
        running = defer.ensureDeferred(rounds())
        running.addErrback(failures.append).addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(start)
    reactor.run(installSignalHandlers=False)
    if failures:
        failures[0].raiseException()
    return results


if __name__ == "__main__":
    main()
