"""``agiflow report import-queue-log`` against the queue_log the lab's real
Asterisk wrote (docs/cli.md#agiflow-report-import-queue-log): on a copy of
the CDR database whose agent, wait and talk time were blanked, the import
puts back what each call's queue step had read from Asterisk's channel
variables (``MEMBERNAME``, ``QEHOLDTIME``) and measured, and the agent of a
queue that sets no such variables.
"""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from calls import Lab
from lab import agiflow_cli

pytestmark = pytest.mark.e2e


def queue_steps(database: Path) -> dict[str, dict[str, Any]]:
    """call_id -> the details of the call's last queue step."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        rows = connection.execute("SELECT c.call_id, s.details FROM call_steps s JOIN calls c ON c.id = s.call "
                                  "WHERE c.queue IS NOT NULL ORDER BY s.seq").fetchall()
    finally:
        connection.close()
    steps = {}
    for call_id, details in rows:
        found = json.loads(details or "{}")
        if "queue" in found and "status" in found:
            steps[call_id] = found
    return steps


def queue_columns(database: Path) -> dict[str, dict[str, Any]]:
    connection = sqlite3.connect(database)
    connection.row_factory = sqlite3.Row
    try:
        return {row["call_id"]: dict(row) for row in connection.execute(
            "SELECT call_id, agent, queue_wait, talk_time FROM calls WHERE queue IS NOT NULL")}
    finally:
        connection.close()


def test_import_queue_log_fills_agent_wait_and_talk_time_as_the_queue_steps_read_them(
        lab: Lab, tmp_path: Path) -> None:
    steps = queue_steps(lab.database)
    answered = {call_id for call_id, step in steps.items() if step["status"] in ("ANSWERED", "CONTINUE")}
    missed = {call_id for call_id, step in steps.items() if step["status"] in ("TIMEOUT", "ABANDONED")}
    assert len(answered) >= 4 and len(missed) >= 2
    copy = tmp_path / "cdr.db"
    source = sqlite3.connect(f"file:{lab.database}?mode=ro", uri=True)
    with sqlite3.connect(copy) as target:
        source.backup(target)  # the rows still in the writer's WAL file too
    source.close()
    with sqlite3.connect(copy) as connection:
        connection.execute("UPDATE calls SET agent = NULL, queue_wait = NULL, talk_time = NULL")
    queue_log = lab.asterisk.run / "log" / "queue_log"
    said = agiflow_cli(lab.config, "report", "import-queue-log", str(queue_log), "--db", str(copy))
    assert said.startswith(f"{queue_log}: ") and "calls completed" in said
    after = queue_columns(copy)
    connected = {line[1]: line[3] for line in lab.asterisk.queue_log() if line[4] == "CONNECT"}
    for call_id in answered:
        step, new = steps[call_id], after[call_id]
        if step["agent"] is None:  # a queue without setinterfacevar: only queue_log knows who answered
            assert new["agent"] == connected[call_id] and new["queue_wait"] is not None, call_id
            continue
        assert (new["agent"], new["queue_wait"]) == (step["agent"], step["wait"]), call_id
        assert abs(new["talk_time"] - step["talk_time"]) <= 1.0, call_id
    for call_id in missed:
        new = after[call_id]
        assert new["agent"] is None and new["talk_time"] is None, call_id
        assert abs(new["queue_wait"] - steps[call_id]["wait"]) <= 1.0, call_id
    # a second import changes nothing
    agiflow_cli(lab.config, "report", "import-queue-log", str(queue_log), "--db", str(copy))
    assert queue_columns(copy) == after
