"""A CDR sink that keeps rows in memory: for ``agiflow simulate`` and tests."""
from __future__ import annotations

from typing import Any


class MemoryCdr:
    """Collects call rows by id and step rows in order."""

    def __init__(self) -> None:
        self.calls: dict[str, dict[str, Any]] = {}
        self.steps: list[dict[str, Any]] = []

    def call_started(self, row: dict[str, Any]) -> None:
        self.calls[row["id"]] = dict(row)

    def step_finished(self, call: str, step: dict[str, Any]) -> None:
        self.steps.append({"call": call, **step})

    def call_ended(self, call: str, values: dict[str, Any]) -> None:
        self.calls[call].update(values)
