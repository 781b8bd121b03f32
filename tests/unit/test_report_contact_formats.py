"""The agents, consolidated, callbacks and campaign reports through the
command line, in every format (table, CSV, JSON, HTML), on both backends."""
from __future__ import annotations

import csv
import io
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.cdr_builder import CdrBuilder
from support.table_rows import insert

from agi.cli.main import cli

NEW_KINDS = ("agents", "consolidated", "callbacks", "campaign")


@pytest.fixture
def database(database: Path) -> Path:
    cdr = CdrBuilder(database)
    for i in range(6):
        answered = i % 3 != 0
        cdr.add(f"2025-03-10 08:{i * 10:02d}:00", queue="sales" if i % 2 else "support",
                queue_status="ANSWERED" if answered else "ABANDONED", queue_wait=10.0 * (i + 1),
                talk_time=60.0 * (i + 1) if answered else None, agent=("Ana", "<b>Luis</b>")[i % 2] if answered else None,
                status="completed" if answered else "caller_hangup")
    cdr.add("2025-03-10 09:00:00", flow="campaign", direction="outbound", dial_status="ANSWER", talk_time=30)
    cdr.add("2025-03-10 09:01:00", flow="campaign", direction="outbound", robinson="listed")
    cdr.close()
    insert(database, "callbacks", [
        {"requested_at": "2025-03-10T08:00:00.000Z", "number": "+34600111222", "status": "done", "queue": "support",
         "source": "missed", "done_at": "2025-03-10T08:20:00.000Z"},
        {"requested_at": "2025-03-10T08:30:00.000Z", "number": "+34600111223", "status": "pending",
         "queue": "=cmd|x", "source": "keypad"}])
    return database


def csv_headings(column: dict[str, str]) -> list[str]:
    """A column's CSV headings (docs/reports.md#csv-for-spreadsheets): its title; a
    duration twice, in seconds and h:mm:ss; a percentage with (%)."""
    if column["kind"] == "seconds":
        return [f"{column['title']} (s)", f"{column['title']} (h:mm:ss)"]
    return [f"{column['title']} (%)"] if column["kind"] == "percent" else [column["title"]]


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["report", *args], catch_exceptions=False)
    return result.exit_code, result.output


@pytest.mark.parametrize("kind", NEW_KINDS)
def test_each_new_report_in_every_format_says_the_same(database: Path, kind: str) -> None:
    common = ("--db", str(database), "--tz", "Europe/Madrid")
    code, text = invoke(kind, *common, "--format", "json")
    assert code == 0, text
    doc = json.loads(text)
    keys = [c["key"] for c in doc["columns"]]
    assert doc["report"] == kind and doc["rows"] and all(list(row) == keys for row in doc["rows"])
    code, text = invoke(kind, *common, "--format", "csv")
    assert code == 0
    table = list(csv.DictReader(io.StringIO(text, newline="")))
    assert list(table[0]) == [h for c in doc["columns"] for h in csv_headings(c)] and len(table) == len(doc["rows"])
    assert not [c["title"] for c in doc["columns"] if "%" in c["title"]]  # "(%)" says it once: no "Done % (%)"
    code, text = invoke(kind, *common)
    assert code == 0 and max(len(line) for line in text.splitlines()) <= 80
    assert text.splitlines()[-1].startswith("total")
    code, page = invoke(kind, *common, "--format", "html")
    assert code == 0
    parsed = _Page()
    parsed.feed(page)
    assert parsed.tags["script"] == 0 and parsed.tags["svg"] >= 1
    assert parsed.tags["tr"] == len(doc["rows"]) + 2  # the head, every row, the totals
    assert "<b>Luis" not in page  # escaped


def test_consolidated_takes_two_groupings_from_the_command_line(database: Path) -> None:
    code, text = invoke("consolidated", "--db", str(database), "--by", "agent", "--by", "hour", "--format", "json",
                        "--tz", "UTC")
    assert code == 0
    doc = json.loads(text)
    assert doc["options"]["by"] == ["agent", "hour"] and [c["key"] for c in doc["columns"]][:2] == ["agent", "hour"]
    assert [(r["agent"], r["hour"], r["calls"]) for r in doc["rows"]] == [
        (None, "08", 2), (None, "09", 2), ("<b>Luis</b>", "08", 2), ("Ana", "08", 2)]
    code, text = invoke("consolidated", "--db", str(database), "--format", "json")
    assert json.loads(text)["options"]["by"] == ["queue", "day"]


@pytest.mark.parametrize("args", [("--by", "queue", "--by", "day", "--by", "hour"), ("--by", "day", "--by", "day"),
                                  ("--by", "caller",)])
def test_consolidated_refuses_more_than_two_repeated_or_unknown_groupings(database: Path, args: tuple[str, ...]) -> None:
    code, text = invoke("consolidated", "--db", str(database), *args)
    assert code == 2 and "--by" in text


def test_csv_cells_that_look_like_formulas_are_text(database: Path) -> None:
    code, text = invoke("callbacks", "--db", str(database), "--format", "csv")
    assert code == 0 and "'=cmd|x" in text


def test_a_duration_reads_the_same_in_seconds_and_as_a_clock(tmp_path: Path) -> None:
    """Waits of 7.5, 7.5 and 7.499 s make an ASA of 7.49967 s: 7.5 s to the
    millisecond, so 0:08 (a half second to even, as 60.5 s is 1:00), in the
    table, in the CSV's h:mm:ss beside its 7.5, and on the page, as in JSON."""
    database = tmp_path / "cdr.db"
    cdr = CdrBuilder(database)
    for minute, wait in enumerate((7.5, 7.5, 7.499)):
        cdr.add(f"2025-03-10 08:0{minute}:00", queue="sales", queue_status="ANSWERED", queue_wait=wait,
                talk_time=60.0, agent="Ana")
    cdr.close()
    common = ("agents", "--db", str(database), "--tz", "UTC")
    code, text = invoke(*common, "--format", "json")
    assert code == 0 and json.loads(text)["rows"][0]["asa_s"] == 7.5
    code, text = invoke(*common, "--format", "csv")
    row = next(csv.DictReader(io.StringIO(text, newline="")))
    assert (row["ASA (s)"], row["ASA (h:mm:ss)"]) == ("7.5", "0:00:08")
    code, text = invoke("inbound", *common[1:], "--by", "queue")
    assert text.splitlines()[-1].split()[-1] == "0:08"
    code, page = invoke(*common, "--format", "html")
    assert "0:00:08" in page and "0:00:07" not in page


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: dict[str, int] = {"script": 0, "svg": 0, "tr": 0}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.tags:
            self.tags[tag] += 1
