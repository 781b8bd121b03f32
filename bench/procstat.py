"""Shared by the benchmarks: server processes, the load generator, and what
/proc says about a process (CPU, memory, open files).

Everything runs on 127.0.0.1. CPU is utime + stime of every thread of the
process (``/proc/<pid>/stat``), memory is VmRSS (``/proc/<pid>/status``),
open files are the entries of ``/proc/<pid>/fd``.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
LOADGEN = ROOT / "bench" / "loadgen.py"
SERVE = "from agi.cli.main import cli; cli()"


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants (a server with workers is several processes)."""
    found = [pid]
    for parent in found:
        try:
            found += [int(child) for child in Path(f"/proc/{parent}/task/{parent}/children").read_text().split()]
        except OSError:
            pass
    return found


def _each(pid: int, measure: Callable[[int], float]) -> float:
    total = 0.0
    for member in tree(pid):
        try:
            total += measure(member)
        except OSError:  # it just ended
            pass
    return total


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of every thread of ``pid`` and its children so far."""
    return _each(pid, _cpu)


def rss_kb(pid: int) -> int:
    """VmRSS of ``pid`` and its children."""
    return int(_each(pid, _rss))


def open_files(pid: int) -> int:
    """Descriptors ``pid`` and its children hold."""
    return int(_each(pid, lambda member: len(os.listdir(f"/proc/{member}/fd"))))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pythonpath_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []


def pinned_to(cpu: int | set[int] | None) -> Callable[[], None] | None:
    """A preexec_fn that pins the child to ``cpu``, a CPU or a set of them
    (None: not pinned). Its children (a server's workers) inherit it."""
    if cpu is None:
        return None
    cpus = {cpu} if isinstance(cpu, int) else set(cpu)
    return lambda: os.sched_setaffinity(0, cpus)


class ServerProcess:
    """A FastAGI server in a child process, stderr kept (last lines) by a
    thread; ready once its port accepts a connection."""

    def __init__(self, name: str, argv: list[str], port: int, *, cwd: Path = ROOT,
                 cpu: int | set[int] | None = None, code: Path | None = None) -> None:
        self.name, self.port = name, port
        env = pythonpath_env() if code is None else {**os.environ, "PYTHONPATH": str(code)}
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                     preexec_fn=pinned_to(cpu))
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._wait_ready()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip())
            del self.lines[:-2000]

    def _wait_ready(self, timeout: float = 30.0) -> None:
        """Wait for the ``listening on 127.0.0.1:PORT`` line. Never by
        connecting: a connect-and-close probe hangs some servers for good."""
        deadline = time.monotonic() + timeout
        ready = f"listening on 127.0.0.1:{self.port}"
        while time.monotonic() < deadline and self.proc.poll() is None:
            if any(ready in line for line in list(self.lines)):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not start:\n" + "\n".join(self.lines[-20:]))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, then SIGKILL if it does not end; the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._reader.join(5)
        return code


def agiflow_server(folder: Path, flow_file: Path, port: int, *, cpu: int | set[int] | None = None,
                   log_level: str = "INFO", database: str = "cdr.db", code: Path | None = None,
                   **server: Any) -> ServerProcess:
    """``agiflow serve`` on a fresh config, flows folder and database in
    ``folder`` (or the ``database`` given: a PostgreSQL URL); one worker
    unless ``workers`` says otherwise; the agiflow of the checkout ``code``
    (default: this one)."""
    (folder / "flows").mkdir(parents=True, exist_ok=True)
    (folder / "flows" / flow_file.name).write_text(flow_file.read_text(encoding="utf-8"), encoding="utf-8")
    settings = {"host": "127.0.0.1", "port": port, "watch_interval": 0, "drain_timeout": 60,
                "max_calls": 20000, "env_timeout": 5, "workers": 1, **server}
    (folder / "config.yaml").write_text(json.dumps({"server": settings, "flows": "flows", "database": database,
                                                    "log_level": log_level}), encoding="utf-8")
    argv = [sys.executable, "-c", SERVE, "serve", "-c", str(folder / "config.yaml")]
    return ServerProcess("agiflow", argv, port, cwd=folder, cpu=cpu, code=code)


class LoadRun:
    """``bench/loadgen.py`` in a child process: its JSON event lines as they
    come (``on_event``), the final ``done`` record as ``result``."""

    def __init__(self, args: list[str], *, cpu: int | set[int] | None = None,
                 on_event: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.proc = subprocess.Popen([sys.executable, str(LOADGEN), *args], cwd=ROOT, env=pythonpath_env(),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
                                     preexec_fn=pinned_to(cpu))
        self.result: dict[str, Any] = {}
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            record = json.loads(line)
            if record.get("event") == "done":
                self.result = record
            elif on_event is not None:
                on_event(record)
        self.exit_code = self.proc.wait()


def percent_change(first: float, last: float) -> float:
    return (last - first) / first * 100 if first else float("nan")
