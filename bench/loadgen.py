"""Asterisk's side of FastAGI under load: a separate asyncio process.

Each call connects to the FastAGI server on 127.0.0.1 the way Asterisk 22's
``AGI(agi://...)`` does, writes a full environment (``make_environment``:
the 22 ``agi_*`` lines, caller ID, DNID, uniqueid) and answers every command
line with ``agi.sim.SimulatedAsterisk``, exactly as the recorded transcripts
show Asterisk answering. One command at a time: a second command before the
reply to the first is counted as pipelining.

``EXEC Queue`` is where a caller waits for an agent, so its reply can be held
back: for a random time (``--hold 5-60``) or, in ``held`` mode, until every
call of the run is waiting in the queue.

**Latency** is the server's think time for one command: from the moment the
generator wrote its reply to the previous command (or the blank line that
ends the environment) to the moment it read the next command line. A held
Queue reply starts the clock when it is finally written.

Two modes, one per process:

- ``run``: ``--calls N`` calls (or calls for ``--duration S`` seconds), at
  most ``--concurrency C`` at once, optionally paced to ``--rate R`` new calls
  a second. ``--hangups P`` makes a share P of the callers hang up at a random
  command, and ``--mixed`` picks random menu keys (or none): the soak's load.
- ``held``: opens ``--held N`` calls at ``--rate R`` a second; each waits in
  the queue. Once all N are held it prints ``{"event": "held", ...}``, makes
  probe calls (answered at once) at ``--probe-rate`` for ``--probe-seconds``,
  prints ``{"event": "releasing"}``, then lets the held calls out of the
  queue in the order they came, at ``--rate`` a second (agents answering),
  and waits for them to end.

The last stdout line is a JSON object ``{"event": "done", ...}`` with the
counts, the commands of the first whole call, and latency percentiles per
phase (``load``; in held mode ``ramp``: the held calls' commands before the
queue, ``probe``, and ``released``: their commands after it). The exit status is 0 when every call
completed (the server closed the socket after a whole call, nothing was
pipelined, nothing timed out), else 1.

    PYTHONPATH=. python bench/loadgen.py run --port 4573 --calls 2000 --concurrency 50
    PYTHONPATH=. python bench/loadgen.py held --port 4573 --held 5000 --rate 500
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import resource
import socket
import sys
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agi.sim import CallerScript, EverySound, SimulatedAsterisk, make_environment

QUEUE_COMMAND = re.compile(r'^EXEC\s+"?Queue"?(\s|$)', re.IGNORECASE)
#: In ``held`` mode a call's Queue reply waits for the release, not a time.
UNTIL_RELEASED = -1.0


def raise_open_file_limit() -> int:
    """Thousands of sockets need more than the usual 1024 descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else 1 << 20
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@dataclass
class Stats:
    """What the generator saw, for every call of the run."""

    started: int = 0
    environment_sent: int = 0
    completed: int = 0
    commands: int = 0
    pipelined: int = 0
    timed_out: int = 0
    refused: int = 0
    held: int = 0
    hangups_planned: int = 0
    failures: list[str] = field(default_factory=list)
    latencies: dict[str, array] = field(default_factory=dict)

    def fail(self, text: str) -> None:
        if len(self.failures) < 20:
            self.failures.append(text)

    def latency(self, phase: str) -> array:
        return self.latencies.setdefault(phase, array("d"))


def percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def summary(values: array) -> dict[str, float]:
    ordered = sorted(values)
    return {"count": len(ordered), "p50_ms": percentile(ordered, 0.50) * 1000,
            "p99_ms": percentile(ordered, 0.99) * 1000, "max_ms": (ordered[-1] if ordered else float("nan")) * 1000}


class Generator:
    """Shared state of the run: counters, the release of held calls, the
    random source and what every call looks like."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.stats = Stats()
        self.random = random.Random(args.seed)
        self.waiting: list[asyncio.Future[None]] = []
        self.first_call: list[str] = []
        self.open_calls = 0
        self.number = args.first

    def held_budget(self) -> float:
        """Seconds a held call may wait: the ramp, the probes and the release."""
        args = self.args
        return 2 * args.held / (args.rate or 1000.0) + args.probe_seconds + args.timeout

    def next_number(self) -> int:
        self.number += 1
        return self.number

    def script(self) -> CallerScript:
        """Menu key 2 (the reference call) or, with --mixed, a random key or none;
        with --hangups a random command at which the caller hangs up."""
        keys: list[str | None] = ["2"]
        if self.args.mixed:
            keys = [self.random.choice(["1", "2", "2", None, "9"]) for _ in range(4)]
        hangup = None
        if self.args.hangups and self.random.random() < self.args.hangups:
            hangup = self.random.randint(0, self.args.expect_commands or 12)
            self.stats.hangups_planned += 1
        return CallerScript(dtmf=keys, hangup_during=hangup, sounds=EverySound(8000))

    def hold_time(self) -> float:
        if not self.args.hold:
            return 0.0
        low, _, high = self.args.hold.partition("-")
        return self.random.uniform(float(low), float(high or low))

    async def call(self, phase: str, hold: float) -> None:
        """One call from connect to the server's close; a held call may
        wait as long as the whole run."""
        loop = asyncio.get_running_loop()
        number = self.next_number()
        script = self.script()
        env = make_environment(self.args.flow, uniqueid=f"1795385106.{number}", callerid=f"6{number:08d}",
                               calleridname=f"Load caller {number}", dnid="912345678")
        call = Call(self, SimulatedAsterisk(env, script), phase, hold, script.hangup_during is not None)
        self.stats.started += 1
        self.open_calls += 1
        try:
            await asyncio.wait_for(loop.create_connection(lambda: call, self.args.host, self.args.port),
                                   self.args.timeout)
        except (OSError, asyncio.TimeoutError) as exc:
            self.stats.refused += 1
            self.stats.fail(f"call {number}: connect: {exc}")
            self.open_calls -= 1
            return
        try:
            budget = self.args.timeout + (self.held_budget() if hold == UNTIL_RELEASED else hold)
            await asyncio.wait_for(asyncio.shield(call.done), budget)
        except asyncio.TimeoutError:
            self.stats.timed_out += 1
            self.stats.fail(f"call {number}: no end after {len(call.sim.log)} commands")
            call.transport_abort()
            await call.done
        finally:
            self.open_calls -= 1


class Call(asyncio.Protocol):
    """One FastAGI session from Asterisk's side."""

    def __init__(self, gen: Generator, sim: SimulatedAsterisk, phase: str, hold: float,
                 hangs_up: bool) -> None:
        self.gen, self.sim, self.phase, self.hold, self.hangs_up = gen, sim, phase, hold, hangs_up
        self.latencies = gen.stats.latency(phase)
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.sent_at = 0.0
        self.waiting_reply = False
        self.commands = 0
        self.pipelined = False
        self.aborted = False
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.write(self.sim.env_lines())
        self.gen.stats.environment_sent += 1

    def write(self, lines: list[str]) -> None:
        assert self.transport is not None
        if not self.transport.is_closing():
            self.transport.write("".join(f"{line}\n" for line in lines).encode("utf-8", "surrogateescape"))
        self.sent_at = time.perf_counter()
        self.waiting_reply = False

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self.buffer += data
        while b"\n" in self.buffer:
            raw, _, self.buffer = self.buffer.partition(b"\n")
            self.command(raw.decode("utf-8", "surrogateescape"), now)

    def command(self, line: str, now: float) -> None:
        if self.waiting_reply:
            self.pipelined = True
            return
        self.latencies.append(now - self.sent_at)
        self.commands += 1
        answer = self.sim.handle(line)
        if self.hold and QUEUE_COMMAND.match(line) and not self.sim.hung_up:
            self.waiting_reply = True
            self.hold_reply(answer)
        else:
            self.write(answer)

    def hold_reply(self, answer: list[str]) -> None:
        """A caller waiting in the queue: the Queue reply comes later."""
        loop = asyncio.get_running_loop()
        if self.hold != UNTIL_RELEASED:
            loop.call_later(self.hold, self.write, answer)
            return
        self.gen.stats.held += 1
        self.latencies = self.gen.stats.latency("released")
        released: asyncio.Future[None] = loop.create_future()
        released.add_done_callback(lambda _: self.write(answer))
        self.gen.waiting.append(released)

    def eof_received(self) -> bool:
        return False  # close our side too: the server ended the AGI

    def transport_abort(self) -> None:
        self.aborted = True
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        stats = self.gen.stats
        stats.commands += self.commands
        expected = self.gen.args.expect_commands
        if self.pipelined:
            stats.pipelined += 1
            stats.fail(f"{self.sim.environment['uniqueid']}: a command arrived before the reply to the previous one")
        elif expected and not self.hangs_up and self.commands != expected:
            stats.fail(f"{self.sim.environment['uniqueid']}: {self.commands} commands, expected {expected}: "
                       f"{[line for line, _ in self.sim.log][-3:]}")
        elif not self.aborted:
            stats.completed += 1
            if not self.gen.first_call and not self.hangs_up:
                self.gen.first_call = [line for line, _ in self.sim.log]
        if not self.done.done():
            self.done.set_result(None)


async def run_mode(gen: Generator) -> None:
    """Calls until --calls are made or --duration is over, --concurrency at
    most at once, paced to --rate when given."""
    args = gen.args
    slots = asyncio.Semaphore(args.concurrency)
    deadline = time.monotonic() + args.duration if args.duration else None
    tasks: set[asyncio.Task[None]] = set()
    interval = 1.0 / args.rate if args.rate else 0.0
    next_start = time.monotonic()
    made = 0
    while (args.calls is None or made < args.calls) and (deadline is None or time.monotonic() < deadline):
        await slots.acquire()
        if interval:
            next_start += interval
            await asyncio.sleep(max(0.0, next_start - time.monotonic()))
        task = asyncio.get_running_loop().create_task(gen.call("load", gen.hold_time()))
        task.add_done_callback(lambda t: (tasks.discard(t), slots.release()))
        tasks.add(task)
        made += 1
    if tasks:
        await asyncio.wait(tasks)


async def held_mode(gen: Generator) -> None:
    """--held calls waiting in the queue at once, probe calls meanwhile."""
    args = gen.args
    loop = asyncio.get_running_loop()
    interval = 1.0 / args.rate if args.rate else 0.0
    started = time.monotonic()
    held_tasks = []
    for n in range(args.held):
        held_tasks.append(loop.create_task(gen.call("ramp", UNTIL_RELEASED)))
        if interval:
            await asyncio.sleep(max(0.0, started + (n + 1) * interval - time.monotonic()))
    deadline = time.monotonic() + args.timeout
    while gen.stats.held + gen.stats.refused + gen.stats.timed_out < args.held and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    emit({"event": "held", "held": gen.stats.held, "ramp_seconds": time.monotonic() - started})
    probes = []
    probe_end = time.monotonic() + args.probe_seconds
    while time.monotonic() < probe_end:
        probes.append(loop.create_task(gen.call("probe", 0.0)))
        await asyncio.sleep(1.0 / args.probe_rate if args.probe_rate else args.probe_seconds)
    if probes:
        await asyncio.wait(probes)
    emit({"event": "releasing", "open": gen.open_calls})
    releasing = time.monotonic()
    for n, waiting in enumerate(gen.waiting):
        waiting.set_result(None)
        if interval:
            await asyncio.sleep(max(0.0, releasing + (n + 1) * interval - time.monotonic()))
    await asyncio.wait(held_tasks)


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def result(gen: Generator, seconds: float, limit: int) -> dict[str, Any]:
    stats = gen.stats
    all_latencies = array("d")
    for values in stats.latencies.values():
        all_latencies.extend(values)
    return {
        "event": "done", "seconds": seconds, "open_file_limit": limit,
        "started": stats.started, "environment_sent": stats.environment_sent, "completed": stats.completed,
        "commands": stats.commands, "pipelined": stats.pipelined, "timed_out": stats.timed_out,
        "refused": stats.refused, "held": stats.held, "hangups_planned": stats.hangups_planned,
        "calls_per_second": stats.completed / seconds if seconds else 0.0,
        "latency": {phase: summary(values) for phase, values in stats.latencies.items()},
        "latency_all": summary(all_latencies), "first_call": gen.first_call, "failures": stats.failures,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=("run", "held"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--flow", default="reference", help="agi_network_script (default reference)")
    parser.add_argument("--calls", type=int, default=None, help="run: calls to make")
    parser.add_argument("--duration", type=float, default=None, help="run: seconds to keep making calls")
    parser.add_argument("--concurrency", type=int, default=50, help="run: calls at once (default 50)")
    parser.add_argument("--rate", type=float, default=0.0, help="new calls a second (default: no pacing)")
    parser.add_argument("--hold", default="", help="run: Queue reply held for S or LOW-HIGH seconds")
    parser.add_argument("--held", type=int, default=1000, help="held: calls waiting at once (default 1000)")
    parser.add_argument("--probe-rate", type=float, default=20.0, help="held: probe calls a second (default 20)")
    parser.add_argument("--probe-seconds", type=float, default=5.0, help="held: seconds of probes (default 5)")
    parser.add_argument("--hangups", type=float, default=0.0, help="share of callers who hang up (default 0)")
    parser.add_argument("--mixed", action="store_true", help="random menu keys, timeouts and wrong keys")
    parser.add_argument("--expect-commands", type=int, default=0,
                        help="commands a whole call has; a call without hangup that differs fails")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds one call may take beyond its hold")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--first", type=int, default=0,
                        help="calls are numbered (uniqueid, caller ID) from this one on (default 0)")
    args = parser.parse_args(argv)
    if args.mode == "run" and args.calls is None and args.duration is None:
        parser.error("run needs --calls or --duration")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    limit = raise_open_file_limit()
    gen_box: list[Generator] = []

    async def go() -> float:
        gen = Generator(args)
        gen_box.append(gen)
        started = time.perf_counter()
        await (run_mode(gen) if args.mode == "run" else held_mode(gen))
        return time.perf_counter() - started

    seconds = asyncio.run(go())
    out = result(gen_box[0], seconds, limit)
    emit(out)
    ok = out["completed"] == out["started"] and not out["pipelined"] and not out["failures"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
