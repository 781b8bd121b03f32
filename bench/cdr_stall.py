"""Benchmark: do CDR writes ever stall other calls?

Starts ``agiflow serve`` as a subprocess on a temporary config, database and
flow (six steps, nine AGI commands a call), and plays the same load against
it twice, each time on a fresh server and database:

(a) baseline: nothing else touches the CDR database;
(b) locked: a second process holds ``BEGIN EXCLUSIVE`` on the database for
    ``--hold`` seconds out of every ``--hold + --gap`` seconds for the whole
    load, so every CDR write of the server has to wait.

The load is ``--calls`` calls made by ``--concurrency`` simulated Asterisk
callers (threads, one TCP connection at a time each, answering with
``agi.sim.SimulatedAsterisk``), after ``--concurrency`` warm-up calls whose
CDRs are written before the load starts. For every command the caller
measures the server's turnaround: from writing the reply to the previous
command (or the environment) to reading the next command line. With
``--think 0`` (default) callers answer at once, so the server runs flat out;
``--think MS`` waits before each reply, as Asterisk playing a prompt. On a
machine with two CPUs or more the server is pinned to one and the callers to
the others (``--no-pin`` to turn off).

The table gives calls/s, turnaround p50/p99/max and call duration p99 for
both runs and the ratio (b)/(a), and how many CDRs were on disk when the load
ended. Then the lock is released, the server stopped with SIGTERM and the rows
counted: every call needs its completed ``calls`` row and six ``call_steps``
rows. The exit status is 1 when a row is missing, a call failed or the server
exited non-zero. Everything is on 127.0.0.1. Speed is reported, never asserted.

    PYTHONPATH=. python bench/cdr_stall.py [--quick] [--calls N] [--concurrency C] [--think MS]
"""
from __future__ import annotations

import argparse
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agi.sim import CallerScript, SimulatedAsterisk, make_environment
from bench.procstat import agiflow_server, free_port

FLOW = """\
version: 1
name: bench
description: Benchmark call; nine AGI commands.
start: answer
steps:
  answer:
    answer:
    next: welcome
  welcome:
    play: [beep, demo-congrats]
    next: menu
  menu:
    menu:
      prompt: beep
      choices: {"1": sales, "2": support}
      timeout: 1
    on: {timeout: support, invalid: support}
  sales:
    set: {variables: {DEPT: sales}, cdr: {department: sales}}
    next: bye
  support:
    set: {variables: {DEPT: support}, cdr: {department: support}}
    next: bye
  bye:
    play: [beep, demo-congrats]
    next: hangup
  hangup:
    hangup:
"""

#: What one call of FLOW does: steps in call_steps, commands on the wire
#: (AGIFLOW_STATUS is set after the hangup).
STEPS_PER_CALL = 6
COMMANDS_PER_CALL = 9

#: The second process: takes BEGIN EXCLUSIVE, holds it, lets go for a moment,
#: again, until its stdin closes. Prints ``locked T`` / ``free T`` (monotonic).
LOCKER = """\
import select, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)
hold, gap = float(sys.argv[2]), float(sys.argv[3])
def stopped(seconds):
    return bool(select.select([sys.stdin], [], [], seconds)[0])
while True:
    db.execute("BEGIN EXCLUSIVE")
    print("locked", time.monotonic(), flush=True)
    done = stopped(hold)
    db.execute("COMMIT")
    print("free", time.monotonic(), flush=True)
    if done or stopped(gap):
        break
"""


class Locker:
    """The second process holding BEGIN EXCLUSIVE on the CDR database."""

    def __init__(self, database: Path, hold: float, gap: float) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", LOCKER, str(database), str(hold), str(gap)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.events: list[tuple[str, float]] = []
        self._locked = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._locked.wait(30):
            self.proc.kill()
            raise RuntimeError("the locking process never got the lock")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            what, at = line.split()
            self.events.append((what, float(at)))
            if what == "locked":
                self._locked.set()

    def release(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(30)
        self._reader.join(5)

    def held_fraction(self, start: float, end: float) -> float:
        """Share of [start, end] during which the lock was held."""
        held, since = 0.0, None
        for what, at in self.events:
            if what == "locked":
                since = at
            elif since is not None:
                held += max(0.0, min(at, end) - max(since, start))
                since = None
        if since is not None:
            held += max(0.0, end - max(since, start))
        return held / (end - start) if end > start else 0.0


@dataclass
class Load:
    """What the callers measured."""

    turnarounds: list[float] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)
    commands: int = 0
    completed: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0


def one_call(port: int, number: int, deadline: float, think: float, load: Load, lock: threading.Lock) -> None:
    """One call as Asterisk makes it; records the server's turnaround per command."""
    env = make_environment("bench", uniqueid=f"1795385106.{number}", callerid=f"6{number:08d}")
    sim = SimulatedAsterisk(env, CallerScript(dtmf=["1" if number % 2 else "2"]))
    turnarounds: list[float] = []
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=max(deadline - time.monotonic(), 1)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = sock.makefile("rb")
        sock.sendall("".join(f"{line}\n" for line in sim.env_lines("bench")).encode())
        sent = time.perf_counter()
        while not sim.ended:
            raw = reader.readline()
            if not raw:
                break
            turnarounds.append(time.perf_counter() - sent)
            answer = sim.handle(raw.decode().rstrip("\n"), interrupted=False)
            if think:
                time.sleep(think)  # Asterisk playing the prompt
            sock.sendall("".join(f"{line}\n" for line in answer).encode())
            sent = time.perf_counter()
        closed = reader.read() == b""  # the server closes the socket when the call ends
    with lock:
        load.durations.append(time.perf_counter() - started)
        load.turnarounds += turnarounds
        load.commands += len(turnarounds)
        if sim.agistatus == "HANGUP" and closed and len(turnarounds) == COMMANDS_PER_CALL:
            load.completed += 1
        else:
            load.failures.append(f"call {number}: {len(turnarounds)} commands, {sim.agistatus}")


def run_load(port: int, first: int, calls: int, concurrency: int, timeout: float,
             think: float = 0.0) -> Load:
    """``calls`` calls, ``concurrency`` at a time, numbered from ``first``."""
    load, lock = Load(), threading.Lock()
    numbers = iter(range(first, first + calls))
    take = threading.Lock()
    deadline = time.monotonic() + timeout

    def caller() -> None:
        while time.monotonic() < deadline:
            with take:
                number = next(numbers, None)
            if number is None:
                return
            try:
                one_call(port, number, deadline, think, load, lock)
            except OSError as exc:
                with lock:
                    load.failures.append(f"call {number}: {exc}")

    threads = [threading.Thread(target=caller, daemon=True) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0) + 5)
    load.seconds = time.perf_counter() - started
    load.failures += [f"call {n}: not made before the timeout" for n in numbers]
    return load


def count_rows(database: Path) -> tuple[int, int]:
    """(completed ``calls`` rows, ``call_steps`` rows); (-1, -1) if unreadable."""
    try:
        db = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1)
        try:
            calls = db.execute("SELECT count(*) FROM calls WHERE status = 'completed'").fetchone()[0]
            steps = db.execute("SELECT count(*) FROM call_steps").fetchone()[0]
            return calls, steps
        finally:
            db.close()
    except sqlite3.Error:
        return -1, -1


def wait_for_rows(database: Path, rows: int, timeout: float) -> None:
    """Wait until ``rows`` completed calls are on disk, so a load starts with
    the CDR writer's queue empty."""
    deadline = time.monotonic() + timeout
    while count_rows(database)[0] < rows and time.monotonic() < deadline:
        time.sleep(0.05)


@dataclass
class Run:
    """One run: the load as the callers saw it and the CDRs as the database has them."""

    name: str
    load: Load
    calls: int = 0
    rows: int = 0
    steps: int = 0
    rows_at_load_end: int = 0
    exit_code: int = 0
    held: float | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (self.rows == self.calls and self.steps == STEPS_PER_CALL * self.calls
                and not self.load.failures and self.exit_code == 0)


def run_once(name: str, args: argparse.Namespace, cpu: int | None, locked: bool) -> Run:
    """A fresh server and database; warm-up calls, then the measured load
    (with the lock taken and retaken when ``locked``); then lock released,
    SIGTERM, rows counted."""
    with tempfile.TemporaryDirectory(prefix="agiflow-bench-") as tmp:
        database = Path(tmp) / "cdr.db"
        (Path(tmp) / "bench.yaml").write_text(FLOW)
        server = agiflow_server(Path(tmp), Path(tmp) / "bench.yaml", free_port(), cpu=cpu, drain_timeout=30,
                                max_calls=1000)
        locker = None
        try:
            warm = run_load(server.port, 0, args.concurrency, args.concurrency, 30)
            wait_for_rows(database, warm.completed, 30)
            locker = Locker(database, args.hold, args.gap) if locked else None
            start = time.monotonic()
            run = Run(name, run_load(server.port, args.concurrency, args.calls, args.concurrency,
                                     args.timeout, args.think / 1000))
            end = time.monotonic()
            run.rows_at_load_end = count_rows(database)[0] - warm.completed
            run.load.failures = warm.failures + run.load.failures
        finally:
            if locker is not None:
                locker.release()
            run_exit = server.stop()
        run.exit_code, run.problems = run_exit, [line for line in server.lines if " INFO " not in line]
        run.held = locker.held_fraction(start, end) if locker else None
        run.calls = args.calls + args.concurrency
        run.rows, run.steps = count_rows(database)
        return run


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))] if ordered else float("nan")


def figures(run: Run) -> dict[str, float]:
    t, load = run.load.turnarounds, run.load
    return {
        "calls/s": load.completed / load.seconds if load.seconds else 0.0,
        "turnaround p50 ms": percentile(t, 0.50) * 1000,
        "turnaround p99 ms": percentile(t, 0.99) * 1000,
        "turnaround max ms": max(t, default=float("nan")) * 1000,
        "call duration p99 ms": percentile(load.durations, 0.99) * 1000,
    }


def report(runs: list[Run], args: argparse.Namespace) -> None:
    """The table, then each run's CDR check."""
    base, locked = runs
    print(f"\nCDR writes and call latency: {args.calls} calls a run, {args.concurrency} callers at once, "
          f"{STEPS_PER_CALL} steps / {COMMANDS_PER_CALL} AGI commands a call; in (b) the database is "
          f"locked {args.hold:g} s of every {args.hold + args.gap:g} s\n")
    print(f"{'':26}{'(a) baseline':>13}{'(b) db locked':>15}{'(b)/(a)':>9}")
    fa, fb = figures(base), figures(locked)
    for key in fa:
        ratio = fb[key] / fa[key] if fa[key] else float("nan")
        print(f"{key:26}{fa[key]:13.2f}{fb[key]:15.2f}{ratio:9.2f}")
    print(f"{'commands measured':26}{base.load.commands:13d}{locked.load.commands:15d}")
    print(f"{'database locked':26}{'-':>13}{(locked.held or 0) * 100:14.0f}%")
    print(f"{'CDRs written at load end':26}{base.rows_at_load_end:13d}{locked.rows_at_load_end:15d}"
          f"   of {args.calls}")
    for run in runs:
        print(f"\n{run.name}: {run.rows} of {run.calls} calls have a completed CDR row "
              f"(warm-up included), {run.steps} of {STEPS_PER_CALL * run.calls} step rows; "
              f"server exit status {run.exit_code}: {'OK' if run.ok else 'FAILED'}")
        for line in run.load.failures[:5] + run.problems[:10]:
            print(f"  {line}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=None, help="calls per run (default 6000, quick 1500)")
    parser.add_argument("--concurrency", type=int, default=20, help="callers at once (default 20)")
    parser.add_argument("--quick", action="store_true", help="a short run, for make bench")
    parser.add_argument("--hold", type=float, default=2.0, help="seconds the lock is held (default 2)")
    parser.add_argument("--gap", type=float, default=0.2, help="seconds the lock is free (default 0.2)")
    parser.add_argument("--think", type=float, default=0.0,
                        help="ms the caller waits before each reply, as Asterisk playing a prompt (default 0)")
    parser.add_argument("--no-pin", action="store_true",
                        help="do not pin the server to one CPU and the callers to the others")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds allowed per run (default 120)")
    args = parser.parse_args(argv)
    if args.calls is None:
        args.calls = 1500 if args.quick else 6000
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    pinned = not args.no_pin and len(cpus) >= 2
    if pinned:
        os.sched_setaffinity(0, set(cpus[1:]))  # callers and the locker; threads started later inherit it
    cpu = cpus[0] if pinned else None
    runs = [run_once("(a) baseline", args, cpu, locked=False),
            run_once("(b) db locked", args, cpu, locked=True)]
    report(runs, args)
    return 0 if all(run.ok for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
