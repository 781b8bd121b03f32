"""The shipped example flows through ``agiflow serve`` over real TCP, as a
telephony engineer sets them up: lists filled and schedules overridden with
the CLI, calls from the simulated Asterisk 22, CDRs and callback requests
read back from the SQLite file."""
from __future__ import annotations

import json
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from agi.cli.main import cli
from agi.sim import CallerScript, EverySound, SimulatedAsterisk, make_environment, run_simulated_call
from support.server_process import HOST, REPO, ServerProcess, finished_cdr, running_server, start_server

pytestmark = pytest.mark.integration

VIP = "+34600111222"
LISTED = "699123456"


def agiflow(config: Path, *args: str) -> None:
    result = CliRunner().invoke(cli, [*args, "-c", str(config)])
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("examples")
    shutil.copytree(REPO / "flows", folder / "flows")
    config = folder / "config.yaml"
    config.write_text(json.dumps({
        "server": {"host": HOST, "port": 0, "env_timeout": 0.5, "drain_timeout": 10, "watch_interval": 0},
        "flows": "flows", "database": "cdr.db", "log_level": "INFO"}))
    agiflow(config, "lists", "add", "vip", VIP)
    agiflow(config, "lists", "create", "block")
    agiflow(config, "lists", "add", "robinson", "+34699", "--prefix")
    agiflow(config, "lists", "create", "do_not_call")
    # the calls must not depend on when the test runs
    agiflow(config, "schedule", "override", "office_hours", "open", "--until", "2h")
    agiflow(config, "schedule", "override", "campaign_hours", "open", "--until", "2h")
    with running_server(config) as process:
        yield process


def call(server: ServerProcess, flow: str, uniqueid: str, script: CallerScript, caller: str,
         called: str) -> tuple[SimulatedAsterisk, dict[str, Any]]:
    sim = SimulatedAsterisk(make_environment(flow, uniqueid=uniqueid, callerid=caller, dnid=called), script)
    result = run_simulated_call(HOST, server.port, sim, timeout=10)
    assert result.closed_by_server, result
    [row] = finished_cdr(server.database, uniqueid)
    return sim, row


def callbacks(database: Path, call_id: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 5
    while True:
        with sqlite3.connect(database) as db:
            db.row_factory = sqlite3.Row
            rows = [dict(r) for r in db.execute("SELECT * FROM callbacks WHERE call_id = ?", (call_id,))]
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.02)


def test_vip_caller_who_consents_is_recorded_and_queued_with_priority(server: ServerProcess) -> None:
    script = CallerScript(dtmf=["1", "2"], queue_statuses=["ANSWERED"], sounds=EverySound(8000))
    sim, row = call(server, "customer_care", "1795500000.1", script, VIP, "911234567")
    assert row["path"].startswith("screen:missing > hours:open > answer:next > vip:found > vip_priority:next"
                                  " > consent:accepted > consent_given:next > memory:new > menu:2 > support_queue:answered")
    assert (row["vip"], row["priority"], row["consent"], row["queue_status"]) == (1, 10, "accepted", "ANSWERED")
    assert sim.mixmonitor_files == [row["recording"]]
    assert sim.variables["QUEUE_PRIO"] == "10"


def test_caller_whose_queue_times_out_leaves_a_callback_the_dialer_can_read(server: ServerProcess) -> None:
    script = CallerScript(dtmf=["2", "2", "1", "1"], queue_statuses=["TIMEOUT"], sounds=EverySound(8000))
    sim, row = call(server, "customer_care", "1795500000.2", script, "600333444", "911234567")
    assert "consent:declined > memory:new > menu:2 > support_queue:timeout > callback:requested" in row["path"]
    assert sim.mixmonitor_files == []
    assert (row["consent"], row["callback"]) == ("declined", "+34600333444")
    [request] = callbacks(server.database, "1795500000.2")
    assert (request["number"], request["queue"], request["status"]) == ("+34600333444", "support", "pending")


def test_campaign_never_dials_a_robinson_listed_number_and_dials_a_clear_one(server: ServerProcess) -> None:
    listed_sim, listed = call(server, "campaign", "1795500000.3", CallerScript(), "910000000", LISTED)
    assert listed["path"] == "dnc:listed > listed:next"
    assert (listed["robinson"], listed["robinson_list"]) == ("listed", "robinson")
    assert not [a for a in listed_sim.applications if a[0].lower() == "dial"]
    clear_sim, clear = call(server, "campaign", "1795500000.4", CallerScript(dial_statuses=["BUSY"]),
                            "910000000", "600111222")
    assert clear["path"] == "dnc:clear > calling_hours:open > call_customer:busy > retry:next"
    assert (clear["robinson"], clear["dial_status"]) == ("clear", "BUSY")
    assert [a for a in clear_sim.applications if a[0].lower() == "dial"]


def test_a_server_whose_flows_read_lists_the_database_lacks_says_so_at_start(tmp_path: Path) -> None:
    process = start_server(tmp_path)  # the shipped flows and an empty database
    try:
        line = process.wait_for_log(r"number list 'robinson' \(used by campaign\) does not exist").string
        assert "fail closed" in line and "agiflow lists create robinson" in line
        assert "number list 'vip' (used by customer_care) does not exist" in process.log()
    finally:
        process.stop()
