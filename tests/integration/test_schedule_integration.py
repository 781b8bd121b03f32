"""A schedule override set with ``agiflow schedule override`` changes the
branch of the next call to a running ``agiflow serve``, without a restart or
a reload; ``agiflow schedule clear`` undoes it.

The server runs as a real process on a temporary config (see
test_integration_server.py); calls come from the Asterisk simulator over
TCP; the CLI writes to the same SQLite file the server reads.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from agi.cli.main import cli
from support.flows_folder import FlowsFolder
from support.server_process import (ServerProcess, call, finished_cdr, new_uniqueid, simulated, step_rows,
                                    write_config)

pytestmark = pytest.mark.integration

#: Open at every real moment, so the test does not depend on the clock.
ALWAYS = """\
version: 1
schedules:
  always:
    timezone: Europe/Madrid
    hours: {daily: 00:00-24:00}
"""

DESK = """\
version: 1
name: desk
start: hours
steps:
  hours:
    schedule: always
    on: {open: welcome, closed: closed_msg}
  welcome:
    play: agiflow/welcome
  closed_msg:
    play: agiflow/office-closed
"""


def hours_outcome(server: ServerProcess) -> tuple[str, dict[str, object]]:
    uniqueid = new_uniqueid()
    result = call(server, simulated("desk", uniqueid))
    assert result.closed_by_server and not result.timed_out, result
    [row] = finished_cdr(server.database, uniqueid)
    assert row["status"] == "completed", row
    first = step_rows(server.database, row["id"])[0]
    return first["outcome"], json.loads(first["details"])


def agiflow(config: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["schedule", *args, "-c", str(config)])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_an_override_set_with_the_cli_changes_the_next_call_without_restart(
        tmp_path: Path, flows_folder: FlowsFolder) -> None:
    config = write_config(tmp_path)
    flows_folder.write("always.yaml", ALWAYS)
    flows_folder.write("desk.yaml", DESK)
    server = ServerProcess(config)
    try:
        server.wait_listening()
        workers = server.wait_for_log(r"agiflow listening on \S+ \((?:(\d+) workers)?").group(1)
        for index in range(1, int(workers or 0) + 1):  # a worker logs its load before it says it listens
            server.wait_for_log(rf"worker {index} listening")
        started = server.mark()  # each worker (and a supervisor) loaded the flows once before
        assert hours_outcome(server)[0] == "open"

        said = agiflow(config, "override", "always", "closed", "--until", "1h", "--reason", "fire drill")
        assert said.startswith("always: closed until ")
        outcome, details = hours_outcome(server)
        assert outcome == "closed"
        assert details["rule"] == "override" and "fire drill" in str(details["reason"])

        assert agiflow(config, "clear", "always").startswith("always: override removed")
        assert hours_outcome(server)[0] == "open"
        assert "flows not reloaded" not in server.log() and "Traceback" not in server.log()
        assert not re.findall(r"loaded \d+ flows?\b", server.log(since=started)), "the override needed a reload"
    finally:
        server.stop()
