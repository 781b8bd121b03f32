"""A full export of the call log streams: rows go from the database to the
CSV or JSON file a batch at a time, so fifty thousand calls take no
more memory than five thousand, and on PostgreSQL they come through a
server-side cursor inside the report's snapshot."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from support.cdr_builder import CdrBuilder

from agi.db.location import Database, PostgresUrl
from agi.reports import open_report, run_report
from agi.reports.db import BATCH
from agi.reports.model import Filters, StreamedRows
from agi.reports.render import render
from agi.reports.timerange import zone

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2025, 4, 1, tzinfo=timezone.utc)


#: ``agiflow ARGS``, whose process writes its peak resident memory as it exits
#: (the kernel's ru_maxrss of a child counts the memory of the parent it forked from).
WITH_PEAK = """
import atexit, runpy, sys
atexit.register(lambda: print(next(line for line in open("/proc/self/status") if line.startswith("VmHWM:")),
                              file=sys.stderr))
runpy.run_module("agi.cli", run_name="__main__")
"""


def peak_rss_mb(args: list[str], cwd: Path) -> float:
    """Run ``agiflow ARGS``; the peak resident memory of its process, in MB."""
    done = subprocess.run([sys.executable, "-c", WITH_PEAK, *args], cwd=cwd, capture_output=True, text=True,
                          env={"PYTHONPATH": str(REPO), "TZ": "UTC", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return int(done.stderr.split("VmHWM:")[-1].split()[0]) / 1024


@pytest.fixture(scope="module")
def big_databases(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """SQLite CDR files of 5,000 and 50,000 calls."""
    folder = tmp_path_factory.mktemp("big")
    found = {}
    for count in (5_000, 50_000):
        cdr = CdrBuilder(folder / f"{count}.db")
        cdr.add_calls(count, "2025-03-01 00:00:00", every=10.0)
        cdr.close()
        found[count] = folder / f"{count}.db"
    return found


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_exporting_ten_times_more_calls_takes_no_more_memory(big_databases: dict[int, Path], tmp_path: Path,
                                                             fmt: str) -> None:
    peaks = {}
    for count, path in big_databases.items():
        out = tmp_path / f"{count}.{fmt}"
        peaks[count] = peak_rss_mb(["report", "calls", "--db", str(path), "--format", fmt, "-o", str(out)], tmp_path)
        with out.open(encoding="utf-8", newline="") as handle:
            written = sum(1 for _ in csv.reader(handle)) - 1 if fmt == "csv" else len(json.load(handle)["rows"])
        assert written == count
    # Holding 100,000 rows in memory took over 200 MB (50,000: over 100 MB); streamed, the peak hardly moves.
    assert peaks[50_000] - peaks[5_000] < 40, peaks


def _active_queries(url: PostgresUrl) -> list[str]:
    with psycopg.connect(url.url, autocommit=True) as conn:
        return [query for (query,) in conn.execute(
            "SELECT query FROM pg_stat_activity WHERE application_name = 'agiflow report'")]


def test_the_call_log_streams_in_batches_inside_one_snapshot(database: Database) -> None:
    cdr = CdrBuilder(database)
    count = 2 * BATCH + 7
    cdr.add_calls(count, "2025-03-01 00:00:00", every=60.0)
    cdr.close()
    tz, name = zone("Europe/Madrid")
    filters = Filters(tz=tz, tz_name=name)
    expected = run_report(database, "calls", filters, NOW)
    with open_report(database, "calls", filters, NOW) as report:
        assert isinstance(report.rows, StreamedRows)
        rows = iter(report.rows)
        first: Any = next(rows)
        if isinstance(database, PostgresUrl):  # the rows come from a server-side cursor, a batch at a time
            assert any(q.startswith(f'FETCH FORWARD {BATCH} FROM "agiflow_rows"') for q in _active_queries(database))
            writer = CdrBuilder(database)  # a call written meanwhile is not in the snapshot
            writer.add("2025-03-31 00:00:00")
            writer.close()
        streamed = [first, *rows]
        assert streamed == list(report.rows)  # every pass reads the same rows
        text = render(report, "csv")
    assert len(streamed) == count and streamed == list(expected.rows)
    assert [r["started"] for r in streamed] == sorted((r["started"] for r in streamed), reverse=True)
    assert len(text.splitlines()) == count + 1
