"""How fast are the reports on a big CDR database, with and without the
report indexes?

Generates N calls (default 1,000,000) with their steps over 30 days in a
temporary SQLite file, with the server's schema minus the report indexes
(``agi.storage.cdr_schema.REPORT_INDEXES``). Times every report (the query and the
terminal table) on that baseline, creates the report indexes, and times them
again. Prints one line per report: baseline, indexed, ratio, rows. Exits 1
if a report gives different rows with the indexes (speed is never asserted).
"""
from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import sqlite_utils

from agi.storage.cdr_schema import INSERT_CALL, INSERT_STEP, REPORT_INDEXES, call_values, ensure_schema
from agi.reports import run_report
from agi.reports.model import Filters
from agi.reports.render import render
from agi.reports.timerange import moment, sql_time, zone
from agi.vocabulary import CALL_COLUMNS

END = datetime(2025, 4, 1, tzinfo=timezone.utc)
NOW = END
DAYS = 30
FLOWS = ("support", "sales", "billing", "campaign", "afterhours")
QUEUES = ("support", "sales", "billing")
#: (share, columns, status, last step): what happened to the call
FATES: list[tuple[float, dict[str, Any], str, str]] = [
    (0.55, {"queue_status": "ANSWERED"}, "completed", "queue:answered"),
    (0.10, {"queue_status": None}, "caller_hangup", "queue:hangup"),
    (0.08, {"queue_status": "TIMEOUT", "callback": "cb"}, "completed", "queue:timeout"),
    (0.07, {"queue_status": "TIMEOUT"}, "completed", "queue:timeout"),
    (0.08, {}, "caller_hangup", "menu:hangup"),
    (0.06, {}, "completed", "closed:next"),
    (0.04, {"dial_status": "ANSWER"}, "completed", "dial:answer"),
    (0.01, {"robinson": "listed", "robinson_list": "robinson"}, "completed", "dnc:listed"),
    (0.01, {}, "interrupted", "menu:hangup"),
]


def generate(path: Path, calls: int, seed: int = 7) -> float:
    """Fill ``path`` with ``calls`` calls and their steps; returns seconds."""
    started = time.monotonic()
    db = sqlite_utils.Database(path)
    ensure_schema(db)
    for name in REPORT_INDEXES:
        db.execute(f"DROP INDEX IF EXISTS {name}")
    db.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    rng = random.Random(seed)
    conn.execute("BEGIN")
    for chunk in _chunks(_calls(rng, calls), 20000):
        conn.executemany(INSERT_CALL, [row for row, _ in chunk])
        conn.executemany(INSERT_STEP, [step for _, steps in chunk for step in steps])
    conn.execute("COMMIT")
    conn.close()
    return time.monotonic() - started


def _chunks(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _calls(rng: random.Random, count: int) -> Iterator[tuple[tuple[Any, ...], list[tuple[Any, ...]]]]:
    weights = [f[0] for f in FATES]
    hour_weights = [1 if h < 8 or h > 20 else 10 for h in range(24)]
    for n in range(count):
        day = rng.randrange(DAYS)
        start = END - timedelta(days=DAYS - day) + timedelta(
            hours=rng.choices(range(24), hour_weights)[0], seconds=rng.randrange(3600))
        columns, status, last = rng.choices(FATES, weights)[0][1:]
        yield _call(rng, n, start, dict(columns), status, last)


def _call(rng: random.Random, n: int, start: datetime, extra: dict[str, Any], status: str,
          last: str) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
    key = f"{n:032x}"
    flow = rng.choice(FLOWS)
    caller = f"+34600{rng.randrange(40000):06d}"
    choice = rng.choice("123") if not last.startswith("menu") else "hangup"
    timeouts, invalid = rng.choice((0, 0, 0, 1, 2)), rng.choice((0, 0, 0, 0, 1))
    steps = [("answer", "answer", "next", "{}"), ("welcome", "play", "next", "{}"),
             ("menu", "menu", choice, json.dumps({"entries": [choice], "timeouts": timeouts,
                                                  "invalid": invalid, "choice": choice}))]
    name, _, outcome = last.partition(":")
    if name != "menu":
        steps.append((name, name if name in ("queue", "dial") else "play", outcome, "{}"))
    wait = rng.uniform(5, 300) if name == "queue" else None
    talk = rng.uniform(30, 900) if extra.get("queue_status") == "ANSWERED" or extra.get("dial_status") else None
    duration = 20 + (wait or 0) + (talk or 0)
    row: dict[str, Any] = {c: None for c in CALL_COLUMNS}
    row.update(id=key, call_id=f"{int(start.timestamp())}.{n}", flow=flow, requested_flow=flow, caller=caller,
               caller_name="", called="100", channel=f"PJSIP/trunk-{n:08x}", context="from-trunk",
               extension="100", args="[]", started_at=sql_time(start),
               answered_at=sql_time(start), ended_at=sql_time(start + timedelta(seconds=duration)),
               duration=round(duration, 3), status=status, outcome=outcome, last_step=name,
               path=" > ".join(f"{s}:{o}" for s, _, o, _ in steps), steps=len(steps), fields="{}",
               queue=rng.choice(QUEUES) if name == "queue" else None, queue_wait=wait, talk_time=talk,
               consent=rng.choice(("accepted", "accepted", "declined", "no_answer")), vip=rng.random() < 0.05)
    row.update(extra)
    if row.get("callback"):
        row["callback"] = caller
    if row["consent"] == "accepted" and talk:
        row["recording"] = f"/var/spool/asterisk/monitor/agiflow/{key}.wav"
    stamp = sql_time(start)
    return (call_values(row), [(key, i, flow, s, t, o, stamp, 5.0, d) for i, (s, t, o, d) in enumerate(steps, 1)])


def cases(quick: bool) -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(label, kind, filters, options) for every report timed."""
    day: dict[str, Any] = {"since": "2025-03-20", "until": "2025-03-20"}
    found: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
        ("calls --limit 100", "calls", {}, {"limit": 100}),
        ("calls, one day", "calls", day, {}),
        ("calls --caller N", "calls", {"caller": "+34600000123"}, {}),
        ("summary --by flow", "summary", {}, {"by": "flow"}),
        ("summary --by day", "summary", {}, {"by": "day"}),
        ("summary, one day, --flow", "summary", {**day, "flows": ("sales",)}, {"by": "hour"}),
        ("inbound --by queue", "inbound", {}, {"by": "queue"}),
        ("inbound, one day", "inbound", day, {"by": "flow"}),
        ("fcr --window 24h", "fcr", {}, {"window_hours": 24.0}),
        ("fcr, one day", "fcr", day, {"window_hours": 24.0}),
        ("tracking --limit 100", "tracking", {}, {"limit": 100}),
        ("tracking --caller N", "tracking", {"caller": "+34600000123"}, {}),
        ("ivr", "ivr", {}, {}),
        ("ivr, one day", "ivr", day, {}),
        ("compliance", "compliance", {}, {}),
        ("summary --format html", "summary", {}, {"by": "flow", "format": "html"}),
    ]
    return found[:8] + found[12:] if quick else found


Timing = tuple[float, float, str, int]  # wall s, CPU s, the rows as JSON, row count


def best_of(runs: int, path: Path, kind: str, raw: dict[str, Any], options: dict[str, Any]) -> Timing:
    """The fastest wall and CPU times of ``runs`` runs (the first also warms
    the page cache). CPU time is this process's: SQLite runs in it, and it
    does not count the time other processes take the cores."""
    results = [time_report(path, kind, raw, dict(options)) for _ in range(runs)]
    return (min(r[0] for r in results), min(r[1] for r in results), results[0][2], results[0][3])


def time_report(path: Path, kind: str, raw: dict[str, Any], options: dict[str, Any]) -> Timing:
    tz, tz_name = zone("Europe/Madrid")
    filters = Filters(moment(raw["since"], NOW, tz) if "since" in raw else None,
                      moment(raw["until"], NOW, tz, end=True) if "until" in raw else None,
                      raw.get("flows", ()), raw.get("caller"), tz, tz_name)
    fmt = options.pop("format", "table")
    wall, cpu = time.perf_counter(), time.process_time()
    report = run_report(path, kind, filters, NOW, charts=fmt == "html", **options)
    render(report, fmt)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall, cpu, render(report, "json").split('"filters"', 1)[1], len(report.rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=None, help="calls to generate (default 1,000,000; quick 100,000)")
    parser.add_argument("--quick", action="store_true", help="100,000 calls and fewer reports (make bench)")
    parser.add_argument("--keep", metavar="FILE", help="generate into FILE and keep it (reused when it exists)")
    args = parser.parse_args()
    calls = args.calls or (100_000 if args.quick else 1_000_000)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.keep) if args.keep else Path(tmp) / "cdr.db"
        if not path.exists():
            print(f"generating {calls:,} calls ...", flush=True)
            print(f"generated in {generate(path, calls):.1f} s", flush=True)
        return measure(path, args.quick)


def measure(path: Path, quick: bool) -> int:
    conn = sqlite3.connect(path)
    calls, steps = conn.execute("SELECT (SELECT count(*) FROM calls), (SELECT count(*) FROM call_steps)").fetchone()
    for name in REPORT_INDEXES:
        conn.execute(f"DROP INDEX IF EXISTS {name}")
    conn.close()
    print(f"{calls:,} calls, {steps:,} steps, {path.stat().st_size / 2**20:,.0f} MiB, SQLite {sqlite3.sqlite_version}")
    todo = cases(quick)
    runs = 1 if quick else 2
    baseline = {label: best_of(runs, path, kind, raw, opts) for label, kind, raw, opts in todo}
    started = time.monotonic()
    db = sqlite_utils.Database(path)
    ensure_schema(db)
    db.close()
    print(f"report indexes created in {time.monotonic() - started:.1f} s: {', '.join(REPORT_INDEXES)}")
    failed = 0
    print(f"\n{'report':<26}{'baseline':>16}{'indexed':>16}{'ratio':>7}{'rows':>8}")
    print(f"{'':<26}{'wall':>8}{'cpu':>8}{'wall':>8}{'cpu':>8}{'(cpu)':>7}")
    for label, kind, raw, opts in todo:
        indexed = best_of(runs, path, kind, raw, opts)
        base = baseline[label]
        same = base[2] == indexed[2]
        failed += not same
        print(f"{label:<26}{base[0]:>7.2f}s{base[1]:>7.2f}s{indexed[0]:>7.2f}s{indexed[1]:>7.2f}s"
              f"{base[1] / max(indexed[1], 1e-3):>6.1f}x{indexed[3]:>8,}" + ("" if same else "  DIFFERENT ROWS"),
              flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
