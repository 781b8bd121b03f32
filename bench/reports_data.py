"""A contact center's CDR database for the report benchmarks: N calls over
the 90 days of 2025-01-01 to 2025-03-31 (Europe/Madrid), with the variety
the reports count.

- Inbound calls to three flows with a queue each (``support``, ``sales``,
  ``billing``) and an ``afterhours`` flow; 20 agents, each in one or two
  queues. A menu (``call_steps`` row with ``timeouts`` and ``invalid`` in
  its details) before the queue; answered calls (wait, talk, agent),
  abandons (waits from 1 s, so short abandons exist), queue timeouts (half of
  them leave a callback request, a ``callbacks`` row), full queues, hangups
  in the menu, self service, direct dials to an agent (ring time), do-not-call
  hits, lookup blocks, failed and interrupted calls, and a few calls still
  ``in_progress`` at the end.
- Outbound ``campaign`` legs (``direction`` outbound): blocked by the
  do-not-call list or by the hours (a ``schedule`` step), or dialled with
  ``ANSWER``, ``BUSY``, ``NOANSWER`` or ``CONGESTION``.
- Repeat callers: a caller's number is written ``+34600111222``,
  ``0034600111222`` or ``600111222`` from one call to the next, with
  ``caller_e164`` filled as the server fills it; some callers are withheld.
- Calls by the hour of a contact center (Madrid time), fewer at weekends;
  the night of 2025-03-30, when the clocks go forward, is inside the range.

The schema is the server's (``agi.storage.migrations.upgrade``) and the rows
are what it writes (``agi.vocabulary.CALL_COLUMNS``, ``iso`` timestamps), day
after day, each day's inbound calls in time order. SQLite: ``executemany`` of the server's insert statements in one
transaction; PostgreSQL: ``COPY``. The secondary indexes are dropped while
loading and made again afterwards (their definitions read back from the
database); PostgreSQL then gets ``VACUUM ANALYZE``, as autovacuum would. The
same seed gives the same database. ``generate`` is the entry point.
"""
from __future__ import annotations

import contextlib
import json
import math
import random
import sqlite3
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from agi.db import postgres as pg
from agi.db.location import PostgresUrl, parse_database
from agi.storage.cdr_schema import INSERT_CALL, INSERT_STEP, call_values
from agi.storage.migrations import upgrade
from agi.vocabulary import CALL_COLUMNS, STEP_FIELDS, iso

ZONE = ZoneInfo("Europe/Madrid")
FIRST_DAY = datetime(2025, 1, 1)
DAYS = 90
#: The moment after the last call: 2025-04-01 00:00 in Madrid.
END = (FIRST_DAY + timedelta(days=DAYS)).replace(tzinfo=ZONE).astimezone(timezone.utc)
#: The day the clocks go forward in Madrid (02:00 becomes 03:00).
DST_DAY = "2025-03-30"
#: The range every case of bench/reports_bench.py reports on.
SINCE, UNTIL = "2025-01-01", "2025-03-31"

QUEUES = ("support", "sales", "billing")
AGENTS = ("Ana", "Luis", "Marta", "Pablo", "Elena", "Jorge", "Lucia", "Sergio", "Carmen", "David",
          "Paula", "Javier", "Irene", "Raul", "Sara", "Diego", "Nuria", "Alberto", "Rosa", "Ivan")
#: The queues each agent answers: every agent one, every third agent two.
AGENT_QUEUES = {agent: (QUEUES[i % 3],) + ((QUEUES[(i + 1) % 3],) if i % 3 == 0 else ())
                for i, agent in enumerate(AGENTS)}
QUEUE_AGENTS = {queue: [a for a in AGENTS if queue in AGENT_QUEUES[a]] for queue in QUEUES}
#: Share of each inbound flow; ``afterhours`` has no queue.
INBOUND_FLOWS = (("support", 0.5), ("sales", 0.25), ("billing", 0.17), ("afterhours", 0.08))
OUTBOUND_SHARE = 0.15
#: Local hours of a contact center: a morning peak, a lunch dip, an afternoon peak.
HOUR_WEIGHTS = (1, 1, 1, 1, 1, 1, 2, 8, 30, 70, 85, 90, 80, 60, 45, 60, 75, 70, 55, 35, 20, 10, 5, 2)
#: Campaign legs are placed in office hours only.
CAMPAIGN_HOURS = tuple(w if 9 <= h < 21 else 0 for h, w in enumerate(HOUR_WEIGHTS))
#: What became of an inbound call to a flow with a queue: (share, fate).
INBOUND_FATES = (
    (0.58, "answered"), (0.10, "abandoned"), (0.07, "timeout"), (0.01, "full"), (0.07, "menu_hangup"),
    (0.06, "self_service"), (0.03, "dial_answer"), (0.005, "dial_cancel"), (0.005, "dial_noanswer"),
    (0.01, "dnc"), (0.01, "blocked"), (0.003, "error"), (0.002, "interrupted"), (0.037, "answered_unknown_agent"),
)
CAMPAIGN_FATES = ((0.05, "listed"), (0.02, "hours"), (0.50, "ANSWER"), (0.12, "BUSY"), (0.25, "NOANSWER"),
                  (0.06, "CONGESTION"))
#: How a caller's number is written: E.164, international with 00, national.
SPELLINGS = (("+34", 0.8), ("0034", 0.1), ("", 0.1))

Row = tuple[Any, ...]
Call = tuple[Row, list[Row], list[dict[str, Any]]]


def generate(database: str | Path | PostgresUrl, calls: int, seed: int = 7) -> float:
    """Fill ``database`` (a SQLite path or a PostgreSQL URL, created or
    upgraded to the server's schema) with ``calls`` calls, their steps and
    their callback requests; returns the seconds it took."""
    started = time.monotonic()
    target = parse_database(database) if isinstance(database, str) else database
    upgrade(target)
    rows = CallMaker(random.Random(seed), calls).calls()
    if isinstance(target, PostgresUrl):
        _load_postgres(target, rows)
    else:
        _load_sqlite(target, rows)
    return time.monotonic() - started


def count_calls(database: str | Path | PostgresUrl) -> int:
    """Calls in ``database``: 0 when it does not exist or has no calls table."""
    target = parse_database(database) if isinstance(database, str) else database
    if isinstance(target, PostgresUrl):
        with contextlib.closing(pg.connect(target)) as conn:
            if not conn.execute("SELECT to_regclass('calls') IS NOT NULL").fetchone()[0]:
                return 0
            return int(conn.execute("SELECT count(*) FROM calls").fetchone()[0])
    if not Path(target).is_file():
        return 0
    with contextlib.closing(sqlite3.connect(target)) as conn:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'calls'").fetchone():
            return 0
        return int(conn.execute("SELECT count(*) FROM calls").fetchone()[0])


# -- the calls -----------------------------------------------------------------------

def _weighted(pairs: tuple[tuple[str, float], ...]) -> tuple[list[str], list[float]]:
    total = 0.0
    names, cumulative = [], []
    for name, weight in pairs:
        total += weight
        names.append(name)
        cumulative.append(total)
    return names, cumulative


class CallMaker:
    """Calls in time order, day after day, each with its steps and callback
    requests. One ``random.Random`` drives everything: the same seed, the
    same calls."""

    def __init__(self, rng: random.Random, count: int) -> None:
        self.rng = rng
        self.count = count
        #: Callers: a pool where a few numbers call often (repeat callers) and most once or twice.
        self.callers = max(200, count // 3)
        self.fates = _weighted(tuple((f, s) for s, f in INBOUND_FATES))
        self.campaign_fates = _weighted(tuple((f, s) for s, f in CAMPAIGN_FATES))
        self.flows = _weighted(INBOUND_FLOWS)
        self.spellings = _weighted(SPELLINGS)
        self.n = 0

    def calls(self) -> Iterator[Call]:
        days = [FIRST_DAY + timedelta(days=d) for d in range(DAYS)]
        weights = [0.45 if day.weekday() >= 5 else 1.0 for day in days]
        total = sum(weights)
        made = 0
        still_running = min(self.count, max(3, self.count // 200_000))
        for i, day in enumerate(days):
            share = round(self.count * sum(weights[:i + 1]) / total) - made
            made += share
            for start in sorted(self._starts(day, share)):
                last = made == self.count and self.n >= self.count - still_running
                yield self._call(start, running=last)

    def _starts(self, day: datetime, count: int) -> Iterator[float]:
        """``count`` moments of ``day`` (local), as epoch seconds, by HOUR_WEIGHTS."""
        rng = self.rng
        hours = rng.choices(range(24), HOUR_WEIGHTS, k=count)
        for hour in hours:
            local = day.replace(hour=hour, tzinfo=ZONE) + timedelta(seconds=rng.random() * 3600)
            # 02:00-03:00 does not exist on the night the clocks go forward: fold it onto 03:00
            yield local.astimezone(timezone.utc).timestamp()

    def _caller(self) -> tuple[str, str | None]:
        """A caller as written and in E.164: a few withheld, the rest from
        the pool in one of the three spellings."""
        rng = self.rng
        if rng.random() < 0.02:
            return "anonymous", None
        index = int(self.callers * rng.random() ** 2.5)
        national = f"6{index:08d}"
        prefix = self.spellings[0][_pick(self.spellings[1], rng.random())]
        return prefix + national, "+34" + national

    def _call(self, start: float, running: bool) -> Call:
        rng = self.rng
        n = self.n
        self.n += 1
        key = f"{rng.getrandbits(128):032x}"
        if rng.random() < OUTBOUND_SHARE and not running:
            start = _office_hours(start, rng)
            return self._campaign(n, key, start)
        flow = self.flows[0][_pick(self.flows[1], rng.random())]
        caller, e164 = self._caller()
        row = _base(n, key, flow, start, caller, e164, "inbound")
        row.update(called="900100200", context="from-trunk", extension="900100200",
                   consent=rng.choice(("accepted", "accepted", "accepted", "declined", "no_answer")),
                   vip=1 if rng.random() < 0.05 else 0, priority=rng.choice((0, 0, 0, 5)),
                   robinson="clear")
        steps: list[tuple[str, str, str, dict[str, Any]]] = [("answer", "answer", "next", {}),
                                                             ("welcome", "play", "next", {})]
        callbacks: list[dict[str, Any]] = []
        if running:
            steps.append(("menu", "menu", "1", _menu("1", 0, 0)))
            row.update(status="in_progress", queue=flow if flow in QUEUES else "support", ended_at=None,
                       duration=None)
            return self._finish(row, steps, callbacks, start, 0.0)
        if flow == "afterhours":
            fate = rng.choice(("self_service", "self_service", "menu_hangup"))
        else:
            fate = self.fates[0][_pick(self.fates[1], rng.random())]
        seconds = 8 + rng.random() * 20  # greeting and menu
        if fate == "menu_hangup":
            choice = "hangup"
        elif fate == "self_service" and rng.random() < 0.3:
            choice = rng.choice(("timeout", "invalid"))
        else:
            choice = rng.choice("123") if flow != "afterhours" else "9"
        timeouts = rng.choice((0, 0, 0, 0, 1, 2)) if choice != "timeout" else 3
        invalid = rng.choice((0, 0, 0, 0, 0, 1)) if choice != "invalid" else 3
        steps.append(("menu", "menu", choice, _menu(choice, timeouts, invalid)))
        status, wait, talk = "completed", None, None
        if fate in ("answered", "answered_unknown_agent", "abandoned", "timeout", "full"):
            queue = flow
            if fate.startswith("answered"):
                wait, talk = _wait(rng, 18), _talk(rng)
                row.update(queue_status="ANSWERED", queue_wait=round(wait, 3), talk_time=round(talk, 3))
                if fate == "answered":
                    agent = rng.choice(QUEUE_AGENTS[queue])
                    row.update(agent=agent, agent_interface=f"PJSIP/{2000 + AGENTS.index(agent)}")
                if row["consent"] == "accepted":
                    row.update(recording=f"/var/spool/asterisk/monitor/agiflow/{key}.wav", recording_commands=2)
                steps.append(("queue", "queue", "answered", {"queue": queue}))
            elif fate == "abandoned":
                wait = 1 + rng.expovariate(1 / 45)
                status = "caller_hangup"
                row.update(queue_status="ABANDONED", queue_wait=round(wait, 3))
                steps.append(("queue", "queue", "hangup", {"queue": queue}))
                if wait > 30 and rng.random() < 0.3:
                    callbacks.append(self._callback(row, start + seconds + wait, "missed", "abandoned"))
            elif fate == "timeout":
                wait = 300.0
                row.update(queue_status="TIMEOUT", queue_wait=wait)
                steps.append(("queue", "queue", "timeout", {"queue": queue}))
                if rng.random() < 0.5:
                    row["callback"] = caller
                    steps.append(("callback", "callback", "next", {}))
                    callbacks.append(self._callback(row, start + seconds + wait, "keypad", "queue timeout"))
            else:
                row.update(queue_status=rng.choice(("FULL", "JOINEMPTY")))
                steps.append(("queue", "queue", "full", {"queue": queue}))
            row["queue"] = queue
        elif fate.startswith("dial"):
            agent = rng.choice(AGENTS)
            ring = 2 + rng.random() * 25
            row.update(dialled=f"PJSIP/{2000 + AGENTS.index(agent)}", ring_time=round(ring, 3))
            wait = ring
            if fate == "dial_answer":
                talk = _talk(rng)
                row.update(dial_status="ANSWER", agent=agent, agent_interface=row["dialled"], talk_time=round(talk, 3))
                steps.append(("transfer", "dial", "answer", {}))
            elif fate == "dial_cancel":
                status = "caller_hangup"
                row.update(dial_status="CANCEL")
                steps.append(("transfer", "dial", "hangup", {}))
            else:
                row.update(dial_status="NOANSWER")
                steps.append(("transfer", "dial", "noanswer", {}))
        elif fate == "menu_hangup":
            status = "caller_hangup"
        elif fate == "self_service":
            steps.append(("info", "play", "next", {}))
        elif fate == "dnc":
            row.update(robinson="listed", robinson_list=rng.choice(("robinson", "robinson", "internal")))
            steps.append(("robinson", "robinson", "listed", {}))
        elif fate == "blocked":
            row.update(blocked="blocklist")
            steps.append(("lookup", "lookup", "blocked", {}))
        elif fate == "error":
            status = "error"
            row["error"] = "webhook crm: timed out after 2.0 s"
            steps.append(("crm", "webhook", "error", {}))
        elif fate == "interrupted":
            status = "interrupted"
            row["error"] = "the server stopped before the call ended"
        row["status"] = status
        return self._finish(row, steps, callbacks, start, seconds + (wait or 0) + (talk or 0))

    def _campaign(self, n: int, key: str, start: float) -> Call:
        rng = self.rng
        _, e164 = self._caller()
        number = e164 or "+34600000000"
        row = _base(n, key, "campaign", start, "+34910000000", "+34910000000", "outbound")
        row.update(called=number, context="agiflow-campaign", extension="s", dialled=f"PJSIP/trunk/{number}",
                   robinson="clear", status="completed")
        fate = self.campaign_fates[0][_pick(self.campaign_fates[1], rng.random())]
        steps: list[tuple[str, str, str, dict[str, Any]]] = [("hours", "schedule", "open", {})]
        seconds, talk = 1.0, None
        if fate == "hours":
            steps[0] = ("hours", "schedule", "closed", {})
            row["dialled"] = None
        elif fate == "listed":
            row.update(robinson="listed", robinson_list="robinson", dialled=None)
            steps.append(("robinson", "robinson", "listed", {}))
        else:
            steps.append(("robinson", "robinson", "clear", {}))
            ring = 2 + rng.random() * (25 if fate in ("ANSWER", "NOANSWER") else 3)
            row.update(dial_status=fate, ring_time=round(ring, 3))
            seconds += ring
            if fate == "ANSWER":
                talk = _talk(rng) / 2
                row["talk_time"] = round(talk, 3)
            steps.append(("dial", "dial", fate.lower(), {}))
        return self._finish(row, steps, [], start, seconds + (talk or 0))

    def _callback(self, row: dict[str, Any], at: float, source: str, reason: str) -> dict[str, Any]:
        """A callback request made at ``at``: done or cancelled, or still pending when recent."""
        rng = self.rng
        recent = END.timestamp() - at < 3 * 86400
        state = rng.random()
        status = "pending" if recent and state < 0.5 else ("cancelled" if state < 0.1 else "done")
        done_at = at + 300 + rng.expovariate(1 / 5400) if status != "pending" else None
        attempts = 0 if status == "pending" and rng.random() < 0.5 else rng.choice((1, 1, 1, 2, 3))
        return {"requested_at": iso(at), "call_id": row["call_id"], "flow": row["flow"], "caller": row["caller"],
                "number": row["caller_e164"] or row["caller"], "raw_number": row["caller"], "queue": row["queue"] or
                row["flow"], "reason": reason, "status": status, "done_at": iso(done_at) if done_at else None,
                "note": "called back" if status == "done" else None, "request_key": f"{row['id']}-callback",
                "arrived_at": iso(at), "source": source, "attempts": attempts,
                "dialled_at": iso(at + 600) if attempts else None}

    def _finish(self, row: dict[str, Any], steps: list[tuple[str, str, str, dict[str, Any]]],
                callbacks: list[dict[str, Any]], start: float, seconds: float) -> Call:
        """The row's path and end, and the step rows, each started a little after the one before."""
        stamp = start
        step_rows = []
        for seq, (name, kind, outcome, details) in enumerate(steps, 1):
            step_rows.append((row["id"], seq, row["flow"], name, kind, outcome, iso(stamp),
                              round(seconds / len(steps) * 1000, 1), json.dumps(details) if details else "{}"))
            stamp += seconds / len(steps)
        name, kind, outcome, _ = steps[-1]
        row.update(path=" > ".join(f"{s}:{o}" for s, _, o, _ in steps), steps=len(steps), last_step=name,
                   outcome=outcome)
        if row["status"] != "in_progress":
            row.update(ended_at=iso(start + seconds), duration=round(seconds, 3))
            row["hangup_cause"] = "16" if row["status"] != "interrupted" else None
        return call_values(row), step_rows, callbacks


def _base(n: int, key: str, flow: str, start: float, caller: str, e164: str | None, direction: str) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(CALL_COLUMNS)
    row.update(id=key, call_id=f"{int(start)}.{n}", flow=flow, requested_flow=flow,
               flow_version=_VERSIONS[flow],
               caller=caller, caller_e164=e164, caller_name="", channel=f"PJSIP/trunk-{n:08x}", args="[]",
               started_at=iso(start), answered_at=iso(start), fields="{}", node="pbx1", worker=n % 2,
               direction=direction)
    return row


#: Each flow's version (the Git blob id's first 12 characters, as the server keeps it).
_VERSIONS = {"support": "3f2a9c1b7d40", "sales": "a81c03e9f5d2", "billing": "5be0d4471a9c",
             "afterhours": "c07e1f2d9a33", "campaign": "9d4be2710f6a"}


def _menu(choice: str, timeouts: int, invalid: int) -> dict[str, Any]:
    return {"choice": choice, "entries": [] if choice in ("timeout", "hangup") else [choice],
            "timeouts": timeouts, "invalid": invalid}


def _pick(cumulative: list[float], x: float) -> int:
    x *= cumulative[-1]
    for i, edge in enumerate(cumulative):
        if x < edge:
            return i
    return len(cumulative) - 1


def _wait(rng: random.Random, mean: float) -> float:
    return rng.expovariate(1 / mean)


def _talk(rng: random.Random) -> float:
    """Talk time: log-normal around 4 minutes, 10 s at least."""
    return max(10.0, math.exp(rng.gauss(math.log(240), 0.6)))


def _office_hours(start: float, rng: random.Random) -> float:
    """A campaign leg's start: the same day, at an hour campaigns dial."""
    local = datetime.fromtimestamp(start, ZONE)
    hour = rng.choices(range(24), CAMPAIGN_HOURS)[0]
    return local.replace(hour=hour).astimezone(timezone.utc).timestamp()


# -- loading ---------------------------------------------------------------------------

CALLBACK_FIELDS = ("requested_at", "call_id", "flow", "caller", "number", "raw_number", "queue", "reason", "status",
                   "done_at", "note", "request_key", "arrived_at", "source", "attempts", "dialled_at")
INSERT_CALLBACK = (f"INSERT INTO callbacks ({', '.join(CALLBACK_FIELDS)}) "
                   f"VALUES ({', '.join('?' * len(CALLBACK_FIELDS))})")
TABLES = ("calls", "call_steps", "callbacks")
BATCH = 20_000


def _batches(rows: Iterator[Call]) -> Iterator[list[Call]]:
    batch: list[Call] = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _load_sqlite(path: Path, rows: Iterator[Call]) -> None:
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("PRAGMA synchronous = OFF")
        indexes = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                               f"AND tbl_name IN {TABLES} AND sql NOT LIKE 'CREATE UNIQUE%'").fetchall()
        conn.execute("BEGIN")
        for name, _ in indexes:
            conn.execute(f"DROP INDEX {name}")
        for batch in _batches(rows):
            conn.executemany(INSERT_CALL, [call for call, _, _ in batch])
            conn.executemany(INSERT_STEP, [step for _, steps, _ in batch for step in steps])
            conn.executemany(INSERT_CALLBACK, [tuple(map(cb.get, CALLBACK_FIELDS))
                                               for _, _, cbs in batch for cb in cbs])
        for _, sql in indexes:
            conn.execute(sql)
        conn.execute("COMMIT")


def _load_postgres(url: PostgresUrl, rows: Iterator[Call]) -> None:
    with contextlib.closing(pg.connect(url, autocommit=False)) as conn:
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename = ANY(%s) AND indexdef NOT LIKE 'CREATE UNIQUE%%'", (list(TABLES),)).fetchall()
        for name, _ in indexes:
            conn.execute(f"DROP INDEX {name}")
        with conn.cursor() as cur:
            for batch in _batches(rows):
                with cur.copy(f"COPY calls ({', '.join(CALL_COLUMNS)}) FROM STDIN") as copy:
                    for call, _, _ in batch:
                        copy.write_row(call)
                with cur.copy(f"COPY call_steps ({', '.join(STEP_FIELDS)}) FROM STDIN") as copy:
                    for _, steps, _ in batch:
                        for step in steps:
                            copy.write_row(step)
                with cur.copy(f"COPY callbacks ({', '.join(CALLBACK_FIELDS)}) FROM STDIN") as copy:
                    for _, _, cbs in batch:
                        for cb in cbs:
                            copy.write_row(tuple(map(cb.get, CALLBACK_FIELDS)))
        for _, sql in indexes:
            conn.execute(sql)
        conn.commit()
        conn.autocommit = True
        for table in TABLES:
            conn.execute(f"VACUUM ANALYZE {table}")


def describe(database: str | Path | PostgresUrl) -> str:
    """One line: calls, steps, callbacks and the database's size."""
    target = parse_database(database) if isinstance(database, str) else database
    counts = "SELECT (SELECT count(*) FROM calls), (SELECT count(*) FROM call_steps), (SELECT count(*) FROM callbacks)"
    if isinstance(target, PostgresUrl):
        with contextlib.closing(pg.connect(target)) as conn:
            calls, steps, callbacks = conn.execute(counts).fetchone()
            size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
            version = conn.execute("SHOW server_version").fetchone()[0].split()[0]
        return f"{calls:,} calls, {steps:,} steps, {callbacks:,} callbacks, {size / 2**20:,.0f} MiB, PostgreSQL {version}"
    with contextlib.closing(sqlite3.connect(target)) as conn:
        calls, steps, callbacks = conn.execute(counts).fetchone()
    size = Path(target).stat().st_size
    return f"{calls:,} calls, {steps:,} steps, {callbacks:,} callbacks, {size / 2**20:,.0f} MiB, SQLite {sqlite3.sqlite_version}"


@contextlib.contextmanager
def scratch_postgres(server: str, prefix: str) -> Iterator[str]:
    """The URL of a new database on the PostgreSQL ``server`` (a URL of any
    of its databases), dropped afterwards."""
    import psycopg
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
