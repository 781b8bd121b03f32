"""Asterisk's ``queue_log`` read into the CDR: who answered a queued
caller, how long they waited and talked, for the calls whose row lacks it
(a queue without ``setqueueentryvar`` or ``setinterfacevar``).

app_queue.c (Asterisk 22) writes one line per event,
``TIME|CALLID|QUEUE|AGENT|EVENT|DATA...``: TIME in whole seconds since
1970, CALLID the caller channel's uniqueid (``calls.call_id``), AGENT the
member's name. A caller's stay in a queue starts with ``ENTERQUEUE``; the
events read are listed in ``EVENTS``, any other is left alone. A line is
joined to the call with its uniqueid, in the queue the row names
(``calls.queue``), running at that time; only empty columns are filled,
so importing a file again changes nothing. Both backends; no click.
"""
from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from agi.db import postgres as pg
from agi.db.caps import CAPS, TEXT, cap_text
from agi.db.location import Database, PostgresUrl
from agi.lists.csvio import ReadReport, line_problem
from agi.vocabulary import iso

#: For each event read: the DATA field (from 0; below 0, from the end)
#: holding the wait in the queue, the one holding the talk time (None: not
#: told), and whether a member took the call (the line's AGENT answered).
EVENTS: dict[str, tuple[int, int | None, bool]] = {
    "CONNECT": (0, None, True),  # holdtime|bridged channel's uniqueid|ringtime
    "COMPLETEAGENT": (0, 1, True),  # holdtime|calltime|origposition
    "COMPLETECALLER": (0, 1, True),
    # method|target|holdtime|calltime|origposition, where a LINK's target is two channels
    "ATTENDEDTRANSFER": (-3, -2, True),
    "BLINDTRANSFER": (2, 3, True),  # extension|context|holdtime|calltime|origposition
    "TRANSFER": (2, 3, True),  # extension|context|holdtime|calltime|origposition (older Asterisk)
    "ABANDON": (2, None, False),  # position|origposition|waittime
    "EXITWITHTIMEOUT": (2, None, False),
    "EXITEMPTY": (2, None, False),
    "EXITWITHKEY": (3, None, False),  # key|position|origposition|waittime
}
ENTER = "ENTERQUEUE"
#: CALLID of the lines about members, not callers (AGENTLOGIN, PAUSE...).
NO_CALL = ("", "NONE")
#: How far apart agiflow's clock and Asterisk's may be, in seconds.
CLOCK_SLACK = 60
_TIME = re.compile(r"[0-9]{1,12}(\.[0-9]{1,6})?")
#: A TIME from here on is no time: with the slack, past the year 9999,
#: the last a database timestamp (and Python's datetime) reads.
_TIME_END = 253402300800 - 2 * CLOCK_SLACK
_SECONDS = re.compile(r"-?[0-9]{1,9}")

#: Fill the empty columns of the call ``:call_id`` that ran in ``:queue``
#: between ``:last_at`` and ``:first_at`` (with the slack); no row changes
#: when nothing would be filled. The same text runs on PostgreSQL.
FILL_CALL = """
UPDATE calls SET agent = coalesce(agent, CAST(:agent AS TEXT)),
                 queue_wait = coalesce(queue_wait, CAST(:wait AS DOUBLE PRECISION)),
                 talk_time = coalesce(talk_time, CAST(:talk AS DOUBLE PRECISION))
WHERE call_id = :call_id AND queue = :queue AND started_at <= :last_at
  AND (ended_at IS NULL OR ended_at >= :first_at)
  AND ((agent IS NULL AND CAST(:agent AS TEXT) IS NOT NULL)
       OR (queue_wait IS NULL AND CAST(:wait AS DOUBLE PRECISION) IS NOT NULL)
       OR (talk_time IS NULL AND CAST(:talk AS DOUBLE PRECISION) IS NOT NULL))"""


@dataclass
class Stay:
    """One caller's stay in one queue, as its events tell it."""

    call_id: str
    queue: str
    first_at: float
    last_at: float
    agent: str | None = None
    wait: float | None = None
    talk: float | None = None

    def values(self) -> dict[str, Any]:
        """FILL_CALL's parameters."""
        return {"call_id": self.call_id, "queue": self.queue, "agent": self.agent, "wait": self.wait,
                "talk": self.talk, "first_at": iso(self.first_at - CLOCK_SLACK),
                "last_at": iso(self.last_at + 1 + CLOCK_SLACK)}


#: The stays read so far, in a private temporary SQLite database (on disk,
#: removed when closed): a year of a busy queue_log holds millions of
#: calls, which in memory took gigabytes.
_STAGING = ("CREATE TABLE stays (call_id TEXT NOT NULL, queue TEXT NOT NULL, first_at REAL NOT NULL, "
            "last_at REAL NOT NULL, agent TEXT, wait REAL, talk REAL, PRIMARY KEY (call_id, queue)) WITHOUT ROWID")
#: A stay starts: any earlier one of that caller in that queue is forgotten.
_ENTER_STAY = "INSERT OR REPLACE INTO stays VALUES (?, ?, ?, ?, NULL, NULL, NULL)"
#: Another event of a stay (or the first of one that began before the file).
_STAY_EVENT = """
INSERT INTO stays VALUES (:call_id, :queue, :at, :at, :agent, :wait, :talk)
ON CONFLICT (call_id, queue) DO UPDATE SET last_at = max(last_at, excluded.last_at), wait = excluded.wait,
    talk = coalesce(excluded.talk, talk), agent = coalesce(excluded.agent, agent)"""
#: The staging database's page cache (KiB): small logs stay in memory, larger ones spill to its file.
STAGING_CACHE_KIB = 32_768


class QueueLog:
    """What a queue_log file holds for the CDR: the last stay of each
    caller in each queue, and how many lines and events were read. The
    stays wait in a temporary database: ``close`` removes it."""

    def __init__(self, report: ReadReport | None = None) -> None:
        self.report = report or ReadReport()
        self.events = 0
        self._staging = sqlite3.connect("", isolation_level=None)
        self._staging.execute(f"PRAGMA cache_size = -{STAGING_CACHE_KIB}")
        self._staging.execute(_STAGING)
        self._staging.execute("BEGIN")  # never committed: the database goes with its connection

    def enter(self, call_id: str, queue: str, at: float) -> None:
        self._staging.execute(_ENTER_STAY, (call_id, queue, at, at))

    def event(self, call_id: str, queue: str, at: float, agent: str | None, wait: float | None,
              talk: float | None) -> None:
        self._staging.execute(_STAY_EVENT, {"call_id": call_id, "queue": queue, "at": at, "agent": agent,
                                            "wait": wait, "talk": talk})

    def stays(self) -> Iterator[Stay]:
        """Every stay, one at a time."""
        cursor = self._staging.execute(
            "SELECT call_id, queue, first_at, last_at, agent, wait, talk FROM stays ORDER BY call_id, queue")
        for row in cursor:
            yield Stay(*row)

    def close(self) -> None:
        self._staging.close()

    def __enter__(self) -> QueueLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_queue_log(lines: Iterable[str], report: ReadReport | None = None) -> QueueLog:
    """Every line of a queue_log (``text_lines`` of the file); bad lines
    go to the report with their number and why. Close what it returns."""
    log = QueueLog(report)
    try:
        for number, line in enumerate(lines, start=1):
            log.report.lines = number
            text = line.rstrip("\r\n")
            if not text.strip():
                continue
            problem = line_problem(text, log.report, "Asterisk's queue_log") or _take(log, text.split("|"))
            if problem:
                log.report.reject(number, problem)
    except BaseException:
        log.close()
        raise
    return log


def _take(log: QueueLog, fields: list[str]) -> str | None:
    """Apply one line's fields to its stay; why it is bad, else None."""
    if len(fields) < 5:
        return "not a queue_log line: TIME|CALLID|QUEUE|AGENT|EVENT|DATA... expected"
    moment, call_id, queue, agent, event, data = *fields[:5], fields[5:]
    if not _TIME.fullmatch(moment) or float(moment) >= _TIME_END:
        return f"{moment[:40]!r} is not a time (seconds since 1970)"
    if call_id in NO_CALL or (event != ENTER and event not in EVENTS):
        return None
    at = float(moment)
    if event == ENTER:  # a stay starts
        log.events += 1
        log.enter(call_id, queue, at)
        return None
    wait_field, talk_field, answered = EVENTS[event]
    try:
        wait = _seconds(data, wait_field, "wait")
        talk = _seconds(data, talk_field, "talk time") if talk_field is not None else None
    except ValueError as exc:
        return f"{event}: {exc}"
    log.events += 1
    taker = cap_text(agent, CAPS.get("agent", TEXT)) if answered and agent not in NO_CALL else None
    log.event(call_id, queue, at, taker, wait, talk)
    return None


def _seconds(data: list[str], index: int, name: str) -> float:
    """DATA field ``index`` (below 0: from the end): whole seconds, 0 or more."""
    if index >= len(data):
        raise ValueError(f"no {name} (field {6 + index} is missing)")
    if index < -len(data):
        raise ValueError(f"no {name} (too few fields)")
    value = data[index].strip()
    if not _SECONDS.fullmatch(value) or int(value) < 0:
        raise ValueError(f"the {name} {value[:40]!r} is not a number of seconds")
    return float(value)


@dataclass(frozen=True)
class Imported:
    """What an import did: stays read, and calls whose row it completed."""

    stays: int
    updated: int


def fill_calls(database: Database, stays: Iterable[Stay]) -> Imported:
    """Fill the empty ``agent``, ``queue_wait`` and ``talk_time`` of the
    calls the stays belong to, in one transaction."""
    conn = _connect(database)
    count = updated = 0
    try:
        conn.execute("BEGIN IMMEDIATE")
        for stay in stays:
            count += 1
            updated += max(0, conn.execute(FILL_CALL, stay.values()).rowcount)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()
    return Imported(count, updated)


def _connect(database: Database) -> Any:
    if isinstance(database, PostgresUrl):
        return pg.Connection(pg.connect(database, application_name="agiflow report import-queue-log"))
    return sqlite3.connect(database, timeout=5.0, isolation_level=None)

