"""``--caller NUMBER``: one caller's calls however the number was written,
in every report, on both backends (docs/reports.md, "Selecting calls")."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from support.cdr_builder import CdrBuilder
from support.table_rows import insert

from agi.cli.main import cli
from agi.db.location import Database, PostgresUrl
from agi.phone import caller_spellings
from agi.reports import run_report
from agi.reports.caller_filter import CallerMatch, caller_match
from agi.reports.model import Filters, Report

NOW = datetime(2025, 3, 20, 12, 0, tzinfo=timezone.utc)
ANSWERED: dict[str, Any] = {"queue": "sales", "queue_status": "ANSWERED", "queue_wait": 10, "talk_time": 100}
#: The calls of +34600111222 (each call's ``called`` names it), then the others.
THE_CALLER = {"e164", "idd", "national", "spaced", "old national", "old idd", "old e164", "old bare"}
OTHERS = {"same prefix", "old same prefix", "other prefix", "anonymous", "sip name", "old spaced"}


@pytest.fixture
def calls(database: Database) -> Database:
    """One caller in every spelling, new rows (with ``caller_e164``, as the
    server writes them in ES) and old rows (without); others around."""
    cdr = CdrBuilder(database)

    def add(label: str, caller: str, e164: str | None, at: str = "2025-03-10 09:00:00") -> None:
        cdr.add(at, caller=caller, caller_e164=e164, called=label, call_id=f"call-{label}", **ANSWERED)
    add("e164", "+34600111222", "+34600111222", "2025-03-10 08:00:00")
    add("idd", "0034600111222", "+34600111222", "2025-03-10 08:10:00")
    add("national", "600111222", "+34600111222", "2025-03-10 08:20:00")
    add("spaced", "+34 600 111 222", "+34600111222", "2025-03-10 08:30:00")
    add("old national", "600111222", None, "2025-03-10 08:40:00")
    add("old idd", "0034600111222", None, "2025-03-10 08:50:00")
    add("old e164", "+34600111222", None, "2025-03-10 09:00:00")
    add("old bare", "34600111222", None, "2025-03-10 09:10:00")
    add("same prefix", "600999888", "+34600999888")
    add("old same prefix", "0034600999777", None)
    add("other prefix", "+34611000000", "+34611000000")
    add("anonymous", "anonymous", None)
    add("sip name", "alice", None)
    add("old spaced", "600 111 222", None)  # no usual spelling: not found (docs)
    add("withheld", "", None)  # no caller ID: `*` does not find it
    cdr.close()
    return database


def report(database: Database, kind: str, caller: str | None, region: str = "ES", **options: Any) -> Report:
    return run_report(database, kind, Filters(caller=caller, region=region), NOW, **options)


def called(database: Database, caller: str, region: str = "ES") -> set[str]:
    return {row["called"] for row in report(database, "calls", caller, region).rows}


@pytest.mark.parametrize("number", ["+34600111222", "0034600111222", "600111222", "+34 600 111 222",
                                    "34600111222"])
def test_a_number_finds_its_calls_however_each_was_written(calls: Database, number: str) -> None:
    assert called(calls, number) == THE_CALLER


def test_a_caller_id_that_is_no_number_matches_as_written(calls: Database) -> None:
    assert called(calls, "anonymous") == {"anonymous"}
    assert called(calls, "alice") == {"sip name"}
    assert called(calls, "bob") == set()


def test_an_old_row_written_in_no_usual_spelling_matches_only_as_written(calls: Database) -> None:
    assert called(calls, "600 111 222") == THE_CALLER | {"old spaced"}


def test_a_prefix_in_e164_with_the_international_prefix_or_national(calls: Database) -> None:
    numbers = THE_CALLER | {"same prefix", "old same prefix", "old spaced"}  # old spaced: 600 111 222 starts 600
    assert called(calls, "+34600*") == numbers
    assert called(calls, "0034600*") == numbers
    assert called(calls, "600*") == numbers  # national, read in ES: +34600*
    assert called(calls, "+34 600*") == numbers
    assert called(calls, "+346001112*") == THE_CALLER
    # a country code has no national form: its old rows written nationally are not found
    assert called(calls, "+34*") == numbers - {"old national", "old spaced"} | {"other prefix"}
    assert called(calls, "anon*") == {"anonymous"}  # no number: the literal prefix only
    assert called(calls, "*") == THE_CALLER | OTHERS  # every call with a caller ID: not "withheld"


def test_a_national_number_is_read_in_the_region(calls: Database) -> None:
    # in France 600111222 is +33600111222: here only the calls written exactly so
    assert called(calls, "600111222", region="FR") == {"national", "old national"}
    # and an old row's 600111222 is no spelling of +34600111222
    assert called(calls, "+34600111222", region="FR") == THE_CALLER - {"old national"}


def test_every_report_applies_the_same_rule(calls: Database) -> None:
    for caller in ("+34600111222", "600111222", "0034600*"):
        assert report(calls, "summary", caller).totals["calls"] == (  # type: ignore[index]
            len(called(calls, caller)))
    (tracked,) = report(calls, "tracking", "600111222").rows
    assert (tracked["caller"], tracked["calls"]) == ("+34600111222", len(THE_CALLER))
    assert report(calls, "fcr", "0034600111222").totals["callers"] == 1  # type: ignore[index]
    assert report(calls, "inbound", "600111222").totals["offered"] == len(THE_CALLER)  # type: ignore[index]
    assert sum(r["calls"] for r in report(calls, "compliance", "600111222").rows) == len(THE_CALLER)


def test_callback_requests_by_the_number_of_the_call_that_made_them(calls: Database) -> None:
    def request(caller: str, call_id: str | None) -> dict[str, Any]:
        return {"requested_at": "2025-03-10T10:00:00.000Z", "number": "+34600111222", "caller": caller,
                "call_id": call_id, "queue": caller, "source": "missed", "status": "pending", "flow": "support"}
    insert(calls, "callbacks", [request("600111222", "call-national"), request("+34 600 111 222", "call-spaced"),
                                request("0034600111222", None), request("alice", "call-sip name"),
                                request("600999888", "call-same prefix")])
    requests = report(calls, "callbacks", "+34600111222")
    assert sorted(row["key"] for row in requests.rows) == ["+34 600 111 222", "0034600111222", "600111222"]
    assert [row["key"] for row in report(calls, "callbacks", "alice").rows] == ["alice"]
    assert len(report(calls, "callbacks", "600*").rows) == 4


def test_the_match_of_a_number_a_prefix_and_a_caller_id() -> None:
    assert caller_match("600111222", "ES") == CallerMatch(
        "600111222", False, "+34600111222", ("+34600111222", "34600111222", "0034600111222"))
    assert caller_match("0034600*", "ES") == CallerMatch("0034600", True, "+34600", ("+34600", "34600", "600"))
    assert caller_match("34*", "ES").e164 == "+3434"  # national: write +34* for the country
    assert caller_match("+34*", "ES").spellings == ("34", "0034")  # no national form of a country code
    assert caller_match("anonymous", "ES") == CallerMatch("anonymous")
    assert caller_match("sip:*", "ES") == CallerMatch("sip:", True)
    assert caller_spellings("+447400123456", "GB") == ("+447400123456", "447400123456", "00447400123456",
                                                        "07400123456", "7400123456")
    with pytest.raises(ValueError):
        caller_spellings("600111222", "ES")


def test_the_command_line_reads_the_number_in_the_configured_region(calls: Database, tmp_path: Path) -> None:
    target = calls.url if isinstance(calls, PostgresUrl) else str(calls)
    config = tmp_path / "config.yaml"
    config.write_text(f"database: '{target}'\ndefault_region: ES\n", encoding="utf-8")

    def run(*args: str) -> set[str]:
        result = CliRunner().invoke(cli, ["report", "calls", "-c", str(config), "--format", "json", *args],
                                    catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return {row["called"] for row in json.loads(result.output)["rows"]}
    assert run("--caller", "600111222") == THE_CALLER
    assert run("--caller", "600*") == THE_CALLER | {"same prefix", "old same prefix", "old spaced"}
    config.write_text(f"database: '{target}'\ndefault_region: FR\n", encoding="utf-8")
    assert run("--caller", "600111222") == {"national", "old national"}
