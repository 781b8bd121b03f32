"""Number lists in a real SQLite file for the tests of the ``robinson`` and
``lookup`` steps (the ``lists_db`` fixture), and running a flow with them."""
from __future__ import annotations

import io
from pathlib import Path

from agi.db.location import PostgresUrl
from agi.lists.csvio import ReadReport, read_entries
from agi.lists.numbers import Normaliser
from agi.storage.stores import list_admin, number_lists
from agi.services import Services
from agi.simulate import SimulationResult
from support import step_runner


def lists_database(where: Path | PostgresUrl) -> Path | PostgresUrl:
    """A database with four lists: agiflow.db in the folder ``where``, or
    the PostgreSQL database ``where``, or the SQLite file ``where``.
    robinson: one number and the 90x prefix; internal: one number; vip: Ana
    with a note; block: one number."""
    path: Path | PostgresUrl = where / "agiflow.db" if isinstance(where, Path) and where.is_dir() else where
    with list_admin(path) as admin:
        for name, text in {"robinson": "+34600111222,asked 2025-01-03\n+3490*,premium rate\n",
                           "internal": "611000000,complained\n",
                           "vip": "+34600999888,Ana (gold)\n",
                           "block": "622000000,abusive\n"}.items():
            admin.import_entries(name, read_entries(io.StringIO(text), Normaliser("ES"), ReadReport()))
    return path


def services(db: Path | PostgresUrl | None) -> Services:
    """The lists in ``db`` (none at all for None), numbers read in Spain."""
    return Services(lists=number_lists(db, "ES") if db else None, default_region="ES")


def run(tmp_path: Path, flow: str, *, lists: Services, caller: str = "600000001",
        called: str = "") -> SimulationResult:
    """Run the flow in ``flow`` once with the number lists of ``lists``."""
    return step_runner.run(tmp_path, flow, caller=caller, called=called, services=lists)
