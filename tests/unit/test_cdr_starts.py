"""The calls' first rows kept beside the journal (agi/storage/cdr_starts.py):
recorded as calls start, emptied once the writer has written them, written
by the next start when a killed process left them."""
from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from agi.storage.cdr_starts import CallStarts, starts_path
from agi.storage.cdr_writer import CdrStore
from agi.storage.journal import JournalError


def _row(n: int) -> dict[str, object]:
    return {"id": f"k{n}", "call_id": f"17000000{n}.1", "started_at": "2025-03-10T09:00:00.000Z",
            "status": "in_progress", "flow": "support"}


def test_rows_recorded_are_read_back_by_the_next_open_and_a_line_cut_by_the_kill_is_left_out(tmp_path: Path) -> None:
    starts = CallStarts(tmp_path / "journal.jsonl")
    assert starts.open() == []
    for n in range(3):
        starts.record(("insert_call", _row(n)))
    starts.close()
    with open(starts_path(tmp_path / "journal.jsonl"), "ab") as file:
        file.write(b'["insert_call",{"id":"half')  # the kill cut this one
    again = CallStarts(tmp_path / "journal.jsonl")
    assert again.open() == [("insert_call", _row(n)) for n in range(3)]
    again.clear()
    assert starts_path(tmp_path / "journal.jsonl").stat().st_size == 0


def test_a_line_longer_than_any_row_is_skipped_without_reading_it_whole(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import tracemalloc
    with open(starts_path(tmp_path / "journal.jsonl"), "wb") as file:
        file.write(b'["insert_call",{"id":"' + b"x" * (24 << 20) + b'"}]\n')  # a damaged file
        file.write(b'["insert_call",' + json.dumps(_row(1)).encode() + b"]\n")
    tracemalloc.start()
    try:
        left = CallStarts(tmp_path / "journal.jsonl").open()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert left == [("insert_call", _row(1))]
    assert peak < 8 << 20
    assert "skipping a line longer than 1048576 bytes" in caplog.text


def test_rows_recorded_after_the_file_was_removed_are_written_there_with_the_earlier_ones(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A cleanup script took the file away: the rows went on to the removed
    file, and a server killed next left those calls without a row."""
    starts = CallStarts(tmp_path / "journal.jsonl")
    starts.open()
    starts.record(("insert_call", _row(1)))
    starts_path(tmp_path / "journal.jsonl").unlink()
    starts.record(("insert_call", _row(2)))
    # killed here
    assert CallStarts(tmp_path / "journal.jsonl").open() == [("insert_call", _row(1)), ("insert_call", _row(2))]
    assert "was removed" in caplog.text


def test_a_starts_file_that_is_no_file_stops_the_start(tmp_path: Path) -> None:
    os.mkfifo(starts_path(tmp_path / "journal.jsonl"))
    with pytest.raises(JournalError, match="named pipe"):
        CallStarts(tmp_path / "journal.jsonl").open()


def test_the_writer_empties_the_file_once_it_wrote_the_rows_and_a_new_start_writes_what_a_kill_left(
        tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    store = CdrStore(tmp_path / "cdr.db", journal=journal)
    store.open()
    store.call_started(_row(1))
    assert starts_path(journal).stat().st_size > 0  # kept until written
    store.start()
    store.close()
    assert starts_path(journal).stat().st_size == 0

    killed = CdrStore(tmp_path / "cdr.db", journal=journal)  # its writer never runs: as if killed at once
    killed.open()
    killed.call_started(_row(2))
    killed.call_started(_row(3))
    # no close: the process died here, and the system let go of its files
    assert killed.waiting.journal is not None
    os.close(killed.waiting.journal._file.fileno())

    after = CdrStore(tmp_path / "cdr.db", journal=journal)
    assert after.open() == 2  # k2 and k3 written, then marked interrupted (k1 was, by the killed run)
    rows = after.waiting.starts
    assert rows is not None and rows.recorded == 0
    after.close()
    with sqlite3.connect(tmp_path / "cdr.db") as conn:
        found = dict(conn.execute("SELECT id, status FROM calls ORDER BY id").fetchall())
    assert found == {"k1": "interrupted", "k2": "interrupted", "k3": "interrupted"}


@pytest.mark.parametrize("content", [b"version: 1\nname: closed\n", b"SQLite format 3\x00" + bytes(200)])
def test_a_journal_that_holds_another_file_stops_the_start_and_is_left_as_it_was(
        tmp_path: Path, content: bytes) -> None:
    """``journal:`` naming a flow file or a database by mistake: the server
    wrote its 'operations' to the database (none), then emptied the file,
    deleting the flow or every CDR."""
    journal = tmp_path / "closed.yaml"
    journal.write_bytes(content)
    store = CdrStore(tmp_path / "agiflow.db", journal=journal)
    with pytest.raises(JournalError, match=r"closed\.yaml: it holds something other than CDR operations"):
        store.open()
    assert journal.read_bytes() == content
    starts_path(journal).write_bytes(content)
    with pytest.raises(JournalError, match=r"closed\.yaml\.starts: it holds something other than CDR operations"):
        CallStarts(journal).open()
    assert starts_path(journal).read_bytes() == content
