"""``agiflow report import-queue-log`` against the queue_log the lab's real
Asterisk wrote (docs/cli.md#agiflow-report-import-queue-log): on a copy of
the CDR database whose queue columns were blanked, the import puts back
what the queue steps had read from Asterisk's channel variables.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from calls import Lab
from lab import agiflow_cli

pytestmark = pytest.mark.e2e

COLUMNS = "call_id, queue_status, agent, queue_wait, talk_time"


def queued_calls(database: Path) -> dict[str, dict[str, object]]:
    connection = sqlite3.connect(database)
    connection.row_factory = sqlite3.Row
    try:
        return {row["call_id"]: dict(row) for row in
                connection.execute(f"SELECT {COLUMNS} FROM calls WHERE queue IS NOT NULL")}
    finally:
        connection.close()


def test_import_queue_log_fills_agent_wait_and_talk_time_as_the_queue_steps_read_them(
        lab: Lab, tmp_path: Path) -> None:
    before = queued_calls(lab.database)
    answered = {call_id for call_id, row in before.items() if row["queue_status"] == "ANSWERED"}
    assert len(answered) >= 4 and any(row["queue_status"] == "TIMEOUT" for row in before.values())
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
    after = queued_calls(copy)
    for call_id in answered:
        old, new = before[call_id], after[call_id]
        assert (new["agent"], new["queue_wait"]) == (old["agent"], old["queue_wait"]), call_id
        assert abs(new["talk_time"] - old["talk_time"]) <= 1.0, call_id
    for call_id, old in before.items():
        if old["queue_status"] in ("TIMEOUT", "ABANDONED"):
            new = after[call_id]
            assert new["agent"] is None and new["talk_time"] is None
            assert abs(new["queue_wait"] - old["queue_wait"]) <= 1.0, call_id
    # a second import changes nothing
    agiflow_cli(lab.config, "report", "import-queue-log", str(queue_log), "--db", str(copy))
    assert queued_calls(copy) == after
