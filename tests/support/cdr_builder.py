"""Builds CDR databases for report tests: real SQLite files or PostgreSQL
databases with the server's own schema and INSERT statements, filled with
the calls a test describes (times in UTC, steps as (step, type, outcome,
details))."""
from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
import random
from typing import Any, Iterator, Sequence

import sqlite_utils

from agi.db import postgres as pg
from agi.db.location import PostgresUrl
from agi.storage.migrations import upgrade
from agi.storage.cdr_schema import INSERT_CALL, INSERT_STEP, call_values, ensure_schema, step_values
from agi.vocabulary import CALL_COLUMNS, STEP_COLUMNS

Step = tuple[str, str, str, dict[str, Any]]


def stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def random_starts(rng: random.Random, day: str, count: int) -> Iterator[str]:
    """``count`` call starts (UTC text, to the millisecond) drawn by ``rng``
    over the UTC day ``day`` and the next, each drawn as it is taken."""
    start = utc(f"{day} 00:00:00")
    for _ in range(count):
        moment = start + timedelta(seconds=rng.randrange(2 * 86400), milliseconds=rng.randrange(1000))
        yield moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def utc(text: str) -> datetime:
    """``2025-03-10 09:00:05`` (UTC) as an aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


class CdrBuilder:
    """``add(...)`` one call at a time; ``path`` is the database (a SQLite
    file or a PostgreSQL URL)."""

    def __init__(self, path: Path | PostgresUrl) -> None:
        self.path = path
        self.conn: Any
        if isinstance(path, PostgresUrl):
            upgrade(path)
            self.conn = pg.Connection(pg.connect(path))
        else:
            db = sqlite_utils.Database(path)
            ensure_schema(db)
            db.close()
            self.conn = sqlite3.connect(path, isolation_level=None)
            self.conn.execute("PRAGMA synchronous = OFF")  # test data: speed over durability
        self.count = 0

    def add(self, start: str, *, caller: str = "600111222", flow: str | None = "support",
            duration: float | None = 60.0, status: str = "completed", steps: Sequence[Step] = (),
            **columns: Any) -> str:
        """Insert one call started at ``start`` (UTC text) with its steps;
        ``columns`` sets any other calls column (queue_status, talk_time...)."""
        self.count += 1
        started = utc(start)
        key = uuid.uuid4().hex
        path = " > ".join(f"{name}:{outcome}" for name, _, outcome, _ in steps)
        row: dict[str, Any] = {c: None for c in CALL_COLUMNS}
        row.update(id=key, call_id=f"{int(started.timestamp())}.{self.count}", flow=flow,
                   requested_flow=flow or "nosuch", caller=caller, caller_name="", called="100",
                   started_at=stamp(started), status=status, path=path or None, steps=len(steps),
                   duration=duration, fields="{}", args="[]")
        if duration is not None:
            row["ended_at"] = stamp(started + timedelta(seconds=duration))
        row.update(columns)
        self.conn.execute(INSERT_CALL, call_values(row))
        for seq, (name, type_, outcome, details) in enumerate(steps, start=1):
            step: dict[str, Any] = {c: None for c in STEP_COLUMNS if c != "id"}
            step.update(call=key, seq=seq, flow=flow, step=name, type=type_, outcome=outcome,
                        started_at=stamp(started), duration_ms=10.0, details=json.dumps(details))
            self.conn.execute(INSERT_STEP, step_values(key, step))
        return key

    def add_calls(self, count: int, first: str, every: float = 1.0, **columns: Any) -> None:
        """Insert ``count`` calls without steps, one every ``every`` seconds
        from ``first`` (UTC text), in one transaction: for big databases.
        Callers are numbered ``+34600000000`` up; ``columns`` as for ``add``."""
        started = utc(first)
        base: dict[str, Any] = {c: None for c in CALL_COLUMNS}
        base.update(requested_flow="support", flow="support", caller_name="", called="100", status="completed",
                    steps=0, duration=60.0, fields="{}", args="[]", path="answer:next > queue:answered",
                    queue="support", queue_status="ANSWERED", queue_wait=12.5, talk_time=40.0)
        base.update(columns)
        self.conn.execute("BEGIN")
        batch = []
        for n in range(count):
            moment = started + timedelta(seconds=n * every)
            row = dict(base, id=uuid.uuid4().hex, call_id=f"{int(moment.timestamp())}.{self.count + n}",
                       caller=f"+34600{n:06d}", started_at=stamp(moment),
                       ended_at=stamp(moment + timedelta(seconds=base["duration"] or 0)))
            batch.append(call_values(row))
            if len(batch) == 5000:
                self.conn.executemany(INSERT_CALL, batch)
                batch = []
        if batch:
            self.conn.executemany(INSERT_CALL, batch)
        self.conn.execute("COMMIT")
        self.count += count

    def close(self) -> None:
        self.conn.close()


def menu(name: str, outcome: str, timeouts: int = 0, invalid: int = 0) -> Step:
    entries = ["9"] * invalid + ([] if outcome in ("timeout", "hangup") else [outcome])
    return (name, "menu", outcome, {"entries": entries, "timeouts": timeouts, "invalid": invalid,
                                    "choice": outcome})
