"""The commands that write bring the database's schema up to date first, on
both backends alike (docs/database.md#schema-versions-and-migrations): a
database a list command made is one every other command reads."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from agi.cli.main import cli
from agi.db.location import PostgresUrl
from agi.storage.migrations import version
from agi.storage.schema_version import SCHEMA_VERSION

FIRST_WRITES = {
    "lists create": (["lists", "create", "robinson"], None),
    "lists add": (["lists", "add", "vip", "600111222"], None),
    "schedule override": (["schedule", "override", "office_hours", "open", "--until", "2h"], None),
    "supervisors pin": (["supervisors", "pin", "600111222", "--stdin"], "1234\n"),
}


@pytest.mark.parametrize("command", FIRST_WRITES)
def test_a_database_a_command_wrote_first_is_one_every_command_reads(
        command: str, database: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On SQLite a list command made a file with the list tables alone: then
    `report summary` said `has no table calls: is it an agiflow CDR
    database?` and `db rollups` asked for `agiflow db upgrade` (exit 1 both),
    where on PostgreSQL the same commands printed an empty report."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "schedules.yaml").write_text(
        "version: 1\nschedules:\n  office_hours:\n    timezone: Europe/Madrid\n    hours: {mon-fri: '09:00-18:00'}\n")
    config = tmp_path / "config.yaml"
    config.write_text(f"database: {database.url if isinstance(database, PostgresUrl) else 'agiflow.db'}\n"
                      "flows: flows\n")
    args, stdin = FIRST_WRITES[command]
    runner = CliRunner()
    first = runner.invoke(cli, [*args, "-c", str(config)], input=stdin)
    assert first.exit_code == 0, first.output
    assert version(database) == SCHEMA_VERSION
    report = runner.invoke(cli, ["report", "summary", "-c", str(config)])
    assert report.exit_code == 0, report.output
    assert "no calls match these filters" in report.output
    rollups = runner.invoke(cli, ["db", "rollups", "-c", str(config)])
    assert rollups.exit_code == 0, rollups.output
