"""``agiflow serve`` with two workers, as real processes: both take calls on
one port and write one database, SIGHUP and SIGTERM reach both, a worker
killed in the middle of calls is started again and marks only its own calls
interrupted, and the workers never outlive their supervisor."""
from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from support.server_process import (HOST, REPO, HeldCall, ServerProcess, call, finished_cdr, new_uniqueid,
                                     query, simulated, start_server, support_caller, write_config)

pytestmark = pytest.mark.integration

NODE = "pbx-test"
STARTED = r"worker {index} started \(pid (\d+)\)"


def fleet(folder: Path, servers: list[ServerProcess], **settings: object) -> ServerProcess:
    process = start_server(folder, workers=2, node=NODE, **settings)
    servers.append(process)
    return process


def worker_pid(process: ServerProcess, index: int, since: int = 0) -> int:
    return int(process.wait_for_log(STARTED.format(index=index), since=since).group(1))


def running_rows(process: ServerProcess, uniqueids: list[str]) -> dict[str, int]:
    """uniqueid -> worker of the calls among ``uniqueids`` whose rows are in progress."""
    marks = ",".join("?" * len(uniqueids))
    rows = query(process.database, f"SELECT call_id, node, worker FROM calls WHERE status = 'in_progress' "
                                   f"AND call_id IN ({marks})", tuple(uniqueids))
    assert all(row["node"] == NODE for row in rows)
    return {row["call_id"]: row["worker"] for row in rows}


def hold_calls_on_both_workers(process: ServerProcess) -> dict[str, HeldCall]:
    """Calls waiting at their menu, opened until each worker runs at least
    one (the kernel picks the worker of each connection)."""
    held: dict[str, HeldCall] = {}
    while len(held) < 40:
        uniqueid = new_uniqueid()
        held[uniqueid] = HeldCall(process.port, simulated("support", uniqueid, support_caller()), "support")
        assert held[uniqueid].hold_at(3).upper().startswith("GET DATA")
        if len(held) >= 2 and len(set(wait_running(process, list(held)).values())) == 2:
            return held
    raise AssertionError("40 calls and one worker took them all")


def wait_running(process: ServerProcess, uniqueids: list[str], timeout: float = 5.0) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while len(rows := running_rows(process, uniqueids)) < len(uniqueids):
        assert time.monotonic() < deadline, f"rows never written: {rows}"
        time.sleep(0.02)
    return rows


def test_two_workers_serve_one_port_into_one_database_and_both_reload_on_sighup(
        tmp_path: Path, servers: list[ServerProcess]) -> None:
    process = fleet(tmp_path, servers, watch_interval=0, metrics={"port": 0})
    for index in (1, 2):  # each worker answers on a metrics listener of its own
        url = process.wait_for_log(rf"\(worker {index}\): metrics and health on (http://\S+/)").group(1)
        with urllib.request.urlopen(url + "health", timeout=5) as page:
            assert json.load(page)["accepting_calls"] is True
    uniqueids = [new_uniqueid() for _ in range(40)]
    for uniqueid in uniqueids:
        result = call(process, simulated("closed", uniqueid))
        assert result.closed_by_server and not result.timed_out, result
    ran = [(row["node"], row["worker"]) for u in uniqueids for row in finished_cdr(process.database, u)
           if row["status"] == "completed"]
    assert len(ran) == 40 and set(ran) == {(NODE, 1), (NODE, 2)}

    flow = tmp_path / "flows" / "closed.yaml"
    flow.write_text(flow.read_text(encoding="utf-8").replace("agiflow/office-closed", "agiflow/closed-v2"),
                    encoding="utf-8")
    since = process.mark()
    process.proc.send_signal(signal.SIGHUP)
    process.wait_for_log(r"agiflow\.server: all 2 workers serve the new flows", since=since)
    reports = [line for line in process.log(since).splitlines() if "loaded" in line]
    assert len(reports) == 1 and "agiflow.flows: loaded" in reports[0], "the reload is reported once"
    for _ in range(20):
        result = call(process, simulated("closed", new_uniqueid()))
        assert any("agiflow/closed-v2" in c for c in result.commands), "a worker kept the old flow"


def test_a_sighup_while_the_workers_start_reloads_every_worker_once_they_listen(
        tmp_path: Path, servers: list[ServerProcess]) -> None:
    """A SIGHUP before the workers listened was passed to none of them and
    reported as 'all 0 workers serve the new flows'."""
    process = ServerProcess(write_config(tmp_path, workers=2, node=NODE, watch_interval=0))
    servers.append(process)
    worker_pid(process, 2)  # both started: neither listens yet (each loads agiflow and the flows first)
    process.proc.send_signal(signal.SIGHUP)
    process.wait_listening()
    process.wait_for_log("all 2 workers serve the new flows")
    assert "all 0 workers" not in process.log() and "SIGHUP: reloading flows" in process.log()
    assert call(process, simulated("closed", new_uniqueid())).closed_by_server


def test_a_sighup_to_every_process_while_the_workers_start_kills_none(
        tmp_path: Path, servers: list[ServerProcess]) -> None:
    """``systemctl kill -s HUP``, ``pkill -HUP``, a terminal that hangs up:
    every process gets SIGHUP. A worker got it before it could note it (the
    tenths of a second Python takes to load agiflow), died, and the server
    did not start: 'not starting: worker 2 killed by SIGHUP before it listened'."""
    process = ServerProcess(write_config(tmp_path, workers=2, node=NODE, watch_interval=0))
    servers.append(process)
    signalled: set[int] = set()
    deadline = time.monotonic() + 60
    while not re.search(r"agiflow listening on|not starting", process.log()) and process.proc.poll() is None:
        assert time.monotonic() < deadline, process.log()
        for pid in process.pids()[1:]:  # each worker from the moment it is there, until they listen
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGHUP)
            signalled.add(pid)
        time.sleep(0.002)
    assert signalled, "no worker was seen starting"
    process.wait_listening()
    assert "killed by SIGHUP" not in process.log()
    uniqueid = new_uniqueid()
    assert call(process, simulated("closed", uniqueid)).closed_by_server
    assert [row["status"] for row in finished_cdr(process.database, uniqueid)] == ["completed"]


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("repeated", [signal.SIGHUP, signal.SIGTERM, signal.SIGINT])
def test_signals_while_the_server_stops_leave_its_exit_status_0(
        tmp_path: Path, servers: list[ServerProcess], workers: int, repeated: signal.Signals) -> None:
    """Python gives its signal handlers back to SIG_DFL as it exits: a
    SIGHUP then (a reload during a stop, SIGHUP to every process), or a
    repeated SIGTERM or SIGINT (which are only logged), killed each process
    after its last CDR was written, and the stop ended as 'killed by SIGHUP'
    (the supervisor's exit status -1) instead of 0."""
    process = start_server(tmp_path, workers=workers, node=NODE, watch_interval=0, drain_timeout=1)
    servers.append(process)
    uniqueid = new_uniqueid()
    held = HeldCall(process.port, simulated("support", uniqueid, support_caller()), "support")
    held.hold_at(3)
    pids = process.pids()
    process.proc.send_signal(signal.SIGTERM)
    while process.proc.poll() is None:
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, repeated)
        time.sleep(0.002)
    assert process.wait_exit() == 0, process.log()
    assert "killed by" not in process.log()
    assert [row["status"] for row in finished_cdr(process.database, uniqueid)] == ["interrupted"]


@pytest.mark.parametrize("workers", [1, 2])
def test_sigusr1_and_sigusr2_to_every_process_are_logged_and_cut_no_call(
        tmp_path: Path, servers: list[ServerProcess], workers: int) -> None:
    """Left to their default action, SIGUSR1 or SIGUSR2 (a log rotation
    script's habit) killed the server and cut every call it held."""
    process = start_server(tmp_path, workers=workers, node=NODE, watch_interval=0)
    servers.append(process)
    uniqueid = new_uniqueid()
    held = HeldCall(process.port, simulated("support", uniqueid, support_caller()), "support")
    pending = held.hold_at(3)
    since = process.mark()
    for signum in (signal.SIGUSR1, signal.SIGUSR2):
        for pid in process.pids():
            os.kill(pid, signum)
    process.wait_for_log(r"agiflow\.server.*signal SIGUSR2 ignored", since=since)
    assert call(process, simulated("closed", new_uniqueid())).closed_by_server
    held.finish(pending)
    assert process.proc.poll() is None
    process.stop()
    assert process.wait_exit() == 0, process.log()
    assert [row["status"] for row in finished_cdr(process.database, uniqueid)] == ["completed"]


def test_a_missing_list_is_warned_of_once_per_load_not_once_per_worker(
        tmp_path: Path, servers: list[ServerProcess]) -> None:
    """At a reload every worker once repeated the supervisor's warnings."""
    process = fleet(tmp_path, servers, watch_interval=0)
    since = process.mark()
    process.proc.send_signal(signal.SIGHUP)
    process.wait_for_log(r"agiflow\.server: all 2 workers serve the new flows", since=since)
    process.stop()
    warnings = [line for line in process.lines if "number list 'robinson' (used by campaign) does not exist" in line]
    assert len(warnings) == 2 and not any("(worker" in line for line in warnings), warnings


def test_the_log_has_only_the_documented_loggers_and_no_line_per_port_opened_or_closed(
        tmp_path: Path, servers: list[ServerProcess]) -> None:
    """Twisted's 'QuietSite starting on 9573', 'FastAGIFactory starting on
    4573' and '(TCP Port 4573 Closed)' came under a logger docs/server.md
    does not name, once per worker and port."""
    process = fleet(tmp_path, servers, watch_interval=0, metrics={"port": 0})
    assert call(process, simulated("closed", new_uniqueid())).closed_by_server
    process.stop()
    loggers = {re.match(r"\S+ \S+ \S+ ([\w.]+)", line).group(1): line  # type: ignore[union-attr]
               for line in process.lines if re.match(r"\d{4}-\d\d-\d\d ", line)}
    assert set(loggers) <= {"agiflow.server", "agiflow.flows", "agiflow.call", "agiflow.cdr", "twisted"}, loggers
    twisted = [line for line in process.lines if " twisted" in line]
    assert twisted and all(line.endswith("Main loop terminated.") for line in twisted), twisted


def test_sigterm_drains_the_calls_of_every_worker_then_the_supervisor_exits_0(
        tmp_path: Path, servers: list[ServerProcess]) -> None:
    process = fleet(tmp_path, servers)
    held = hold_calls_on_both_workers(process)
    try:
        process.proc.send_signal(signal.SIGTERM)
        for index in (1, 2):
            process.wait_for_log(rf"\(worker {index}\): draining \d+ calls")
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((HOST, process.port), timeout=2).close()
        assert process.proc.poll() is None, "the supervisor exited with calls in progress"
        for held_call in held.values():
            held_call.finish(held_call.commands[-1])
    finally:
        for held_call in held.values():
            held_call.close()
    assert process.wait_exit() == 0, process.log()
    statuses = {u: [r["status"] for r in finished_cdr(process.database, u)] for u in held}
    assert statuses == {u: ["completed"] for u in held}
    assert "Traceback" not in process.log()


def test_a_killed_worker_is_started_again_and_marks_only_its_own_calls_interrupted(
        tmp_path: Path, servers: list[ServerProcess]) -> None:
    process = fleet(tmp_path, servers)
    held = hold_calls_on_both_workers(process)
    nodes = wait_running(process, list(held))
    since = process.mark()
    os.kill(worker_pid(process, 1), signal.SIGKILL)
    try:
        process.wait_for_log(r"worker 1 killed by SIGKILL; its calls were cut; starting it again", since=since)
        replacement = worker_pid(process, 1, since=since)
        process.wait_for_log(r"\(worker 1\): worker 1 listening", since=since)
        process.wait_for_log(r"\(worker 1\): marked \d+ calls left running .* as interrupted", since=since)
        for uniqueid, held_call in held.items():
            if nodes[uniqueid] == 1:
                assert held_call.next_command() is None, "a killed worker's call kept its socket"
            else:
                held_call.finish(held_call.commands[-1])  # worker 2's calls never noticed
    finally:
        for held_call in held.values():
            held_call.close()
    expected = {u: "interrupted" if worker == 1 else "completed" for u, worker in nodes.items()}
    assert {u: finished_cdr(process.database, u)[0]["status"] for u in held} == expected
    assert replacement != worker_pid(process, 1)
    for _ in range(10):
        uniqueid = new_uniqueid()
        assert call(process, simulated("closed", uniqueid)).closed_by_server
        assert [r["status"] for r in finished_cdr(process.database, uniqueid)] == ["completed"]
    assert process.proc.poll() is None


def test_a_worker_started_again_runs_with_the_config_its_supervisor_read_even_if_the_file_broke_since(
        tmp_path: Path, servers: list[ServerProcess]) -> None:
    process = fleet(tmp_path, servers)
    process.config.write_text(process.config.read_text() + "server: [being edited\n", encoding="utf-8")
    since = process.mark()
    os.kill(worker_pid(process, 1), signal.SIGKILL)
    process.wait_for_log(r"\(worker 1\): worker 1 listening", since=since)
    assert "invalid YAML" not in "\n".join(process.lines[since:])
    for _ in range(10):  # both workers serve: the kernel spreads the calls over them
        uniqueid = new_uniqueid()
        assert call(process, simulated("closed", uniqueid)).closed_by_server
        assert [r["status"] for r in finished_cdr(process.database, uniqueid)] == ["completed"]


def test_a_worker_that_cannot_use_the_database_says_so_in_the_log_in_its_format(
        tmp_path: Path, servers: list[ServerProcess]) -> None:
    """A worker started again while the database could not be used printed
    'error: ...' outside the log: no worker named, not JSON."""
    config = write_config(tmp_path, workers=2, node=NODE, watch_interval=0)
    config.write_text(json.dumps({**json.loads(config.read_text(encoding="utf-8")), "log_format": "json"}),
                      encoding="utf-8")
    process = ServerProcess(config)
    servers.append(process)
    process.wait_listening()
    since = process.mark()
    process.database.rename(tmp_path / "moved.db")
    process.database.mkdir()  # the database is now a directory
    os.kill(worker_pid(process, 1), signal.SIGKILL)
    refused = process.wait_for_log(r"not starting: the database .* is a directory", since=since)
    line = json.loads(refused.string)
    assert line["worker"] == 1 and line["level"] == "ERROR" and line["logger"] == "agiflow.server"
    process.wait_for_log(r"worker 1 exited with status 1", since=since)
    for text in process.lines[since:]:
        json.loads(text)  # every line is one JSON object


def test_one_worker_writes_what_the_journals_of_an_earlier_run_with_workers_hold(
        tmp_path: Path, servers: list[ServerProcess]) -> None:
    """A node that ran with workers while the database was down, started
    again with one: their journals are written before it marks its calls."""
    from agi.storage.journal import Journal
    from agi.vocabulary import iso

    journal = Journal(tmp_path / "agiflow-journal.worker2.jsonl")
    journal.open()
    journal.append([("insert_call", {"id": "w2", "call_id": "1795385106.w2", "flow": "demo", "started_at": iso(1.8e9),
                                     "status": "in_progress", "node": NODE, "worker": 2}),
                    ("update_call", ("w2", {"status": "completed"}))])
    journal.close()
    process = start_server(tmp_path, workers=1, node=NODE)
    servers.append(process)
    assert [row["status"] for row in query(process.database, "SELECT status FROM calls WHERE id = 'w2'")] == \
        ["completed"]
    assert (tmp_path / "agiflow-journal.worker2.jsonl").stat().st_size == 0


def test_the_workers_stop_at_once_with_a_killed_supervisor(tmp_path: Path, servers: list[ServerProcess]) -> None:
    process = fleet(tmp_path, servers)
    pids = [worker_pid(process, index) for index in (1, 2)]
    uniqueid = new_uniqueid()
    held = HeldCall(process.port, simulated("support", uniqueid, support_caller()), "support")
    try:
        held.hold_at(3)
        wait_running(process, [uniqueid])
        process.proc.kill()
        process.wait_exit()
        assert held.next_command() is None
    finally:
        held.close()
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in pids):
        assert time.monotonic() < deadline, "a worker outlived its supervisor"
        time.sleep(0.05)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((HOST, process.port), timeout=2).close()
    again = ServerProcess(process.config)
    servers.append(again)
    again.wait_listening()
    assert [r["status"] for r in finished_cdr(again.database, uniqueid)] == ["interrupted"]


def test_a_stopped_worker_is_killed_and_started_again_so_new_calls_stop_hanging(
        tmp_path: Path, servers: list[ServerProcess]) -> None:
    """A worker stopped with SIGSTOP kept its share of new connections: the
    kernel queued them on its socket, and those calls hung."""
    process = fleet(tmp_path, servers, worker_timeout=2)
    held = hold_calls_on_both_workers(process)
    try:
        frozen = next(u for u, worker in wait_running(process, list(held)).items() if worker == 1)
        pid = worker_pid(process, 1)
        since = process.mark()
        os.kill(pid, signal.SIGSTOP)
        process.wait_for_log(r"worker 1 has said nothing for \d+s \(stopped, or its reactor blocked\): killing it",
                             since=since, timeout=10)
        process.wait_for_log(r"worker 1 killed by SIGKILL; its calls were cut", since=since)
        replacement = worker_pid(process, 1, since=since)
        process.wait_for_log(rf"worker 1 listening on .* \(pid {replacement}\)", since=since, timeout=30)
    finally:
        for call_held in held.values():
            call_held.close()
    for _ in range(20):
        result = call(process, simulated("closed", new_uniqueid()))
        assert result.closed_by_server and not result.timed_out, result
    assert [r["status"] for r in finished_cdr(process.database, frozen)] == ["interrupted"]


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_port_in_use_stops_the_start_in_one_line(tmp_path: Path, servers: list[ServerProcess]) -> None:
    running = fleet(tmp_path / "first", servers)
    for holder in ("agiflow", "other"):
        with socket.socket() as other:
            port = running.port
            if holder == "other":
                other.bind((HOST, 0))
                other.listen()
                port = other.getsockname()[1]
            config = write_config(tmp_path / f"second-{holder}", port=port, workers=2)
            done = subprocess.run([sys.executable, "-m", "agi.cli", "serve", "-c", str(config)],
                                  cwd=config.parent, env={**os.environ, "PYTHONPATH": str(REPO)},
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
        assert done.returncode == 1, done.stderr
        assert re.search(rf"cannot listen on 127\.0\.0\.1:{port}: .*[Aa]ddress already in use", done.stderr)
        assert "worker" not in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("workers", [1, 2])
def test_a_second_start_on_a_port_in_use_leaves_the_running_servers_calls_alone(
        tmp_path: Path, servers: list[ServerProcess], workers: int) -> None:
    """`agiflow serve` started twice on one config (by hand beside systemd,
    a deploy script): the second one wrote the journal and marked the calls
    of the node interrupted before it found the port taken, so the calls the
    first one was running read `interrupted` (the CDR of a live call), and
    its journal was written and emptied under it. The address is checked
    first: the second start changes nothing."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    running = start_server(tmp_path, port=port, workers=workers, node=NODE)
    servers.append(running)
    uniqueid = new_uniqueid()
    held = HeldCall(running.port, simulated("support", uniqueid, support_caller()), "support")
    pending = held.hold_at(3)
    wait_running(running, [uniqueid])
    done = subprocess.run([sys.executable, "-m", "agi.cli", "serve", "-c", str(running.config)],
                          cwd=running.folder, env={**os.environ, "PYTHONPATH": str(REPO)},
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert re.search(rf"cannot listen on 127\.0\.0\.1:{port}: .*[Aa]ddress already in use", done.stderr)
    assert "interrupted" not in done.stderr
    assert running_rows(running, [uniqueid]) != {}, "the running call's row was marked interrupted"
    held.finish(pending)
    [row] = finished_cdr(running.database, uniqueid)
    assert row["status"] == "completed" and row["error"] is None


def test_a_failed_reload_is_counted_by_every_worker_in_its_metrics_and_health(
        tmp_path: Path, servers: list[ServerProcess]) -> None:
    """The supervisor loads the files first and asks no worker to reload
    when they have errors: the workers' agiflow_flow_reload_errors_total,
    agiflow_flows_last_reload_successful and /health never said so, and
    the alert on failed reloads never fired with several workers."""
    process = fleet(tmp_path, servers, watch_interval=0, metrics={"port": 0})
    urls = [process.wait_for_log(rf"\(worker {index}\): metrics and health on (http://\S+/)").group(1)
            for index in (1, 2)]
    flow = tmp_path / "flows" / "closed.yaml"
    flow.write_text(flow.read_text(encoding="utf-8") + "\n  broken: {play: [\n", encoding="utf-8")
    since = process.mark()
    process.proc.send_signal(signal.SIGHUP)
    process.wait_for_log(r"every worker keeps the flows it serves", since=since)
    for url in urls:
        deadline = time.monotonic() + 10
        while True:
            with urllib.request.urlopen(url + "health", timeout=5) as page:
                reloads = json.load(page)["reloads"]
            if reloads["errors"] or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert reloads["total"] == 2 and reloads["errors"] == 1 and reloads["last_successful"] is False, reloads
        assert reloads["last_at"] != reloads["loaded_at"]
        with urllib.request.urlopen(url + "metrics", timeout=5) as page:
            text = page.read().decode()
        assert "\nagiflow_flow_reload_errors_total 1.0\n" in text
        assert "\nagiflow_flows_last_reload_successful 0.0\n" in text
        assert "\nagiflow_flow_reloads_total 2.0\n" in text
    assert call(process, simulated("closed", new_uniqueid())).closed_by_server
    errors = [line for line in process.log(since).splitlines() if "closed.yaml:" in line]
    assert errors and not any("(worker" in line for line in errors), "the errors are logged once, by the supervisor"
    assert "Traceback" not in process.log()
