"""Shared fixtures and the layout of the suite.

- ``tests/unit``: no sockets, no processes, no real time;
- ``tests/integration``: real TCP sockets on 127.0.0.1, ``agiflow serve``
  and ``agiflow-agi`` processes, headless Chromium; marked ``integration``;
- ``tests/quality``: the docs, types, lint and import direction checks;
- ``tests/support``: helpers the tests import (``from support.x import y``);
- ``tests/data/asterisk``: the recorded Asterisk 22 transcripts.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from support.server_process import servers
from support.tinydisk import tiny_disk

#: Fixtures every test may use, defined in tests/support.
__all__ = ["servers", "tiny_disk"]

from support.flows_folder import FlowsFolder
from support.number_lists import lists_database

#: The repository's root folder.
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def flows_folder(tmp_path: Path) -> FlowsFolder:
    """``tmp_path/flows``, where a test writes its schedules files and flows."""
    return FlowsFolder(tmp_path / "flows")


@pytest.fixture
def lists_db(tmp_path: Path) -> Path:
    """A database with the number lists robinson, internal, vip and block
    (see support.number_lists)."""
    return lists_database(tmp_path)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test under tests/integration carries the ``integration`` mark."""
    integration = REPO / "tests" / "integration"
    for item in items:
        if integration in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)
