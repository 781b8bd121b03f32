"""What the end-to-end suite's calls leave behind, and the runner that
places them: a call's CDR rows, step rows and LAB-END line; the calls by
caller script; agiflow's database read as an operator would (read-only).
"""
from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from endpoint import Endpoint
from lab import AgiflowServer, AsteriskLab, Scenario, agiflow_cli


def wait_until(check: Any, timeout: float, what: str, interval: float = 0.25) -> Any:
    """Poll ``check()`` until it returns something true; its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(interval)


def finished_recording(path: Path) -> bool:
    """Whether the WAV ``path`` is closed: Asterisk writes its header's
    sizes when the recording ends."""
    try:
        with wave.open(str(path), "rb") as source:
            frames = source.getnframes()
    except (FileNotFoundError, EOFError, wave.Error):
        return False
    return frames > 0 and path.stat().st_size >= frames * 2 + 44


def cdr_rows(database: Path, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Rows of agiflow's CDR database (read-only)."""
    if not database.exists():
        return []
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)
    connection.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in connection.execute(sql, params)]
    except sqlite3.OperationalError:
        return []  # the writer has not created the tables yet
    finally:
        connection.close()


@dataclass
class Call:
    """One scenario's call as it came out: its CDR rows (one expected), the
    step rows, and the LAB-END line Asterisk logged when it ended."""

    script: str
    rows: list[dict[str, Any]]
    steps: list[dict[str, Any]]
    end: dict[str, str]

    @property
    def cdr(self) -> dict[str, Any]:
        assert len(self.rows) == 1, f"{self.script}: {len(self.rows)} CDR rows"
        return self.rows[0]

    @property
    def path(self) -> list[str]:
        return str(self.cdr["path"]).split(" > ")

    def details(self, step: str) -> dict[str, Any]:
        [row] = [s for s in self.steps if s["step"] == step]
        return dict(json.loads(row["details"] or "{}"))


class Calls(dict[str, Call]):
    """The calls by script; a call that is missing says which stories failed."""

    def __init__(self, failures: Mapping[str, str]) -> None:
        super().__init__()
        self.failures = failures

    def __missing__(self, script: str) -> Call:
        raise AssertionError(f"no call {script!r}; failed: " + "\n".join(f"{story}: {error}" for story, error
                                                                       in self.failures.items()))


class Runner:
    """Places the scenarios' calls and waits for them to end. Several
    threads use it at once (a story each): what it collects is locked."""

    def __init__(self, asterisk: AsteriskLab, config: Path, scenarios: Mapping[str, Scenario],
                 timeout: float, endpoint: Endpoint | None = None) -> None:
        self.asterisk = asterisk
        #: The webhook endpoint, to wait for a flow's post.
        self.endpoint = endpoint
        self.config = config
        self.database = config.parent / "cdr.db"
        self.scenarios = scenarios
        self.timeout = timeout
        self.failures: dict[str, str] = {}
        self.calls = Calls(self.failures)
        self.outputs: dict[str, str] = {}
        self._lock = threading.Lock()

    def place(self, *scripts: str) -> None:
        for script in scripts:
            scenario = self.scenarios[script]
            if scenario.answered:
                self.asterisk.originate(script, scenario.flow)
            else:
                assert script == scenario.flow, f"an unanswered caller is named after its flow, not {script!r}"
                self.asterisk.originate_unanswered(scenario.flow)

    def wait(self, *scripts: str) -> dict[str, Call]:
        """The calls of ``scripts`` once each has ended: its LAB-END line,
        and a CDR row no longer in progress."""
        calls: dict[str, Call] = wait_until(lambda: self._ended(scripts), self.timeout,
                                            f"calls {', '.join(scripts)} ended (logs in {self.asterisk.run})")
        with self._lock:
            self.calls.update(calls)
        return calls

    def call(self, script: str) -> Call:
        """Place the call of ``script`` and wait for its end."""
        self.place(script)
        return self.wait(script)[script]

    def cli_asterisk(self, name: str, command: str) -> str:
        """Run one Asterisk console command; its output is kept as ``name``."""
        text = self.asterisk.cli(command)
        with self._lock:
            self.outputs[name] = text
        return text

    def cli(self, name: str, *args: str) -> str:
        """Run ``agiflow ARGS``; its output is kept as ``name``."""
        text = agiflow_cli(self.config, *args)
        with self._lock:
            self.outputs[name] = text
        return text

    def _ended(self, scripts: tuple[str, ...]) -> dict[str, Call] | None:
        ends = {end["channel"].split("@", 1)[0].removeprefix("Local/"): end for end in self.asterisk.lab_ends()}
        calls = {}
        for script in scripts:
            if script not in ends:
                return None
            rows = cdr_rows(self.database, "SELECT * FROM calls WHERE channel = ?", (ends[script]["channel"],))
            if self.scenarios[script].reaches_agiflow and (not rows or any(row["status"] == "in_progress"
                                                                          for row in rows)):
                return None
            steps = [s for row in rows for s in cdr_rows(self.database, "SELECT * FROM call_steps WHERE call = ? "
                                                         "ORDER BY seq", (row["id"],))]
            calls[script] = Call(script, rows, steps, ends[script])
        return calls


@dataclass
class Lab:
    """The running pair, and what its calls left behind: the calls by
    script, the output of the commands the stories ran, by name."""

    asterisk: AsteriskLab
    server: AgiflowServer
    config: Path
    database: Path
    recordings: Path
    calls: Calls
    outputs: dict[str, str]
    #: The webhook endpoint the webhook flows post to (endpoint.py).
    endpoint: Endpoint

    def recording_files(self) -> list[Path]:
        return sorted(p for p in self.recordings.rglob("*") if p.is_file())

    def output(self, name: str) -> str:
        if name not in self.outputs:
            raise AssertionError(f"no output {name!r}; failed: {self.calls.failures}")
        return self.outputs[name]


def call_log(lab: Lab, script: str) -> list[str]:
    """Asterisk's log lines of the call of ``script``."""
    return lab.asterisk.call_lines(lab.calls[script].end["channel"])


def agi_app_runs(lab: Lab, script: str, app: str) -> int:
    """How many times the flow of ``script`` ran ``app`` with EXEC."""
    return sum(f"Executing Application: ({app})" in line for line in call_log(lab, script))


def files_of(lab: Lab, call_id: str) -> list[str]:
    """The recordings of the call ``call_id``: their names end with it (the
    call 1796617330.4 is not 1796617330.42), or with it and ``-2``, ``-3``..."""
    name = re.compile(rf"_{re.escape(call_id)}(-\d+)?\.wav$")
    return [str(p) for p in lab.recording_files() if name.search(p.name)]


def seconds_of(path: str) -> float:
    """The length of the recording ``path``, once Asterisk has closed it."""
    wait_until(lambda: finished_recording(Path(path)), 10, f"{path} closed")
    with wave.open(path, "rb") as source:
        return source.getnframes() / source.getframerate()
