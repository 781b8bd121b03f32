"""``agiflow-agi`` as a real process for the tests: started with a config,
played by the simulated Asterisk over its stdin and stdout exactly as
res_agi.c runs an AGI script, its CDRs read back from SQLite.
"""
from __future__ import annotations

import io
import json
import os
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agi.sim import CallerScript, EverySound, SimulatedAsterisk, make_environment

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).parent / "agiflow-agi"
AGI_BIN = "/var/lib/asterisk/agi-bin/agiflow-agi"
#: How long one simulated call may take before the test calls it hung.
DEADLINE = 20.0
#: Replaces the answer to one command: (command line) -> lines, or None to let the simulator answer.
Override = Callable[[str], "list[str] | None"]



@dataclass
class AgiRun:
    returncode: int
    sim: SimulatedAsterisk
    stdout_lines: list[str]
    log: str
    calls: list[dict[str, Any]]
    steps: list[dict[str, Any]]

    @property
    def call(self) -> dict[str, Any]:
        [row] = self.calls
        return row


def write_config(folder: Path, **extra: Any) -> Path:
    flows = folder / "flows"
    if not flows.exists():
        shutil.copytree(REPO / "flows", flows)
    config = folder / "config.yaml"
    config.write_text(json.dumps({"flows": "flows", "database": "var/cdr.db", "log_level": "INFO", **extra}),
                      encoding="utf-8")
    return config


def process_environment(**values: str) -> dict[str, str]:
    """What res_agi.c sends a script process: no agi_network lines, the
    script's path in agi_request."""
    env = make_environment(None, request=AGI_BIN, **values)
    env.pop("agi_network", None)
    return env


def env_lines(sim: SimulatedAsterisk) -> list[str]:
    return [line for line in sim.env_lines() if not line.startswith("agi_network")]


def run_agi(tmp_path: Path, argv: list[str], script: CallerScript | None = None, *,
            env: dict[str, str] | None = None, variables: dict[str, str] | None = None,
            sighup: bool = False, override: Override | None = None, config: Path | None = None) -> AgiRun:
    """Start agiflow-agi with ``argv`` and play Asterisk for it until it exits.

    ``sighup``: signal the hangup the way Asterisk does for a script process
    (kill SIGHUP once the caller hung up); with AGISIGHUP=no in ``variables``
    the simulator writes no HANGUP line either.
    """
    config = config or write_config(tmp_path)
    arg_values = {f"arg_{n}": value for n, value in enumerate(argv, start=1)}
    sim = SimulatedAsterisk(env or process_environment(uniqueid="1795385106.7", callerid="+34600111222",
                                                       **arg_values),
                            script or CallerScript(sounds=EverySound()), variables=variables)
    log_path = tmp_path / "agi.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen([str(SCRIPT), "-c", str(config), *argv], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=log_file, cwd=tmp_path)
        try:
            lines = play_asterisk(proc, sim, sighup, override)
            returncode = proc.wait(timeout=DEADLINE)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return AgiRun(returncode, sim, lines, log_path.read_text(encoding="utf-8"), *read_cdr(tmp_path / "var/cdr.db"))


def play_asterisk(proc: subprocess.Popen[bytes], sim: SimulatedAsterisk, sighup: bool,
                  override: Override | None) -> list[str]:
    """Write the environment, then answer every command line until EOF."""
    assert proc.stdin is not None and proc.stdout is not None
    write(proc, env_lines(sim))
    received: list[str] = []
    signalled = False
    for line in read_lines(proc.stdout, time.monotonic() + DEADLINE):
        received.append(line)
        answer = override(line) if override else None
        lines = answer if answer is not None else sim.handle(line)
        write(proc, lines)
        if sighup and sim.hung_up and not signalled:
            signalled = True
            proc.send_signal(signal.SIGHUP)
    return received


def write(proc: subprocess.Popen[bytes], lines: list[str]) -> None:
    assert proc.stdin is not None
    try:
        proc.stdin.write("".join(line + "\n" for line in lines).encode("utf-8", "surrogateescape"))
        proc.stdin.flush()
    except BrokenPipeError:
        pass


def read_lines(stream: io.BufferedReader, deadline: float) -> Iterator[str]:
    """Lines the process writes, until it closes stdout; fails past the deadline."""
    fd = stream.fileno()
    buffer = b""
    while True:
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            yield line.decode("utf-8", "surrogateescape")
        remaining = deadline - time.monotonic()
        assert remaining > 0, "agiflow-agi neither sent a command nor exited in time: it hangs"
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            assert not buffer, f"partial last line {buffer!r}"
            return
        buffer += chunk


def read_cdr(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    if not path.exists():
        return [], []
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        calls = [dict(r) for r in conn.execute("SELECT * FROM calls ORDER BY started_at")]
        steps = [dict(r) for r in conn.execute("SELECT * FROM call_steps ORDER BY call, seq")]
    finally:
        conn.close()
    return calls, steps
