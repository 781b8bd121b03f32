"""The report benchmark's calls (bench/reports_data.py) have the variety the
reports count, on both backends, and ``agiflow report`` reads them: outbound
legs, short abandons, one caller in three spellings, agents, callbacks,
menu retries, the night the clocks go forward, calls still running."""
from __future__ import annotations

import contextlib
import csv
import io
import random
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agi.db import postgres as pg
from agi.db.location import Database, PostgresUrl

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from bench import reports_data  # noqa: E402

CALLS = 2000


def query(database: Database, sql: str) -> list[tuple[Any, ...]]:
    if isinstance(database, PostgresUrl):
        with contextlib.closing(pg.connect(database)) as conn:
            return [tuple(row) for row in conn.execute(sql).fetchall()]
    with contextlib.closing(sqlite3.connect(database)) as conn:
        return conn.execute(sql).fetchall()


def one(database: Database, sql: str) -> Any:
    return query(database, sql)[0][0]


@pytest.fixture
def cdr(database: Database) -> Database:
    reports_data.generate(database, CALLS)
    return database


def test_the_calls_have_the_variety_the_reports_count(cdr: Database) -> None:
    assert one(cdr, "SELECT count(*) FROM calls") == CALLS
    legs = dict(query(cdr, "SELECT coalesce(dial_status, '-'), count(*) FROM calls "
                           "WHERE direction = 'outbound' AND flow = 'campaign' GROUP BY 1"))
    assert all(legs.get(status) for status in ("ANSWER", "BUSY", "NOANSWER", "-")), legs
    assert one(cdr, "SELECT count(*) FROM calls WHERE direction = 'outbound' AND robinson = 'listed' "
                    "AND dial_status IS NULL") > 0
    assert one(cdr, "SELECT count(*) FROM calls WHERE queue_status = 'ABANDONED' AND queue_wait < 5") > 0
    assert one(cdr, "SELECT count(*) FROM calls WHERE queue_status = 'ABANDONED' AND queue_wait > 60") > 0
    spelt = query(cdr, "SELECT caller_e164, caller FROM calls WHERE caller_e164 IN (SELECT caller_e164 FROM calls "
                       "WHERE direction = 'inbound' GROUP BY caller_e164 HAVING count(DISTINCT caller) = 3) "
                       "GROUP BY caller_e164, caller")
    e164, national = spelt[0][0], spelt[0][0][3:]
    assert sorted(caller for number, caller in spelt if number == e164) == \
        ["+34" + national, "0034" + national, national]
    assert one(cdr, "SELECT count(DISTINCT agent) FROM calls WHERE queue_status = 'ANSWERED'") == 20
    assert one(cdr, "SELECT count(*) FROM calls WHERE status = 'in_progress' AND ended_at IS NULL") > 0
    assert one(cdr, "SELECT count(DISTINCT status) FROM callbacks") == 3
    assert one(cdr, "SELECT count(*) FROM call_steps WHERE type = 'menu' AND details LIKE '%\"timeouts\": 2%'") > 0
    # Europe/Madrid's 2025-03-30 runs from 23:00 UTC the day before to 22:00 UTC (the clocks go forward)
    assert one(cdr, "SELECT count(*) FROM calls WHERE started_at >= '2025-03-29T23:00' "
                    "AND started_at < '2025-03-30T22:00'") > 0
    assert one(cdr, "SELECT min(started_at) FROM calls") >= "2024-12-31T23:00"
    assert one(cdr, "SELECT max(started_at) FROM calls") < "2025-03-31T22:00"


def test_the_same_seed_makes_the_same_calls() -> None:
    first = list(reports_data.CallMaker(random.Random(3), 300).calls())
    assert first == list(reports_data.CallMaker(random.Random(3), 300).calls())
    assert first != list(reports_data.CallMaker(random.Random(4), 300).calls())


def test_agiflow_report_summary_counts_every_generated_call(cdr: Database, tmp_path: Path) -> None:
    target = cdr.url if isinstance(cdr, PostgresUrl) else str(cdr)
    run = subprocess.run([sys.executable, "-m", "agi.cli", "report", "summary", "--since", reports_data.SINCE,
                          "--until", reports_data.UNTIL, "--tz", "Europe/Madrid", "--db", target, "--format", "csv"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr
    rows = list(csv.DictReader(io.StringIO(run.stdout)))
    assert {row["Flow"] for row in rows} == {"support", "sales", "billing", "afterhours", "campaign"}
    assert sum(int(row["Calls"]) for row in rows) == CALLS
