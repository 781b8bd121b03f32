"""A private Asterisk 22 and an ``agiflow serve`` wired to it, for the
end-to-end suite.

The Asterisk is the one built from source into ``AST_PREFIX`` (default
``~/.cache/agiflow-asterisk``; docs/e2e.md says how to build it). Each lab
gets its own run folder (configuration, logs, sockets, recordings, the
outgoing spool), its own AMI port and agiflow's own FastAGI port, both free
ports on 127.0.0.1, so it never touches another Asterisk on the machine. The
configuration is this folder's ``asterisk/`` and the shipped
``dialplan/extensions_agiflow.conf``; calls are Local channels originated
from the instance's console (``asterisk -rx``).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from tones import write_tones

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CONF = HERE / "asterisk"
#: Where Debian's asterisk-core-sounds-en-wav puts Asterisk's own prompts.
CORE_SOUNDS = Path("/usr/share/asterisk/sounds")
LISTENING = re.compile(r"agiflow listening on 127\.0\.0\.1:(\d+)")
LAB_END = re.compile(r"app_verbose\.c: LAB-END CHANNEL=(?P<channel>\S+) AGISTATUS=(?P<agistatus>\S*) "
                     r"AGIFLOW_STATUS=(?P<agiflow_status>\S*) MEMBER=(?P<member>.*?) CAUSE=(?P<cause>\S*) "
                     r"E2E_NAME=(?P<e2e_name>.*) E2E_SET=(?P<e2e_set>.*)$")


def asterisk_prefix() -> Path:
    """Where the built Asterisk lives: ``AST_PREFIX`` or the default."""
    return Path(os.environ.get("AST_PREFIX") or Path.home() / ".cache" / "agiflow-asterisk")


def asterisk_binary() -> Path | None:
    binary = asterisk_prefix() / "sbin" / "asterisk"
    return binary if os.access(binary, os.X_OK) else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class AgiflowServer:
    """``agiflow serve -c CONFIG`` in a child process, its log collected."""

    def __init__(self, config: Path) -> None:
        self.config = config
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
        self.proc = subprocess.Popen([sys.executable, "-c", "from agi.cli.main import cli; cli()", "serve",
                                      "-c", str(config)], cwd=config.parent, env=env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def log(self) -> str:
        return "\n".join(self.lines)

    def wait_listening(self, timeout: float = 90.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                found = LISTENING.search(line)
                if found:
                    return int(found.group(1))
            if self.proc.poll() is not None:
                self._reader.join(2)
                raise RuntimeError(f"agiflow serve exited with {self.proc.returncode}:\n{self.log()}")
            time.sleep(0.05)
        raise RuntimeError(f"agiflow serve did not listen within {timeout}s:\n{self.log()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._reader.join(2)


#: The recordings folder, inside agiflow's folder: every character Asterisk's
#: argument parser reads, so MixMonitor's file name must arrive escaped.
RECORDINGS = 'rec, "x" (y) [z]'


#: A second config beside the first, recording in wav49 (GSM in a WAV file).
WAV49_CONFIG = "config-wav49.yaml"


def write_agiflow_config(folder: Path, flows: list[Path]) -> Path:
    """A config in ``folder``: its own flows folder (the given flow files),
    database and recordings folder (RECORDINGS), the repository's sounds,
    any free port, and the shipped dialplan's fallback context."""
    flows_dir = folder / "flows"
    flows_dir.mkdir(parents=True, exist_ok=True)
    for flow in flows:
        shutil.copy(flow, flows_dir / flow.name)
    config = folder / "config.yaml"
    config.write_text(json.dumps({  # JSON is YAML
        "server": {"host": "127.0.0.1", "port": 0, "watch_interval": 0, "drain_timeout": 5,
                   "fallback": {"context": "agiflow-fallback"}},
        "flows": "flows", "sounds": str(REPO / "sounds"), "database": "cdr.db", "log_level": "INFO",
        "default_region": "ES",
        "recordings": {"directory": str(folder / RECORDINGS), "format": "wav"},
    }, indent=2), encoding="utf-8")
    # the same with recordings in wav49, for the plain AGI calls of stdio49-<flow>
    settings = json.loads(config.read_text(encoding="utf-8"))
    settings["recordings"]["format"] = "wav49"
    config.with_name(WAV49_CONFIG).write_text(json.dumps(settings, indent=2), encoding="utf-8")
    return config


def agiflow_cli(config: Path, *args: str, stdin: str | None = None) -> str:
    """Run one ``agiflow`` command against ``config`` (``stdin`` its
    input); its output."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, "-c", "from agi.cli.main import cli; cli()", *args, "-c", str(config)],
                          env=env, capture_output=True, text=True, timeout=60, input=stdin)
    if done.returncode != 0:
        raise RuntimeError(f"agiflow {' '.join(args)} failed: {done.stdout}{done.stderr}")
    return done.stdout


@dataclass(frozen=True)
class Scenario:
    """How a caller script ([lab-caller]) calls: the flow, the caller ID
    number (empty: the dialplan's +34600111222), and whether the caller is
    answered before the flow runs (a caller script answers; an unanswered
    caller is the script named after the flow)."""

    flow: str
    caller: str = ""
    answered: bool = True
    #: False for a call that never reaches agiflow (no CDR row to wait for).
    reaches_agiflow: bool = True


def script_globals(scenarios: Mapping[str, Scenario]) -> str:
    """The [globals] lines of extensions.conf for the scenarios' callers."""
    return "\n".join(f"CALLER_{script}={scenario.caller}" for script, scenario in scenarios.items()
                     if scenario.caller)


@dataclass
class AsteriskLab:
    """A private Asterisk under ``run``, handing calls to agiflow on ``agi_port``."""

    run: Path
    binary: Path
    agi_port: int
    scenarios: Mapping[str, Scenario] = field(default_factory=dict)
    #: agiflow's config, for the plain AGI script (agi-bin/agiflow-agi) the dialplan runs.
    agiflow_config: Path | None = None
    #: The webhook endpoint the dialplan hands the webhook flows (LAB_WEBHOOK).
    webhook_url: str = ""
    ami_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def conf(self) -> Path:
        return self.run / "etc" / "asterisk.conf"

    @property
    def spool(self) -> Path:
        """The outgoing spool folder pbx_spool watches for call files."""
        return self.run / "spool" / "outgoing"

    @property
    def recordings(self) -> Path:
        """Where the dialplan records callers and agents (rec/<name>.wav)."""
        return self.run / "rec"

    def start(self, timeout: float = 60.0) -> None:
        self._write_config()
        self._link_sounds()
        with open(self.run / "log" / "console.log", "wb") as console:
            self.proc = subprocess.Popen([str(self.binary), "-C", str(self.conf), "-f", "-n"],
                                         stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"asterisk exited with {self.proc.returncode}: {self.console()}")
            if self._rx("core waitfullybooted", check=False).returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError(f"asterisk did not boot within {timeout}s: {self.console()}")

    def _write_config(self) -> None:
        for sub in ("etc", "var/lib", "data/sounds", "data/moh", "agi-bin", "spool/outgoing", "run", "log", "cache",
                    "rec"):
            (self.run / sub).mkdir(parents=True, exist_ok=True)
        values = {"@RUN@": str(self.run), "@MODDIR@": str(self.binary.parents[1] / "lib" / "asterisk" / "modules"),
                  "@SBIN@": str(self.binary.parent), "@AGI_PORT@": str(self.agi_port),
                  "@AMI_PORT@": str(self.ami_port), "@SCRIPT_GLOBALS@": script_globals(self.scenarios),
                  "@AGIFLOW_CONFIG@": str(self.agiflow_config or ""), "@WEBHOOK_URL@": self.webhook_url,
                  "@AGIFLOW_WAV49_CONFIG@": str(self.agiflow_config.with_name(WAV49_CONFIG))
                  if self.agiflow_config else ""}
        for source in sorted(CONF.glob("*.conf")):
            text = source.read_text(encoding="utf-8")
            for key, value in values.items():
                text = text.replace(key, value)
            (self.run / "etc" / source.name).write_text(text, encoding="utf-8")
        shipped = (REPO / "dialplan" / "extensions_agiflow.conf").read_text(encoding="utf-8")
        (self.run / "etc" / "extensions_agiflow.conf").write_text(
            shipped.replace("agi://127.0.0.1:4573/", f"agi://127.0.0.1:{self.agi_port}/"), encoding="utf-8")
        # The same contexts, named down-agiflow-*, pointed at a port where nothing listens: agiflow down.
        down = re.sub(r"^\[agiflow-", "[down-agiflow-", shipped, flags=re.MULTILINE)
        (self.run / "etc" / "extensions_agiflow_down.conf").write_text(
            down.replace("agi://127.0.0.1:4573/", f"agi://127.0.0.1:{free_port()}/"), encoding="utf-8")
        # agiflow-agi as `pip install` makes it, from this checkout (docs/agi-mode.md)
        script = self.run / "agi-bin" / "agiflow-agi"
        script.write_text(f"#!/bin/sh\nPYTHONPATH={REPO} exec {sys.executable} -c "
                          f"'from agi.stdio.main import entry_point; entry_point()' \"$@\"\n", encoding="utf-8")
        script.chmod(0o755)
        # Asterisk reads its XML documentation at boot (Stasis fails without it).
        documentation = self.run / "data" / "documentation"
        if not documentation.exists():
            documentation.symlink_to(self.binary.parents[1] / "var" / "lib" / "asterisk" / "documentation")
        beep = CORE_SOUNDS / "en" / "beep.wav"
        if beep.exists():
            shutil.copy(beep, self.run / "data" / "moh" / "beep.wav")

    def _link_sounds(self) -> None:
        """Asterisk's core prompts (when installed) and the project's, per
        language; the tones of tones.py, for any language."""
        sounds = self.run / "data" / "sounds"
        write_tones(sounds)
        languages = {path.name for root in (CORE_SOUNDS, REPO / "sounds") if root.is_dir()
                     for path in root.iterdir() if path.is_dir()}
        for language in sorted(languages):
            target = sounds / language
            target.mkdir(exist_ok=True)
            for root in (CORE_SOUNDS / language, REPO / "sounds" / language):
                if root.is_dir():
                    for entry in root.iterdir():
                        link = target / entry.name
                        if not link.exists():
                            link.symlink_to(entry)

    def _rx(self, command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(self.binary), "-C", str(self.conf), "-rx", command],
                              capture_output=True, text=True, timeout=20)
        if check and done.returncode != 0:
            raise RuntimeError(f"asterisk -rx {command!r} failed: {done.stdout}{done.stderr}")
        return done

    def cli(self, command: str) -> str:
        """One console command on this instance; its output."""
        return self._rx(command).stdout

    def originate(self, script: str, flow: str) -> None:
        """A call from the caller script ``script`` ([lab-caller]) to ``flow``."""
        self.cli(f"channel originate Local/{script}@lab-caller extension {flow}@lab-in")

    def originate_unanswered(self, flow: str) -> None:
        """A call to ``flow`` from a caller nobody has answered yet: the
        flow's side rings until an application answers it."""
        self.cli(f"channel originate Local/{flow}@lab-in application Wait 60")

    def ami(self, action: Mapping[str, str]) -> str:
        """Log in to AMI as ``lab``, send ``action``, return what AMI said
        until its response to it."""
        with socket.create_connection(("127.0.0.1", self.ami_port), timeout=10) as sock:
            def send(fields: Mapping[str, str]) -> None:
                sock.sendall("".join(f"{key}: {value}\r\n" for key, value in fields.items()).encode() + b"\r\n")
            send({"Action": "Login", "Username": "lab", "Secret": "lab", "ActionID": "login"})
            send({**action, "ActionID": "lab-action"})
            said = b""
            while b"ActionID: lab-action" not in said or not said.endswith(b"\r\n\r\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                said += chunk
            return said.decode("utf-8", "replace")

    def call_files(self) -> list[Path]:
        return sorted(self.spool.glob("*.call"))

    def console(self) -> str:
        path = self.run / "log" / "console.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def log(self) -> str:
        path = self.run / "log" / "messages.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def call_lines(self, channel: str) -> list[str]:
        """The log lines of the call ``channel`` runs in: those with the
        call id (``[C-...]``) of the applications it executed."""
        lines = self.log().splitlines()
        executing = re.compile(r"\[(C-[0-9a-f]+)\] pbx\.c: Executing \[[^]]*\] \w+\(\"" + re.escape(channel) + '"')
        ids = {found.group(1) for line in lines if (found := executing.search(line))}
        return [line for line in lines if any(f"[{call_id}]" in line for call_id in ids)]

    def lab_ends(self) -> list[dict[str, str]]:
        """One dict per finished call: the fields of its LAB-END line."""
        return [found.groupdict() for line in self.log().splitlines() if (found := LAB_END.search(line))]

    def queue_log(self) -> list[list[str]]:
        """queue_log lines split on ``|``: time, call id, queue, agent, event, data..."""
        path = self.run / "log" / "queue_log"
        return [line.split("|") for line in path.read_text().splitlines()] if path.exists() else []

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self._rx("core stop now", check=False)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
