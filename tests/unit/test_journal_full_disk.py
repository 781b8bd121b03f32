"""The CDR journal and its .starts file on a disk that fills up mid-line:
a write the disk cuts short is taken back whole, so that no half line is
left for the next line to join (both then unreadable, the next one's call
without its end) and no buffered rest of it fails a later, unrelated read."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.tinydisk import fill

from agi.storage.cdr_starts import CallStarts, starts_path
from agi.storage.journal import Journal, JournalError


def _op(key: str, size: int = 10) -> tuple[str, tuple[str, dict[str, str]]]:
    return ("update_call", (key, {"status": "completed", "note": "x" * size}))


def _keys(journal: Journal) -> list[str]:
    return [op[1][0] for batch, _ in journal.batches(100) for op in batch]


def test_an_append_the_full_disk_cut_short_leaves_the_journal_as_it_was(tiny_disk: Path) -> None:
    journal = Journal(tiny_disk / "journal.jsonl")
    journal.open()
    journal.append([_op("k0", 1000)])
    before = journal.path.stat().st_size
    filler = fill(tiny_disk)  # the journal's last page keeps its free bytes
    with pytest.raises(OSError):
        journal.append([_op("k1", 5000)])  # its first 3 KB fit
    assert journal.path.stat().st_size == before
    assert _keys(journal) == ["k0"]  # reading it fails on nothing left over
    end = journal.path.stat().st_size
    assert journal.clear_if_done(end)
    filler.unlink()
    journal.append([_op("k1", 5000), _op("k2")])
    assert _keys(journal) == ["k1", "k2"]
    journal.close()


def test_a_call_start_the_full_disk_cut_short_leaves_no_half_line(tiny_disk: Path) -> None:
    path = tiny_disk / "journal.jsonl"
    starts = CallStarts(path)
    starts.open()
    row = {"id": "k0", "call_id": "1700000000.1", "status": "in_progress", "note": "x" * 1000}
    starts.record(("insert_call", row))
    filler = fill(tiny_disk)
    starts.record(("insert_call", {**row, "id": "k1", "note": "x" * 5000}))
    assert starts_path(path).read_bytes().endswith(b"\n")
    filler.unlink()
    starts.record(("insert_call", {**row, "id": "k2"}))
    starts.close()
    assert [op[1]["id"] for op in CallStarts(path).open()] == ["k0", "k2"]


def test_a_journal_another_server_has_open_is_refused_with_one_line(tmp_path: Path) -> None:
    """Two servers whose configs sit in one folder share the default
    journal; one wrote the other's CDRs, of another database, as its own
    at its next start. The second now refuses the file while the first has it."""
    first = Journal(tmp_path / "agiflow-journal.jsonl")
    first.open()
    try:
        with pytest.raises(JournalError, match="another agiflow server is using it; give each server a `journal` of its own"):
            Journal(tmp_path / "agiflow-journal.jsonl").open()
    finally:
        first.close()
    second = Journal(tmp_path / "agiflow-journal.jsonl")
    assert second.open() == 0
    second.close()


def test_a_journal_written_anew_stays_refused_to_another_server(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Older lines put first write the journal anew beside it and put that
    in its place: a server starting just then found the new file unlocked
    and shared the journal. The new file is held before it takes the path."""
    path = tmp_path / "agiflow-journal.jsonl"
    first = Journal(path)
    first.open()
    first.append([_op("k1")])
    replace = os.replace
    refused: list[bool] = []

    def replace_then_start_another(source: Path, target: Path) -> None:
        replace(source, target)
        other = Journal(path)
        try:
            other.open()
        except JournalError:
            refused.append(True)
        else:
            other.close()
            refused.append(False)

    monkeypatch.setattr(os, "replace", replace_then_start_another)
    first.put_first([_op("k0")])
    monkeypatch.undo()
    assert refused == [True]
    first.append([_op("k2")])
    assert _keys(first) == ["k0", "k1", "k2"]
    first.close()
