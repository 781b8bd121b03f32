"""``agiflow report import-queue-log``: Asterisk's queue_log fills the
agent, queue wait and talk time of the calls that lack them, on both
backends; again changes nothing; bad lines are FILE:LINE."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from support.cdr_builder import CdrBuilder, utc
from support.table_rows import select

from agi.cli.main import cli
from agi.lists.csvio import ReadReport
from agi.storage.queue_log import read_queue_log

REPO = Path(__file__).resolve().parents[2]
START = "2025-03-10 09:00:00"
T0 = int(utc(START).timestamp())


def at(seconds: int) -> int:
    """Seconds since 1970, ``seconds`` after START."""
    return T0 + seconds


def answered_call(cdr: CdrBuilder, call_id: str = "1741597200.7", **columns: Any) -> str:
    values = {"queue": "support", "queue_status": "ANSWERED", "duration": 200.0, **columns}
    return cdr.add(START, call_id=call_id, **values)


def answered_log(call_id: str = "1741597200.7", queue: str = "support", agent: str = "Ana") -> str:
    return "".join(f"{line}\n" for line in (
        f"{at(-100)}|NONE|NONE|NONE|QUEUESTART|",
        f"{at(5)}|{call_id}|{queue}|NONE|ENTERQUEUE||600111222|1",
        f"{at(6)}|NONE|{queue}|Luis|PAUSE||",
        f"{at(35)}|{call_id}|{queue}|{agent}|RINGNOANSWER|4000",
        f"{at(40)}|{call_id}|{queue}|{agent}|CONNECT|35|1741597240.9|5",
        f"{at(160)}|{call_id}|{queue}|{agent}|COMPLETECALLER|35|120|1",
    ))


def importing(log_text: str, tmp_path: Path, database: Any, *extra: str) -> tuple[int, str]:
    path = tmp_path / "queue_log"
    path.write_text(log_text)
    result = CliRunner().invoke(cli, ["report", "import-queue-log", str(path), "--db", str(database), *extra])
    return result.exit_code, result.output


def call(database: Any, key: str) -> dict[str, Any]:
    [row] = select(database, "SELECT agent, queue_wait, talk_time FROM calls WHERE id = :id", {"id": key})
    return row


def test_an_answered_call_gets_its_agent_wait_and_talk_time_and_a_second_import_changes_nothing(
        database: Any, tmp_path: Path) -> None:
    cdr = CdrBuilder(database)
    key = answered_call(cdr)
    code, out = importing(answered_log(), tmp_path, database)
    assert code == 0, out
    assert "6 lines, 3 call events, 1 stay in queues; 1 call completed" in out
    assert call(database, key) == {"agent": "Ana", "queue_wait": 35.0, "talk_time": 120.0}
    code, out = importing(answered_log(), tmp_path, database)
    assert code == 0 and "0 calls completed" in out
    assert call(database, key) == {"agent": "Ana", "queue_wait": 35.0, "talk_time": 120.0}


def test_only_empty_columns_are_filled(database: Any, tmp_path: Path) -> None:
    cdr = CdrBuilder(database)
    key = answered_call(cdr, agent="Ana María", talk_time=118.5)
    importing(answered_log(agent="Ana"), tmp_path, database)
    assert call(database, key) == {"agent": "Ana María", "queue_wait": 35.0, "talk_time": 118.5}


def test_events_of_another_queue_or_another_time_or_no_call_fill_nothing(database: Any, tmp_path: Path) -> None:
    cdr = CdrBuilder(database)
    other_queue = answered_call(cdr, call_id="1741597200.1", queue="sales")
    long_before = cdr.add("2025-03-01 09:00:00", call_id="1741597200.2", queue="support", queue_status="ANSWERED",
                          duration=200.0)
    log = answered_log("1741597200.1") + answered_log("1741597200.2") + answered_log("1741597200.3")
    code, out = importing(log, tmp_path, database)
    assert code == 0 and "3 stays in queues; 0 calls completed" in out
    assert call(database, other_queue) == call(database, long_before) == \
        {"agent": None, "queue_wait": None, "talk_time": None}


def test_a_caller_who_left_unanswered_gets_the_wait_and_no_agent(database: Any, tmp_path: Path) -> None:
    cdr = CdrBuilder(database)
    timed_out = cdr.add(START, call_id="1741597200.4", queue="support", queue_status="TIMEOUT", duration=320.0)
    abandoned = cdr.add(START, call_id="1741597200.5", queue="support", queue_status="ABANDONED",
                        status="caller_hangup", duration=60.0)
    keyed = cdr.add(START, call_id="1741597200.6", queue="support", queue_status="ANSWERED", duration=60.0)
    log = (f"{at(5)}|1741597200.4|support|NONE|ENTERQUEUE||600111222|1\n"
           f"{at(305)}|1741597200.4|support|NONE|EXITWITHTIMEOUT|1|1|300\n"
           f"{at(5)}|1741597200.5|support|NONE|ENTERQUEUE||600111223|2\n"
           f"{at(47)}|1741597200.5|support|Ana|ABANDON|1|2|42\n"
           f"{at(5)}|1741597200.6|support|NONE|EXITWITHKEY|5|1|1|12\n")
    assert importing(log, tmp_path, database)[0] == 0
    assert call(database, timed_out) == {"agent": None, "queue_wait": 300.0, "talk_time": None}
    assert call(database, abandoned) == {"agent": None, "queue_wait": 42.0, "talk_time": None}
    assert call(database, keyed)["queue_wait"] == 12.0


def test_a_caller_queued_twice_in_one_queue_gets_the_last_stay(database: Any, tmp_path: Path) -> None:
    cdr = CdrBuilder(database)
    key = answered_call(cdr, duration=600.0)
    log = (f"{at(5)}|1741597200.7|support|NONE|ENTERQUEUE||600111222|1\n"
           f"{at(65)}|1741597200.7|support|NONE|EXITWITHTIMEOUT|1|1|60\n"
           f"{at(70)}|1741597200.7|support|NONE|ENTERQUEUE||600111222|1\n"
           f"{at(80)}|1741597200.7|support|Luis|CONNECT|10|1741597280.9|3\n"
           f"{at(380)}|1741597200.7|support|Luis|BLINDTRANSFER|200|sales|10|300|1\n")
    assert importing(log, tmp_path, database)[0] == 0
    assert call(database, key) == {"agent": "Luis", "queue_wait": 10.0, "talk_time": 300.0}


@pytest.mark.parametrize("how", [
    "BRIDGE|bfd4c3c2-3aec-4a36-a3e9-5a8f4e5e0c71",  # a bridge merge: the method, then the bridge
    "APP|Playback",  # an application run on the bridge
    "LINK|Local/200@agents-00000001;1|Local/200@agents-00000001;2",  # two bridges linked: two channels
])
def test_an_attended_transfer_gives_its_hold_time_and_call_time_whatever_its_method(
        database: Any, tmp_path: Path, how: str) -> None:
    # app_queue.c writes METHOD|TARGET...|holdtime|calltime|origposition
    cdr = CdrBuilder(database)
    key = answered_call(cdr, duration=600.0)
    log = (f"{at(5)}|1741597200.7|support|NONE|ENTERQUEUE||600111222|1\n"
           f"{at(30)}|1741597200.7|support|Ana|CONNECT|25|1741597230.9|3\n"
           f"{at(230)}|1741597200.7|support|Ana|ATTENDEDTRANSFER|{how}|25|200|1\n")
    code, out = importing(log, tmp_path, database)
    assert code == 0, out
    assert call(database, key) == {"agent": "Ana", "queue_wait": 25.0, "talk_time": 200.0}


@pytest.mark.parametrize("line, reason", [
    ("garbage", "not a queue_log line: TIME|CALLID|QUEUE|AGENT|EVENT|DATA... expected"),
    ("yesterday|1741597200.7|support|Ana|CONNECT|35|x|5", "'yesterday' is not a time (seconds since 1970)"),
    # past the year 9999 (once a ValueError traceback from the database write)
    ("999999999999|1741597200.7|support|Ana|CONNECT|35|x|5", "'999999999999' is not a time (seconds since 1970)"),
    ("253402300799|1741597200.7|support|Ana|CONNECT|35|x|5", "'253402300799' is not a time (seconds since 1970)"),
    (f"{T0}|1741597200.7|support|Ana|CONNECT|soon|x|5", "CONNECT: the wait 'soon' is not a number of seconds"),
    (f"{T0}|1741597200.7|support|Ana|COMPLETEAGENT|35", "COMPLETEAGENT: no talk time (field 7 is missing)"),
    (f"{T0}|1741597200.7|support|Ana|COMPLETEAGENT|35|-4|1",
     "COMPLETEAGENT: the talk time '-4' is not a number of seconds"),
    (f"{T0}|1741597200.7|sup\x00port|Ana|CONNECT|35|x|5", "NUL byte in the line"),
    (f"{T0}|1741597200.7|support|Ana|ATTENDEDTRANSFER|200|1", "ATTENDEDTRANSFER: no wait (too few fields)"),
])
def test_a_bad_line_is_named_with_its_file_and_line_and_nothing_changes(
        database: Any, tmp_path: Path, line: str, reason: str) -> None:
    cdr = CdrBuilder(database)
    key = answered_call(cdr)
    code, out = importing(answered_log() + line + "\n", tmp_path, database)
    assert code == 1
    assert f"{tmp_path / 'queue_log'}:7: {reason}" in out
    assert "1 bad line (fix it, or give --skip-bad to import the good lines); nothing changed" in out
    assert call(database, key) == {"agent": None, "queue_wait": None, "talk_time": None}
    code, out = importing(answered_log() + line + "\n", tmp_path, database, "--skip-bad")
    assert code == 0 and "1 bad line skipped; 1 call completed" in out
    assert call(database, key)["agent"] == "Ana"


def test_bytes_that_are_not_text_ask_for_the_encoding(database: Any, tmp_path: Path) -> None:
    cdr = CdrBuilder(database)
    key = answered_call(cdr)
    path = tmp_path / "queue_log"
    path.write_bytes(answered_log(agent="Mar\xeda").encode("latin-1"))
    runner = CliRunner()
    result = runner.invoke(cli, ["report", "import-queue-log", str(path), "--db", str(database)])
    assert result.exit_code == 1 and "give the file's encoding with --encoding" in result.output
    result = runner.invoke(cli, ["report", "import-queue-log", str(path), "--db", str(database),
                                 "--encoding", "latin-1"])
    assert result.exit_code == 0, result.output
    assert call(database, key)["agent"] == "María"


@pytest.mark.parametrize("encoding, reason", [("utf-16", "UTF-16 stream does not start with BOM"),
                                              ("utf-32", "code point not in range(0x110000)")])
def test_a_log_the_given_encoding_cannot_read_at_all_is_a_bad_line_with_its_file(
        database: Any, tmp_path: Path, encoding: str, reason: str) -> None:
    key = answered_call(CdrBuilder(database))
    code, output = importing(answered_log(), tmp_path, database, "--encoding", encoding)
    path = tmp_path / "queue_log"
    assert code == 1 and output.splitlines() == [
        f"{path}:1: not {encoding} text from here on ({reason}); the rest of the file is not read",
        f"error: {path}: 1 bad line (give the file's encoding with --encoding (e.g. --encoding latin-1)); "
        "nothing changed"]
    assert call(database, key)["agent"] is None


def test_the_log_can_come_from_standard_input(database: Any) -> None:
    cdr = CdrBuilder(database)
    key = answered_call(cdr)
    result = CliRunner().invoke(cli, ["report", "import-queue-log", "-", "--db", str(database)],
                                input=answered_log())
    assert result.exit_code == 0 and result.output.startswith("-: 6 lines")
    assert call(database, key)["talk_time"] == 120.0


def test_a_missing_database_or_a_folder_for_the_log_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["report", "import-queue-log", str(tmp_path), "--db", str(tmp_path / "no.db")])
    assert result.exit_code == 1 and "does not exist" in result.output


def test_reading_keeps_the_last_stay_of_each_caller_in_each_queue() -> None:
    lines = answered_log().splitlines(keepends=True) + answered_log(queue="sales").splitlines()
    with read_queue_log(lines + [f"{at(200)}|1741597200.7|support|NONE|ENTERQUEUE||600111222|1"], ReadReport()) as log:
        stays = {(stay.call_id, stay.queue): stay for stay in log.stays()}
        assert sorted(stays) == [("1741597200.7", "sales"), ("1741597200.7", "support")]
        stay = stays[("1741597200.7", "sales")]
        assert (stay.agent, stay.wait, stay.talk, stay.first_at, stay.last_at) == ("Ana", 35.0, 120.0, at(5), at(160))
        again = stays[("1741597200.7", "support")]  # entered again: the last stay is kept
        assert (again.agent, again.wait, again.talk, again.first_at, again.last_at) == (None, None, None, at(200), at(200))
        assert (log.events, log.report.bad, log.report.lines) == (7, 0, 13)


#: Written by Asterisk 22.11 (the e2e lab): Ana hung up first, Lola's caller did.
RECORDED = """1796460228|NONE|NONE|NONE|QUEUESTART|
1796460230|1796460230.2|sales|NONE|ENTERQUEUE||+34600111222|1
1796460230|1796460230.2|sales|Ana|CONNECT|0|1796460230.4|0
1796460230|1796460230.6|long|NONE|ENTERQUEUE||+34600111222|1
1796460230|1796460230.6|long|Lola|CONNECT|0|1796460230.8|0
1796460236|1796460230.2|sales|Ana|COMPLETEAGENT|0|6|1
1796460240|1796460230.6|long|Lola|COMPLETECALLER|0|10|1
"""


def test_a_queue_log_written_by_asterisk_22_fills_both_calls(database: Any, tmp_path: Path) -> None:
    cdr = CdrBuilder(database)
    sales = cdr.add("2026-12-05 08:43:50", call_id="1796460230.2", queue="sales", queue_status="ANSWERED",
                    duration=11.0)
    long = cdr.add("2026-12-05 08:43:50", call_id="1796460230.6", queue="long", queue_status="ANSWERED",
                   status="caller_hangup", duration=10.0)
    code, out = importing(RECORDED, tmp_path, database)
    assert code == 0 and "7 lines, 6 call events, 2 stays in queues; 2 calls completed" in out
    assert call(database, sales) == {"agent": "Ana", "queue_wait": 0.0, "talk_time": 6.0}
    assert call(database, long) == {"agent": "Lola", "queue_wait": 0.0, "talk_time": 10.0}


def test_an_agent_name_is_stored_cut_at_the_cap_of_a_text_column(database: Any, tmp_path: Path) -> None:
    """cdr.md's caps hold for what the import writes too: a 60,000-character
    AGENT field was once stored whole."""
    key = answered_call(CdrBuilder(database))
    code, out = importing(answered_log(agent="A" * 60_000), tmp_path, database)
    assert code == 0, out
    agent = call(database, key)["agent"]
    assert agent == "A" * 255 + "\u2026"


#: ``agiflow ARGS``, whose process writes its peak resident memory as it exits.
WITH_PEAK = """
import atexit, runpy, sys
atexit.register(lambda: print(next(line for line in open("/proc/self/status") if line.startswith("VmHWM:")),
                              file=sys.stderr))
runpy.run_module("agi.cli", run_name="__main__")
"""


def test_a_queue_log_ten_times_longer_takes_no_more_memory(tmp_path: Path) -> None:
    """Every stay of the file was held in memory until the import: a
    324 MB queue_log of 2.5 million calls took 1.3 GB, a year of a busy
    contact center's log more than the machine had."""
    CdrBuilder(tmp_path / "cdr.db").close()
    peaks = {}
    for calls in (20_000, 200_000):
        path = tmp_path / f"queue_log.{calls}"
        with path.open("w", encoding="utf-8") as out:
            for n in range(calls):
                out.write(f"{at(n)}|{T0}.{n}|support|NONE|ENTERQUEUE||600111222|1\n"
                          f"{at(n + 9)}|{T0}.{n}|support|Agent {n % 50}|CONNECT|9|{T0}.{n}5|3\n")
        done = subprocess.run([sys.executable, "-c", WITH_PEAK, "report", "import-queue-log", str(path),
                               "--db", str(tmp_path / "cdr.db")], cwd=tmp_path, capture_output=True, text=True,
                              env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
        assert done.returncode == 0, done.stderr
        assert f"{2 * calls} call events, {calls} stays in queues" in done.stdout
        peaks[calls] = int(done.stderr.split("VmHWM:")[-1].split()[0]) / 1024
    assert peaks[200_000] - peaks[20_000] < 40, peaks
