"""Flow versions: each loaded flow carries the Git blob id of its file, a
reload logs each flow whose version changed and is counted, every CDR row
records the version that ran, and reports filter and group by it."""
from __future__ import annotations

import errno
import json
import logging
import os
import subprocess
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from support.cdr_builder import CdrBuilder, menu

from agi.cli.main import cli
from agi.flowtest.loader import find_case_files
from agi.loading.library import FlowLibrary
from agi.loading.loader import load_flows
from agi.loading.versions import content_version, folder_commit, version_changes
from agi.reports import run_report
from agi.reports.model import Filters
from agi.session import SessionSettings, run_session
from agi.sim.asterisk import SimulatedAsterisk
from agi.sim.script import CallerScript, EverySound, make_environment
from agi.sim.transport import SimTransport, run_sync
from agi.storage.cdr_memory import MemoryCdr

NOW = datetime(2025, 3, 20, 12, 0, tzinfo=timezone.utc)
FLOW = """\
    version: 1
    name: {name}
    start: hello
    steps:
      hello:
        play: {sound}
"""


def write_flow(folder: Path, name: str, sound: str = "hello-world") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(textwrap.dedent(FLOW.format(name=name, sound=sound)), encoding="utf-8")
    return path


# -- the version of a flow ----------------------------------------------------------

def test_a_version_is_the_git_blob_id_of_the_bytes_cut_to_twelve_hex_digits() -> None:
    # `printf 'hello\n' | git hash-object --stdin` and `git hash-object /dev/null`
    assert content_version(b"hello\n") == "ce013625030b"
    assert content_version(b"") == "e69de29bb2d1"


def test_every_loaded_flow_has_the_version_of_its_file(tmp_path: Path) -> None:
    path = write_flow(tmp_path, "support")
    flows, errors = load_flows([tmp_path])
    assert errors == []
    assert flows.versions() == {"support": content_version(path.read_bytes())}


def test_any_change_to_a_file_gives_a_new_version_and_the_same_bytes_the_same_one(tmp_path: Path) -> None:
    write_flow(tmp_path / "a", "support")
    write_flow(tmp_path / "b", "support")
    write_flow(tmp_path / "c", "support", sound="goodbye")
    versions = [load_flows([tmp_path / name])[0].versions()["support"] for name in "abc"]
    assert versions[0] == versions[1] != versions[2]


def test_crlf_files_load_as_before_and_their_version_is_of_the_bytes_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "support.yaml"
    data = textwrap.dedent(FLOW.format(name="support", sound="hello-world")).replace("\n", "\r\n").encode()
    path.write_bytes(data)
    flows, errors = load_flows([tmp_path])
    assert errors == [] and flows.versions() == {"support": content_version(data)}


def test_version_changes_name_each_flow_added_changed_or_removed() -> None:
    assert version_changes({}, {"b": "2", "a": "1"}) == ["a: 1", "b: 2"]
    assert version_changes({"a": "1", "b": "2", "c": "3"}, {"a": "1", "b": "9", "d": "4"}) == [
        "b: 2 -> 9", "c: removed (was 3)", "d: added at 4"]


# -- reloads ------------------------------------------------------------------------

def test_a_reload_logs_the_old_and_new_version_of_each_changed_flow(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "flows"
    write_flow(folder, "support")
    write_flow(folder, "sales")
    library = FlowLibrary(folder, clock=lambda: 1.8e9)
    assert library.reload() == []
    before = library.current.versions()
    write_flow(folder, "support", sound="goodbye")
    with caplog.at_level(logging.INFO, logger="agiflow.flows"):
        assert library.reload() == []
    after = library.current.versions()
    assert f"flow support: {before['support']} -> {after['support']}" in caplog.text
    assert "flow sales" not in caplog.text  # unchanged
    assert (library.reloads, library.reload_errors, library.loaded_at, library.last_reload_ok) == (2, 0, 1.8e9, True)


def test_a_failed_reload_is_counted_and_keeps_the_versions_being_served(tmp_path: Path) -> None:
    folder = tmp_path / "flows"
    write_flow(folder, "support")
    times = iter([100.0, 200.0])
    library = FlowLibrary(folder, clock=lambda: next(times))
    library.reload()
    served = library.current.versions()
    (folder / "support.yaml").write_text("version: 1\nname: support\n", encoding="utf-8")
    assert library.reload() != []
    assert library.current.versions() == served
    assert (library.reloads, library.reload_errors) == (2, 1)
    assert (library.last_reload_at, library.loaded_at, library.last_reload_ok) == (200.0, 100.0, False)


def test_a_load_of_one_flow_and_a_failed_reload_with_one_error_say_one_not_ones(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The log said 'loaded 1 flows' and 'flows not reloaded: 1 errors;
    still serving the previous 1 flows'."""
    folder = tmp_path / "flows"
    write_flow(folder, "support")
    library = FlowLibrary(folder)
    with caplog.at_level(logging.INFO, logger="agiflow.flows"):
        library.reload()
        (folder / "support.yaml").write_text("version: 1\nname: support\nstart: bye\nsteps:\n  bye:\n"
                                             "    play: hello-world\n    next: nowhere\n", encoding="utf-8")
        [error] = library.reload()
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == f"loaded 1 flow from {folder}: support"
    assert messages[-1] == "flows not reloaded: 1 error; still serving the previous 1 flow"


def test_a_first_load_that_fails_says_no_flows_were_loaded_not_that_old_ones_are_served(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A server that cannot start logged 'flows not reloaded: ...; still
    serving the previous 0 flows', though it served nothing and was exiting."""
    with caplog.at_level(logging.INFO, logger="agiflow.flows"):
        assert FlowLibrary(tmp_path / "missing").reload() != []
    assert caplog.records[-1].getMessage() == "flows not loaded: 1 error"
    assert "still serving" not in caplog.text


def test_a_folder_that_cannot_be_listed_for_a_while_does_not_stop_the_watcher(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from twisted.application.internet import TimerService
    from twisted.internet.task import Clock

    import agi.loading.library as library_module
    folder = tmp_path / "flows"
    write_flow(folder, "support")
    library = FlowLibrary(folder)
    library.reload()
    clock = Clock()
    watcher = TimerService(2, library.reload_if_changed)
    watcher.clock = clock
    watcher.startService()
    listing = library_module.flow_files

    def no_descriptor_left(paths: Any) -> Any:  # a flood of connections took every file descriptor
        raise OSError(errno.EMFILE, "Too many open files", str(folder))

    monkeypatch.setattr(library_module, "flow_files", no_descriptor_left)
    with caplog.at_level(logging.INFO, logger="agiflow.flows"):
        for _ in range(3):
            clock.advance(2)
        monkeypatch.setattr(library_module, "flow_files", listing)
        write_flow(folder, "support", sound="goodbye")
        clock.advance(2)
    assert watcher.running and library.reloads == 2 and library.last_reload_ok
    assert [r.getMessage() for r in caplog.records if "list" in r.getMessage()] == [
        f"cannot list the flow files in {folder} ([Errno 24] Too many open files: '{folder}'); "
        "looking again at the next check",
        f"the flow files in {folder} can be listed again"]
    watcher.stopService()


def test_a_folder_outside_git_has_no_commit(tmp_path: Path) -> None:
    write_flow(tmp_path / "flows", "support")
    library = FlowLibrary(tmp_path / "flows")
    library.reload()
    assert library.commit is None


# -- the CDR ------------------------------------------------------------------------

def test_every_cdr_row_records_the_version_of_the_flow_the_call_started_in(tmp_path: Path) -> None:
    write_flow(tmp_path, "support")
    flows, _ = load_flows([tmp_path])
    rows = []
    for flow in ("support", "nosuch"):
        transport = SimTransport(SimulatedAsterisk(make_environment(flow), CallerScript(sounds=EverySound())))
        cdr = MemoryCdr()
        run_sync(run_session(transport.environment(), transport, flows, cdr, SessionSettings(), lambda: 1.8e9))
        [row] = cdr.calls.values()
        rows.append(row)
    assert rows[0]["flow_version"] == flows.versions()["support"]
    assert rows[1]["status"] == "unknown_flow" and rows[1]["flow_version"] is None


# -- reports ------------------------------------------------------------------------

@pytest.fixture
def two_versions(tmp_path: Path) -> Path:
    """A menu changed on 2025-03-12: version aaaa1111bbbb before, cccc2222dddd after."""
    cdr = CdrBuilder(tmp_path / "cdr.db")
    for day, version, choice in (("10", "aaaa1111bbbb", "1"), ("11", "aaaa1111bbbb", "2"),
                                 ("12", "cccc2222dddd", "1"), ("13", "cccc2222dddd", "1"),
                                 ("14", "cccc2222dddd", "timeout")):
        cdr.add(f"2025-03-{day} 09:00:00", flow_version=version, steps=[menu("menu", choice)])
    cdr.add("2025-03-14 10:00:00", flow="sales", flow_version="eeee3333ffff")
    cdr.close()
    return cdr.path


def test_reports_filter_by_a_version_or_its_first_hex_digits(two_versions: Path) -> None:
    full = run_report(two_versions, "calls", Filters(flow_versions=("aaaa1111bbbb",)), NOW)
    prefix = run_report(two_versions, "calls", Filters(flow_versions=("CCCC",)), NOW)
    longer = run_report(two_versions, "calls", Filters(flow_versions=("aaaa1111bbbb" + "0" * 28,)), NOW)
    assert {row["flow_version"] for row in full.rows} == {"aaaa1111bbbb"} and len(full.rows) == 2
    assert {row["flow_version"] for row in prefix.rows} == {"cccc2222dddd"} and len(prefix.rows) == 3
    assert len(longer.rows) == 2


def test_the_ivr_report_of_each_version_compares_a_menu_before_and_after(two_versions: Path) -> None:
    def choices(version: str) -> dict[str, int]:
        report = run_report(two_versions, "ivr", Filters(flow_versions=(version,)), NOW)
        return {row["choice"]: row["times"] for row in report.rows}
    assert choices("aaaa") == {"1": 1, "2": 1}
    assert choices("cccc") == {"1": 2, "timeout": 1}


def test_summary_by_version_lists_each_flows_versions_in_the_order_they_ran(two_versions: Path) -> None:
    report = run_report(two_versions, "summary", Filters(), NOW, by="version")
    assert [(row["key"], row["calls"]) for row in report.rows] == [
        ("sales@eeee3333ffff", 1), ("support@aaaa1111bbbb", 2), ("support@cccc2222dddd", 3)]
    before = report.rows[1]
    assert (before["first"].date().isoformat(), before["last"].date().isoformat()) == ("2025-03-10", "2025-03-11")
    assert [c.key for c in report.columns][-2:] == ["first", "last"]


def test_inbound_groups_by_version_too(two_versions: Path) -> None:
    report = run_report(two_versions, "inbound", Filters(), NOW, by="version")
    assert {row["key"] for row in report.rows} == {"sales@eeee3333ffff", "support@aaaa1111bbbb",
                                                   "support@cccc2222dddd"}


def test_the_report_command_takes_flow_version_and_refuses_what_is_not_hex(two_versions: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(cli, ["report", "summary", "--db", str(two_versions), "--by", "version",
                               "--flow-version", "aaaa", "--flow-version", "eeee", "--format", "json"])
    assert done.exit_code == 0, done.output
    doc = json.loads(done.output)
    assert doc["filters"]["flow_version"] == ["aaaa", "eeee"]
    assert [row["key"] for row in doc["rows"]] == ["sales@eeee3333ffff", "support@aaaa1111bbbb"]
    bad = runner.invoke(cli, ["report", "calls", "--db", str(two_versions), "--flow-version", "zz; drop"])
    assert bad.exit_code == 2 and "4 to 40 hex digits" in bad.output


def test_more_flow_versions_than_a_query_can_take_are_a_usage_error(two_versions: Path) -> None:
    def report(count: int) -> Any:
        versions = [arg for n in range(count) for arg in ("--flow-version", f"{n:04x}")]
        return CliRunner().invoke(cli, ["report", "summary", "--db", str(two_versions), *versions])

    assert report(100).exit_code == 0
    many = report(999)  # once: "cannot read the CDR database ...: Expression tree is too large"
    assert many.exit_code == 2 and "999 flow versions given; at most 100" in many.output


@pytest.mark.parametrize("head", ["a named pipe", "/dev/zero"])
def test_a_git_head_that_is_no_file_gives_no_commit_at_once(tmp_path: Path, head: str) -> None:
    """A HEAD that was a named pipe held the reload (and every call) for
    ever; one linked to /dev/zero was read until the memory ran out."""
    git = tmp_path / "repo" / ".git"
    git.mkdir(parents=True)
    os.mkfifo(git / "HEAD") if head == "a named pipe" else (git / "HEAD").symlink_to(head)
    write_flow(tmp_path / "repo" / "flows", "support")
    library = FlowLibrary(tmp_path / "repo" / "flows")
    started = time.monotonic()
    assert library.reload() == [] and library.commit is None
    assert time.monotonic() - started < 2


def test_the_commit_of_a_flows_folder_is_read_from_git_files(tmp_path: Path) -> None:
    commit = "0123456789abcdef0123456789abcdef01234567"
    git = tmp_path / "repo" / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "refs" / "heads" / "main").write_text(commit + "\n")
    write_flow(tmp_path / "repo" / "flows", "support")
    library = FlowLibrary(tmp_path / "repo" / "flows")
    library.reload()
    assert library.commit == "0123456789ab"
    (git / "refs" / "heads" / "main").unlink()
    (git / "packed-refs").write_text(f"# pack-refs with: peeled\n{commit[::-1]} refs/heads/main\n")
    assert folder_commit(tmp_path / "repo" / "flows") == commit[::-1][:12]
    (git / "HEAD").write_text(commit)  # a detached HEAD
    assert folder_commit(tmp_path / "repo") == "0123456789ab"
    (git / "HEAD").write_text("ref: refs/heads/unborn\n")
    assert folder_commit(tmp_path / "repo") is None


def test_a_linked_work_tree_reads_its_own_head_and_the_shared_refs(tmp_path: Path) -> None:
    commit = "89abcdef0123456789abcdef0123456789abcdef"
    main = tmp_path / "main" / ".git"
    (main / "refs" / "heads").mkdir(parents=True)
    (main / "refs" / "heads" / "ops").write_text(commit)
    linked = main / "worktrees" / "ops"
    linked.mkdir(parents=True)
    (linked / "HEAD").write_text("ref: refs/heads/ops\n")
    (linked / "commondir").write_text("../..\n")
    (tmp_path / "ops").mkdir()
    (tmp_path / "ops" / ".git").write_text(f"gitdir: {linked}\n")
    assert folder_commit(tmp_path / "ops") == commit[:12]


def test_folders_nested_deeper_than_python_recurses_leave_the_watcher_and_validate_whole(tmp_path: Path) -> None:
    """A tree of 1,500 nested folders (a copy gone wrong, a link farm) in the
    flows folder: listing it recursed once per level, a RecursionError that
    stopped the watcher for good (no later change seen until a restart) and
    was a traceback out of `agiflow validate`. A flow at the bottom is a flow."""
    from twisted.application.internet import TimerService
    from twisted.internet.task import Clock

    folder = tmp_path / "flows"
    write_flow(folder, "support")
    library = FlowLibrary(folder)
    library.reload()
    clock = Clock()
    watcher = TimerService(2, library.reload_if_changed)
    watcher.clock = clock
    watcher.startService()
    level = os.open(folder, os.O_RDONLY)
    for _ in range(1500):  # one level at a time, as pathlib's mkdir recurses too
        os.mkdir("a", dir_fd=level)
        level, above = os.open("a", os.O_RDONLY, dir_fd=level), level
        os.close(above)
    flow = os.open("bottom.yaml", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=level)
    os.write(flow, textwrap.dedent(FLOW.format(name="bottom", sound="hello-world")).encode())
    os.close(flow)
    os.close(level)
    try:
        clock.advance(2)
        write_flow(folder, "support", sound="goodbye")
        clock.advance(2)
        assert library.reloads == 3 and library.last_reload_ok
        assert sorted(library.current.flows) == ["bottom", "support"]
        flows, errors = load_flows([folder])
        assert errors == [] and sorted(flows.flows) == ["bottom", "support"]
        assert find_case_files([folder]) == []  # `agiflow test` looks for its files the same way
    finally:
        subprocess.run(["rm", "-rf", str(folder / "a")], check=True)  # shutil.rmtree recurses too


def test_any_failure_of_listing_the_folder_leaves_the_watcher_running(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Only OSError was caught: anything else raised while listing the
    folder (once a RecursionError) stopped the watcher's loop for good."""
    from twisted.application.internet import TimerService
    from twisted.internet.task import Clock

    import agi.loading.library as library_module
    folder = tmp_path / "flows"
    write_flow(folder, "support")
    library = FlowLibrary(folder)
    library.reload()
    clock = Clock()
    watcher = TimerService(2, library.reload_if_changed)
    watcher.clock = clock
    watcher.startService()
    listing = library_module.flow_files

    def unexpected(paths: Any) -> Any:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(library_module, "flow_files", unexpected)
    with caplog.at_level(logging.INFO, logger="agiflow.flows"):
        for _ in range(3):
            clock.advance(2)
        monkeypatch.setattr(library_module, "flow_files", listing)
        write_flow(folder, "support", sound="goodbye")
        clock.advance(2)
    assert library.reloads == 2 and library.last_reload_ok
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith(("cannot list", "the flow files"))] == [
        f"cannot list the flow files in {folder} (RecursionError: maximum recursion depth exceeded); "
        "looking again at the next check",
        f"the flow files in {folder} can be listed again"]
