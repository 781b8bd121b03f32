"""Benchmark: importing and reading a do-not-call list of millions of numbers.

Writes a CSV of ``--numbers`` Spanish numbers (70 % E.164 ``+34...``, 20 %
national ``6...``/``9...``, 10 % with the international prefix ``0034...``,
one line in 2,000 with a note, one in 100,000 bad, plus 100 prefix entries
``+34901*``...), then measures:

- **import**: ``ListAdmin.import_entries`` of the CSV (what ``agiflow lists
  import`` runs): read, normalise, stage, copy in one transaction. Baseline:
  a plain ``sqlite3`` ``executemany`` of the raw first column into a table
  with no index, in one transaction, with no normalisation.
- **replace**: the same file again with ``--replace``, while a reader thread
  looks up listed numbers on its own connection; every one must stay listed
  (the list is swapped atomically) and its latency is recorded.
- **lookup**: ``SqliteNumberLists.match`` (normalisation + one statement)
  for random exact hits, misses and prefix hits, p50/p99/max, after a
  warm-up pass over the same numbers (pages cached). Baselines: a
  plain primary-key ``SELECT`` of one key on the same table, and a Python
  ``set`` of every E.164 number in memory.

The exit status is 1 when a check fails (an entry count, a hit that is not
found, a miss that is found, a reader that saw the list change); speed is
reported, never asserted.

    PYTHONPATH=. python bench/lists_bench.py [--quick] [--numbers N] [--lookups M]
"""
from __future__ import annotations

import argparse
import csv
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agi.lists.admin import ImportResult, ListAdmin
from agi.lists.csvio import ReadReport, read_entries
from agi.lists.numbers import Normaliser
from agi.lists.store import SqliteNumberLists

#: Listed numbers: 600000000-999999999 without 90xxxxxxx (the prefixes),
#: the i-th spread over the range by a multiplier prime to its size.
SPAN, STEP = 390_000_000, 7_919_993
PREFIXES = [f"+3490{d}{e}" for d in range(10) for e in range(10)]  # +34900 .. +34909x: 100 prefixes
BAD_EVERY = 100_000
NOTE_EVERY = 2_000


def national(i: int) -> str:
    """The i-th number of the file, national digits; never under a listed
    prefix, never twice."""
    n = (i * STEP) % SPAN
    return str(600_000_000 + n if n < 300_000_000 else 610_000_000 + n)


def is_bad_line(i: int) -> bool:
    return i % BAD_EVERY == BAD_EVERY - 1


def write_csv(path: Path, count: int) -> int:
    """The benchmark file; returns how many lines are bad."""
    bad = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["number", "note"])
        for prefix in PREFIXES:
            writer.writerow([prefix + "*", "premium rate"])
        for i in range(count):
            if is_bad_line(i):
                writer.writerow(["n/a", "bad line"])
                bad += 1
                continue
            digits = national(i)
            shape = i % 10
            text = digits if shape < 2 else "0034" + digits if shape == 2 else "+34" + digits
            writer.writerow([text, f"asked {i}" if i % NOTE_EVERY == 0 else ""])
    return bad


def baseline_import(csv_path: Path, db: Path) -> float:
    started = time.perf_counter()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE raw (number TEXT, note TEXT)")
    conn.execute("BEGIN")
    with csv_path.open(encoding="utf-8", newline="") as source:
        conn.executemany("INSERT INTO raw VALUES (?, ?)", ((row[0], row[1]) for row in csv.reader(source)))
    conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - started


class TimedAdmin(ListAdmin):
    """ListAdmin that measures how long the database is locked by the copy."""

    locked = 0.0

    def _copy_staged(self, name: str, read: int, replace: bool, lengths: int) -> tuple[ImportResult, int | None]:
        started = time.perf_counter()
        try:
            return super()._copy_staged(name, read, replace, lengths)
        finally:
            self.locked = time.perf_counter() - started


def timed_import(csv_path: Path, db: Path, replace: bool) -> tuple[float, float, ImportResult, ReadReport]:
    report = ReadReport()
    started = time.perf_counter()
    admin = TimedAdmin(db)
    with admin, csv_path.open(encoding="utf-8", newline="") as source:
        result = admin.import_entries("robinson", read_entries(source, Normaliser("ES"), report), replace=replace)
        locked = admin.locked
    return time.perf_counter() - started, locked, result, report


def latencies(call: Callable[[str], object], numbers: list[str]) -> list[float]:
    """Microseconds per call, one measurement per number."""
    found = []
    clock = time.perf_counter_ns
    for number in numbers:
        started = clock()
        call(number)
        found.append((clock() - started) / 1000)
    return found


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Reader(threading.Thread):
    """Looks up listed numbers until stopped; counts any that are not found."""

    def __init__(self, db: Path, numbers: list[str]) -> None:
        super().__init__(daemon=True)
        self.store = SqliteNumberLists(db, "ES", read_only=False)
        self.numbers = numbers
        self.stop = threading.Event()
        self.misses = 0
        self.times: list[float] = []

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            number = self.numbers[i % len(self.numbers)]
            started = time.perf_counter_ns()
            if self.store.match("robinson", number) is None:
                self.misses += 1
            self.times.append((time.perf_counter_ns() - started) / 1000)
            i += 1
            time.sleep(0.001)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--numbers", type=int, default=None, help="numbers in the CSV (default 5,000,000; quick 500,000)")
    parser.add_argument("--lookups", type=int, default=None, help="lookups of each kind (default 20,000; quick 5,000)")
    parser.add_argument("--quick", action="store_true", help="the short run used by make bench")
    args = parser.parse_args()
    count = args.numbers or (500_000 if args.quick else 5_000_000)
    lookups = args.lookups or (5_000 if args.quick else 20_000)
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="agiflow-lists-bench-") as tmp:
        folder = Path(tmp)
        csv_path = folder / "robinson.csv"
        started = time.perf_counter()
        bad = write_csv(csv_path, count)
        print(f"CSV: {count + len(PREFIXES):,} entries, {bad} bad lines, "
              f"{csv_path.stat().st_size / 1e6:.0f} MB, written in {time.perf_counter() - started:.1f} s", flush=True)

        base = baseline_import(csv_path, folder / "baseline.db")
        print(f"baseline import: {base:.1f} s", flush=True)
        db = folder / "agiflow.db"
        took, locked, result, report = timed_import(csv_path, db, replace=False)
        print(f"import: {took:.1f} s", flush=True)
        expected = count - bad + len(PREFIXES)
        if (result.entries, report.bad) != (expected, bad):
            failures.append(f"import: {result.entries} entries and {report.bad} bad lines, "
                            f"expected {expected} and {bad}")

        rng = random.Random(7)
        picks = (rng.randrange(count) for _ in range(lookups * 2))
        listed = ["+34" + national(i) for i in picks if not is_bad_line(i)][:lookups]
        reader = Reader(db, listed[:2000])
        reader.start()
        replace_took, replace_locked, replaced, _ = timed_import(csv_path, db, replace=True)
        reader.stop.set()
        reader.join()
        print(f"replace: {replace_took:.1f} s, {len(reader.times)} lookups meanwhile", flush=True)
        if reader.misses or replaced.entries != expected:
            failures.append(f"replace: {reader.misses} listed numbers not found during the swap, "
                            f"{replaced.entries} entries after it")

        checks, rows = measure_lookups(db, listed, count, lookups, rng)
        failures.extend(checks)
        size = (db.stat().st_size, Path(f"{db}-wal").stat().st_size if Path(f"{db}-wal").exists() else 0)
        print_table(count, base, took, locked, replace_took, replace_locked, reader.times, rows, size)
    for failure in failures:
        print(f"FAILED: {failure}")
    return 1 if failures else 0


def measure_lookups(db: Path, listed: list[str], count: int, lookups: int,
                    rng: random.Random) -> tuple[list[str], dict[str, list[float]]]:
    store = SqliteNumberLists(db, "ES", read_only=False)
    misses = [f"+34{n}" for n in (rng.randrange(600_000_000, 1_000_000_000) for _ in range(lookups * 3))
              if not str(n).startswith("90")]
    prefix_hits = [f"{rng.choice(PREFIXES)}{rng.randrange(100_000):05d}" for _ in range(lookups)]
    conn = sqlite3.connect(db)
    list_id = conn.execute("SELECT id FROM number_lists WHERE name = 'robinson'").fetchone()[0]
    every = {row[0] for row in conn.execute("SELECT number FROM list_entries WHERE list_id = ?", (list_id,))}
    misses = [n for n in misses if n not in every][:lookups]
    failures = []
    for _kind, numbers, want in (("hits", listed, "exact"), ("misses", misses, None), ("prefix hits", prefix_hits, "prefix")):
        for number in numbers[:500]:
            hit = store.match("robinson", number)
            kind = None if hit is None else "prefix" if hit.prefix else "exact"
            if kind != want:
                failures.append(f"lookup {number}: {kind}, expected {want}")
                break
    pk = "SELECT 1 FROM list_entries WHERE list_id = ? AND number = ?"
    runs: dict[str, tuple[Callable[[str], object], list[str]]] = {
        "match: exact hit": (lambda n: store.match("robinson", n), listed),
        "match: miss": (lambda n: store.match("robinson", n), misses),
        "match: prefix hit": (lambda n: store.match("robinson", n), prefix_hits),
        "baseline: one-key SELECT": (lambda n: conn.execute(pk, (list_id, n)).fetchone(), listed),
        "baseline: Python set": (lambda n: n in every, listed),
    }
    for call, numbers in runs.values():  # warm-up: every page the lookups need is cached
        latencies(call, numbers)
    return failures, {name: latencies(call, numbers) for name, (call, numbers) in runs.items()}


def print_table(count: int, base: float, took: float, locked: float, replace_took: float, replace_locked: float,
                reader_times: list[float], rows: dict[str, list[float]], size: tuple[int, int]) -> None:
    print()
    print(f"{'import of':<28} {count:>12,} numbers")
    print(f"{'baseline executemany':<28} {base:>10.1f} s   {count / base:>12,.0f} lines/s")
    print(f"{'agiflow lists import':<28} {took:>10.1f} s   {count / took:>12,.0f} lines/s   "
          f"x{took / base:.2f} baseline; database locked {locked:.1f} s")
    print(f"{'import --replace':<28} {replace_took:>10.1f} s   {count / replace_took:>12,.0f} lines/s   "
          f"x{replace_took / base:.2f} baseline; database locked {replace_locked:.1f} s")
    print(f"{'database on disk':<28} {size[0] / 1e6:>10.0f} MB   WAL {size[1] / 1e6:.0f} MB")
    print()
    print(f"{'lookup (microseconds)':<28} {'p50':>8} {'p99':>8} {'max':>9}   p50 vs one-key SELECT")
    reference = statistics.median(rows["baseline: one-key SELECT"])
    for name, values in {**rows, "match during the replace": reader_times}.items():
        p50 = statistics.median(values)
        print(f"{name:<28} {p50:>8.1f} {pct(values, 0.99):>8.1f} {max(values):>9.1f}   x{p50 / reference:.2f}")


if __name__ == "__main__":
    sys.exit(main())
