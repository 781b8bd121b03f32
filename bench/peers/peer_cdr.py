"""The records agiflow keeps of every call, kept the same way for the peers
(bench/compare.py): equal work, so that the comparison is fair.

- one ``calls`` row per call, inserted when the call starts and completed
  when it ends, and one ``call_steps`` row per step, written to SQLite (WAL,
  ``synchronous=NORMAL``) by one thread, as agiflow's CDR writer does: it
  wakes when rows arrive, lets more gather for 50 ms, and writes them in
  one transaction with ``executemany``;
- one log line per call at INFO, through ``logging``, to stderr.

Standard library only: it runs in the peers' virtualenv.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import sqlite3
import sys
import threading
import time
from datetime import datetime, timezone
from typing import Any

log = logging.getLogger("peer.call")

CALL_COLUMNS = ("id", "call_id", "flow", "requested_flow", "caller", "caller_name", "called", "channel",
                "context", "extension", "args", "started_at", "status", "node")
END_COLUMNS = ("ended_at", "duration", "answered_at", "status", "error", "outcome", "last_step", "path", "steps",
               "fields", "priority", "consent", "consent_at", "recording", "queue", "queue_status", "queue_wait")
STEP_COLUMNS = ("call", "seq", "flow", "step", "type", "outcome", "started_at", "duration_ms", "details")
INSERT_CALL = f"INSERT INTO calls ({', '.join(CALL_COLUMNS)}) VALUES ({', '.join('?' * len(CALL_COLUMNS))})"
UPDATE_CALL = f"UPDATE calls SET {', '.join(f'{c} = ?' for c in END_COLUMNS)} WHERE id = ?"
INSERT_STEP = f"INSERT INTO call_steps ({', '.join(STEP_COLUMNS)}) VALUES ({', '.join('?' * len(STEP_COLUMNS))})"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


class PeerCdr:
    """The CDR writer thread; ``call`` starts one call's record."""

    def __init__(self, path: str, flush_interval: float = 0.05) -> None:
        self.path = path
        self.flush_interval = flush_interval
        self.work: queue.SimpleQueue[tuple[str, tuple[Any, ...]]] = queue.SimpleQueue()
        db = sqlite3.connect(path)
        db.execute("PRAGMA journal_mode = WAL")
        columns = ", ".join(f"{c} TEXT" for c in CALL_COLUMNS[1:] + END_COLUMNS if c != "status")
        db.execute(f"CREATE TABLE IF NOT EXISTS calls (id TEXT PRIMARY KEY, status TEXT, {columns})")
        db.execute("CREATE TABLE IF NOT EXISTS call_steps (id INTEGER PRIMARY KEY, call TEXT, seq INTEGER, "
                   "flow TEXT, step TEXT, type TEXT, outcome TEXT, started_at TEXT, duration_ms REAL, details TEXT)")
        db.execute("CREATE INDEX IF NOT EXISTS calls_started ON calls(started_at)")
        db.execute("CREATE INDEX IF NOT EXISTS steps_call ON call_steps(call, seq)")
        db.close()
        threading.Thread(target=self._run, name="cdr-writer", daemon=True).start()

    def call(self, env: dict[str, str], flow: str) -> "CallRecord":
        return CallRecord(self, env, flow)

    def _run(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None)
        db.execute("PRAGMA synchronous = NORMAL")
        while True:
            batch = [self.work.get()]
            time.sleep(self.flush_interval)
            while True:
                try:
                    batch.append(self.work.get_nowait())
                except queue.Empty:
                    break
            db.execute("BEGIN IMMEDIATE")
            for sql in (INSERT_CALL, INSERT_STEP, UPDATE_CALL):
                rows = [values for kind, values in batch if kind == sql]
                if rows:
                    db.executemany(sql, rows)
            db.execute("COMMIT")


class CallRecord:
    """One call's row, its steps and its log line."""

    def __init__(self, cdr: PeerCdr, env: dict[str, str], flow: str) -> None:
        self.cdr = cdr
        self.flow = flow
        self.uniqueid = env.get("agi_uniqueid", "")
        self.started = self.step_started = time.time()
        self.key = f"{int(self.started * 1000):012x}{os.urandom(10).hex()}"
        self.steps: list[str] = []
        self.fields: dict[str, Any] = {}
        cdr.work.put((INSERT_CALL, (
            self.key, self.uniqueid, flow, env.get("agi_network_script", flow), env.get("agi_callerid", ""),
            env.get("agi_calleridname", ""), env.get("agi_dnid", ""), env.get("agi_channel", ""),
            env.get("agi_context", ""), env.get("agi_extension", ""), json.dumps([]), iso(self.started),
            "in_progress", "peer/1")))

    def step(self, name: str, kind: str, outcome: str, **details: Any) -> None:
        now = time.time()
        self.steps.append(f"{name}:{outcome}")
        self.cdr.work.put((INSERT_STEP, (self.key, len(self.steps), self.flow, name, kind, outcome,
                                         iso(self.step_started), round((now - self.step_started) * 1000, 3),
                                         json.dumps(details, sort_keys=True))))
        self.step_started = now

    def end(self, status: str, **recorded: Any) -> None:
        ended = time.time()
        path = " > ".join(self.steps)
        self.cdr.work.put((UPDATE_CALL, (
            iso(ended), round(ended - self.started, 3), iso(self.started), status, None,
            self.steps[-1].split(":")[1] if self.steps else None, self.steps[-1].split(":")[0] if self.steps else None,
            path, len(self.steps), json.dumps(self.fields, sort_keys=True), recorded.get("priority"),
            recorded.get("consent"), iso(ended) if recorded.get("consent") else None, recorded.get("recording"),
            recorded.get("queue"), recorded.get("queue_status"), 0.0, self.key)))
        log.info("[%s %s] call ended: %s at %s", self.uniqueid, self.flow, status, path)


def recording_file(env: dict[str, str], now: float) -> str:
    """The recording's path, named as agiflow's consent step names it."""
    stamp = datetime.fromtimestamp(now, tz=timezone.utc)
    return (f"/var/spool/asterisk/monitor/agiflow/{stamp:%Y/%m/%d}/{stamp:%Y%m%d-%H%M%S}_"
            f"{env.get('agi_callerid', '')}_{env.get('agi_dnid', '')}_{env.get('agi_uniqueid', '')}.wav")
