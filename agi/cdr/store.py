"""The CDR writer: calls hand it rows, one thread writes them.

The reactor never waits on SQLite: ``call_started``, ``step_finished`` and
``call_ended`` only put work on a queue. A single writer thread drains the
queue in batches, one transaction each. When the database is locked or
unwritable the batch is kept and retried, so CDRs are delayed, not lost.
"""
from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import sqlite_utils

from agi.cdr.schema import ensure_schema, mark_interrupted

log = logging.getLogger("agiflow.cdr")

_STOP = ("stop", None)


def iso(ts: float | None) -> str | None:
    """Epoch seconds as an ISO 8601 UTC timestamp (millisecond precision)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def as_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)


class CdrStore:
    """Writes CDRs to the SQLite file at ``path`` from a background thread."""

    def __init__(self, path: str | Path, *, batch_size: int = 500, retry_delay: float = 1.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = str(path)
        self.batch_size = batch_size
        self.retry_delay = retry_delay
        self.clock = clock
        self.written = 0
        self.failures = 0
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._thread: threading.Thread | None = None

    def open(self) -> int:
        """Create the schema and mark calls left running by a previous server
        as interrupted; returns how many were."""
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite_utils.Database(self.path)
        try:
            ensure_schema(db)
            return mark_interrupted(db, iso(self.clock()) or "")
        finally:
            db.close()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="cdr-writer", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def call_started(self, row: dict[str, Any]) -> None:
        self._queue.put(("insert_call", row))

    def step_finished(self, call: str, step: dict[str, Any]) -> None:
        self._queue.put(("insert_step", {"call": call, **step}))

    def call_ended(self, call: str, values: dict[str, Any]) -> None:
        self._queue.put(("update_call", (call, values)))

    def close(self, timeout: float = 10.0) -> bool:
        """Write what is queued and stop the thread; False if it could not
        finish in ``timeout`` seconds (the rows stay queued in memory)."""
        if self._thread is None:
            return True
        self._queue.put(_STOP)
        self._thread.join(timeout)
        done = not self._thread.is_alive()
        if not done:
            log.error("CDR writer did not finish in %.0fs; %d operations unwritten", timeout, self.pending)
        self._thread = None
        return done

    def _run(self) -> None:
        db = sqlite_utils.Database(self.path)
        db.execute("PRAGMA busy_timeout = 5000")
        stopping = False
        while not stopping:
            batch = [self._queue.get()]
            while len(batch) < self.batch_size:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stopping = _STOP in batch
            self._write_until_done(db, [item for item in batch if item != _STOP])
        db.close()

    def _write_until_done(self, db: sqlite_utils.Database, batch: list[tuple[str, Any]]) -> None:
        while batch:
            try:
                with db.conn:
                    for op, arg in batch:
                        _apply(db, op, arg)
                self.written += len(batch)
                return
            except sqlite3.Error as exc:
                self.failures += 1
                log.error("cannot write %d CDR operations (%s); retrying in %.1fs", len(batch), exc, self.retry_delay)
                time.sleep(self.retry_delay)


def _insert_call(db: sqlite_utils.Database, row: dict[str, Any]) -> None:
    db.table("calls").insert(row)


def _insert_step(db: sqlite_utils.Database, row: dict[str, Any]) -> None:
    db.table("call_steps").insert(row)


def _update_call(db: sqlite_utils.Database, arg: tuple[str, dict[str, Any]]) -> None:
    call, values = arg
    db.table("calls").update(call, values)


def _apply(db: sqlite_utils.Database, op: str, arg: Any) -> None:
    """Apply one operation; a row that cannot be applied (a bug, not a
    database problem) is logged and dropped so it cannot block the rest."""
    try:
        _APPLY[op](db, arg)
    except sqlite3.Error:
        raise
    except Exception:  # noqa: BLE001 - keep the writer alive for every other call
        log.exception("dropping CDR operation %s: %r", op, arg)


_APPLY: dict[str, Callable[[sqlite_utils.Database, Any], None]] = {
    "insert_call": _insert_call, "insert_step": _insert_step, "update_call": _update_call,
}
