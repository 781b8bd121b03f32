"""One home for the call vocabulary: statuses, shared outcomes and CDR
columns are defined once (agi/vocabulary.py), and everything that names
them agrees with that definition and with docs/cdr.md."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from agi.loading.loader import load_flows
from agi.reports import queries
from agi.session import run_session, SessionSettings
from agi.engine.step import StepResult
from agi.sim.asterisk import SimulatedAsterisk
from agi.sim.script import CallerScript, EverySound, make_environment
from agi.sim.transport import SimTransport, run_sync
from agi.storage.cdr_memory import MemoryCdr
from agi.vocabulary import (CALL_COLUMNS, RECORD_COLUMNS, SESSION_COLUMNS, STATUSES, STEP_COLUMNS,
                            STEP_FILLED_COLUMNS)

ROOT = Path(__file__).resolve().parents[2]


def test_steps_may_record_exactly_the_step_filled_columns_of_calls() -> None:
    assert RECORD_COLUMNS == set(CALL_COLUMNS) - set(SESSION_COLUMNS) == set(STEP_FILLED_COLUMNS)
    StepResult("next", record={column: None for column in STEP_FILLED_COLUMNS})
    with pytest.raises(ValueError, match="status"):
        StepResult("next", record={"status": "completed"})


@pytest.mark.parametrize("flow", ["support", "closed", "no_such_flow"])
def test_the_rows_a_call_writes_have_only_cdr_columns(flow: str) -> None:
    flows, errors = load_flows([ROOT / "flows"])
    assert errors == []
    transport = SimTransport(SimulatedAsterisk(make_environment(flow), CallerScript(sounds=EverySound())))
    cdr = MemoryCdr()
    status = run_sync(run_session(transport.environment(), transport, flows, cdr, SessionSettings(), lambda: 1.8e9))
    [row] = cdr.calls.values()
    assert set(row) <= set(CALL_COLUMNS) and row["status"] == status in STATUSES
    assert all(set(step) <= set(STEP_COLUMNS) for step in cdr.steps)


def test_every_call_status_and_cdr_column_is_documented() -> None:
    page = (ROOT / "docs" / "cdr.md").read_text(encoding="utf-8")
    status_rows = re.findall(r"^\| `(\w+)` \|", page.split("### Status values", 1)[1].split("\n\n", 2)[1], re.M)
    assert status_rows == list(STATUSES)
    documented = set(re.findall(r"^\| `(\w+)`(?:, `(\w+)`)? \|", page, re.M))
    names = {name for pair in documented for name in pair if name}
    assert set(CALL_COLUMNS) | set(STEP_COLUMNS) <= names


def test_report_sql_compares_call_status_only_with_call_statuses() -> None:
    sql = " ".join(value for value in vars(queries).values() if isinstance(value, str))
    compared = re.findall(r"c\.status\s*(?:=|<>)\s*'(\w+)'", sql)
    listed = [word for group in re.findall(r"c\.status IN \(([^)]*)\)", sql) for word in re.findall(r"'(\w+)'", group)]
    assert compared and listed
    assert set(compared + listed) <= set(STATUSES)
