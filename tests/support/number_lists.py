"""Number lists in a real SQLite file for the tests of the ``robinson`` and
``lookup`` steps (the ``lists_db`` fixture), and running a flow with them."""
from __future__ import annotations

import io
from pathlib import Path

from agi.lists.admin import ListAdmin
from agi.lists.csvio import ReadReport, read_entries
from agi.lists.numbers import Normaliser
from agi.lists.store import SqliteNumberLists
from agi.services import Services
from agi.simulate import SimulationResult
from support import step_runner


def lists_database(folder: Path) -> Path:
    """agiflow.db in ``folder`` with four lists. robinson: one number and
    the 90x prefix; internal: one number; vip: Ana with a note; block: one
    number."""
    path = folder / "agiflow.db"
    with ListAdmin(path) as admin:
        for name, text in {"robinson": "+34600111222,asked 2025-01-03\n+3490*,premium rate\n",
                           "internal": "611000000,complained\n",
                           "vip": "+34600999888,Ana (gold)\n",
                           "block": "622000000,abusive\n"}.items():
            admin.import_entries(name, read_entries(io.StringIO(text), Normaliser("ES"), ReadReport()))
    return path


def services(db: Path | None) -> Services:
    """The lists in ``db`` (none at all for None), numbers read in Spain."""
    return Services(lists=SqliteNumberLists(db, "ES") if db else None, default_region="ES")


def run(tmp_path: Path, flow: str, *, lists: Services, caller: str = "600000001",
        called: str = "") -> SimulationResult:
    """Run the flow in ``flow`` once with the number lists of ``lists``."""
    return step_runner.run(tmp_path, flow, caller=caller, called=called, services=lists)
