"""A flows folder in a test's temporary folder: schedules files and flows
written into it, and loaded through the real loader."""
from __future__ import annotations

import textwrap
from pathlib import Path

from agi.engine.model import FlowSet
from agi.loading.loader import load_flows


class FlowsFolder:
    """``path`` is created with the first file written into it, so that a
    config writer may create and fill it first."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, name: str, text: str) -> Path:
        """Write ``text`` (dedented) to the file ``name``; its path."""
        self.path.mkdir(parents=True, exist_ok=True)
        target = self.path / name
        target.write_text(textwrap.dedent(text), encoding="utf-8")
        return target

    def load(self) -> FlowSet:
        """Every flow and schedule in the folder; fails on any error."""
        flows, errors = load_flows([self.path])
        assert errors == [], errors
        return flows
