"""Benchmark: agiflow against the FastAGI servers people use, on one reference call.

The reference call: answer, a recording notice (the welcome prompt) and
MixMonitor, a menu (the caller presses 2), a CDR field, the queue priority
(``QUEUE_PRIO``), Queue, read ``QUEUESTATUS``, hang up, tell the dialplan
the outcome. The same call runs on:

- **agiflow**: ``agiflow serve`` (one worker) with the YAML flow
  ``bench/reference.yaml``, writing its CDRs (a ``calls`` row and a row per
  step) to SQLite and a log line per call;
- **panoramisk** 1.4 (asyncio) and **pystrix** 1.3.0 (a thread per call):
  their FastAGI servers with the call written by hand (``bench/peers/``),
  doing the same work: a ``calls`` row and a row per step written to SQLite
  by a thread as agiflow's writer does, and a log line per call
  (``bench/peers/peer_cdr.py``); they are installed into
  ``bench/.peers-venv``, which this script creates;
- **bare Twisted**: a Twisted server that sends the same commands with no
  logic, no CDR and no log (``bench/peers/twisted_bare.py``): the floor.

Each server in turn, pinned to one CPU while the load generator
(``bench/loadgen.py``, a separate asyncio process playing Asterisk 22) runs
on another:

1. warm-up: 200 calls;
2. held: ``--held`` calls arrive at ``--rate`` a second and wait in the
   queue (the Queue reply is held back); with all of them waiting, probe
   calls run for a few seconds; then the queue lets them go at ``--rate`` a
   second. Memory per open call = (VmRSS with all held - VmRSS before) / held;
   latency over every command of the phase;
3. throughput: ``--calls`` calls, ``--concurrency`` at once, answered at once:
   calls/s, server CPU per call (utime + stime of all its threads, from
   /proc) and command latency. The calls are split into ``--rounds`` rounds,
   and each round runs every server in turn (all of them are up at once;
   an idle one uses no CPU), so that a slower minute of a shared machine
   weighs on every server alike. Each figure is the median of the rounds;
   CPU ×bare is the median of each round's ratio.

Latency is the server's think time per command: from the load generator's
reply to the next command line. The last columns divide by the bare Twisted
server's figure from the same run. Checks (exit status 1 when one fails):
every call of every server completed with the same number of commands and
nothing pipelined, and agiflow and the peers left one completed CDR row per
call. Speed is reported, never asserted.

    PYTHONPATH=. python bench/compare.py [--quick] [--servers agiflow,bare] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.procstat import (ROOT, LoadRun, ServerProcess, agiflow_server, cpu_seconds, cpus,
                            free_port, open_files, rss_kb)

HERE = ROOT / "bench"
PEERS_VENV = HERE / ".peers-venv"
PEER_PACKAGES = ("panoramisk==1.4", "pystrix==1.3.0")
REFERENCE_FLOW = HERE / "reference.yaml"
#: Connect-and-close probes (and half environments) after the load.
PROBES = 200
SERVERS = ("bare", "agiflow", "panoramisk", "pystrix")
#: The peers whose reference call keeps CDRs and a log line per call, as agiflow does.
KEEP_CDRS = ("panoramisk", "pystrix")
LABELS = {"bare": "bare Twisted", "agiflow": "agiflow", "panoramisk": "panoramisk", "pystrix": "pystrix",
          "baseline": "agiflow (base)"}
#: The agiflow servers: this checkout's and, with ``--baseline``, another's.
AGIFLOWS = ("agiflow", "baseline")


def peers_python() -> Path:
    """The peers' virtualenv, created and filled on first use."""
    python = PEERS_VENV / "bin" / "python"
    check = [str(python), "-c", "import panoramisk, pystrix"]
    if python.exists() and subprocess.call(check, stderr=subprocess.DEVNULL) == 0:
        return python
    print(f"creating {PEERS_VENV.relative_to(ROOT)} with {', '.join(PEER_PACKAGES)}", flush=True)
    subprocess.check_call([sys.executable, "-m", "venv", str(PEERS_VENV)])
    subprocess.check_call([str(python), "-m", "pip", "install", "--quiet", *PEER_PACKAGES])
    subprocess.check_call(check)
    return python


def start(name: str, folder: Path, cpu: int | None, baseline: Path | None = None) -> ServerProcess:
    port = free_port()
    if name in AGIFLOWS:
        return agiflow_server(folder, REFERENCE_FLOW, port, cpu=cpu, code=baseline if name == "baseline" else None)
    if name == "bare":
        argv = [sys.executable, str(HERE / "peers" / "twisted_bare.py"), "--port", str(port)]
    else:
        argv = [str(peers_python()), str(HERE / "peers" / f"{name}_server.py"), "--port", str(port),
                "--database", str(folder / "cdr.db")]
    return ServerProcess(LABELS[name], argv, port, cpu=cpu)


@dataclass
class Figures:
    """One server's run."""

    name: str
    commands_per_call: int = 0
    calls_per_second: float = 0.0
    cpu_per_call_ms: float = 0.0
    utilisation: float = 0.0
    latency_p50_ms: float = 0.0
    latency_p99_ms: float = 0.0
    #: CPU per call of each throughput round, in ms (the figures above are the rounds' medians)
    cpu_rounds: list[float] = field(default_factory=list)
    held: int = 0
    held_p50_ms: float = 0.0
    held_p99_ms: float = 0.0
    held_max_ms: float = 0.0
    kb_per_open_call: float = 0.0
    open_files_held: int = 0
    idle_cpu_after_probes: float = 0.0
    serves_after_probes: bool = False
    calls_made: int = 0
    cdr_rows: int | None = None
    exit_code: int = 0
    first_call: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def check(figures: Figures, load: LoadRun, phase: str) -> None:
    result = load.result
    figures.calls_made += result.get("started", 0)
    if load.exit_code or not result:
        failures = result.get("failures", [])[:3] if result else ["no result"]
        figures.problems.append(f"{phase}: {result.get('completed')} of {result.get('started')} calls completed, "
                                f"{result.get('pipelined')} pipelined, {result.get('timed_out')} timed out: {failures}")


def held_phase(server: ServerProcess, figures: Figures, args: argparse.Namespace, cpu: int | None) -> None:
    before = rss_kb(server.pid)
    seen: dict[str, int] = {}

    def on_event(event: dict[str, Any]) -> None:
        if event.get("event") == "held":
            seen["rss"], seen["held"] = rss_kb(server.pid), int(event["held"])
            seen["files"] = open_files(server.pid)

    load = LoadRun(["held", "--port", str(server.port), "--held", str(args.held), "--rate", str(args.rate),
                    "--probe-seconds", str(args.probe_seconds), "--first", "100000",
                    "--expect-commands", str(figures.commands_per_call)], cpu=cpu, on_event=on_event)
    check(figures, load, "held")
    figures.held = seen.get("held", 0)
    figures.kb_per_open_call = (seen.get("rss", before) - before) / max(figures.held, 1)
    figures.open_files_held = seen.get("files", 0)
    latency = load.result.get("latency_all", {})
    figures.held_p50_ms, figures.held_p99_ms = latency.get("p50_ms", 0.0), latency.get("p99_ms", 0.0)
    figures.held_max_ms = latency.get("max_ms", 0.0)


def throughput_round(server: ServerProcess, figures: Figures, args: argparse.Namespace, cpu: int | None,
                     first: int) -> dict[str, float]:
    """One round of ``args.calls / args.rounds`` calls; its figures."""
    used = cpu_seconds(server.pid)
    load = LoadRun(["run", "--port", str(server.port), "--calls", str(args.calls // args.rounds), "--concurrency",
                    str(args.concurrency), "--expect-commands", str(figures.commands_per_call),
                    "--first", str(first)], cpu=cpu)
    used = cpu_seconds(server.pid) - used
    check(figures, load, "throughput")
    result = load.result
    latency = result.get("latency", {}).get("load", {})
    return {"calls_per_second": result.get("calls_per_second", 0.0),
            "cpu_per_call_ms": used / max(result.get("completed", 0), 1) * 1000,
            "utilisation": used / result["seconds"] if result.get("seconds") else 0.0,
            "latency_p50_ms": latency.get("p50_ms", 0.0), "latency_p99_ms": latency.get("p99_ms", 0.0)}


def throughput_phase(live: dict[str, tuple[ServerProcess, Figures]], args: argparse.Namespace,
                     cpu: int | None) -> None:
    """``args.rounds`` rounds; each round runs every server in turn, so that
    a slower minute of a shared machine weighs on all of them alike, and
    each round starts one server later than the one before, so that every
    server runs as often in each place of a round (a server right after
    another measured up to 7 % more CPU per call there than in other
    places). Each figure is the median of the rounds."""
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in live}
    names = list(live)
    for n in range(args.rounds):
        shift = n % len(names)
        for name in names[shift:] + names[:shift]:
            server, figures = live[name]
            rounds[name].append(throughput_round(server, figures, args, cpu, 200000 + n * args.calls))
    for name, (_, figures) in live.items():
        for key in rounds[name][0]:
            setattr(figures, key, statistics.median(r[key] for r in rounds[name]))
        figures.cpu_rounds = [r["cpu_per_call_ms"] for r in rounds[name]]


def probe_phase(server: ServerProcess, figures: Figures, cpu: int | None) -> None:
    """Port probes (connect and close, half of them with a reset) and
    clients that close in the middle of the environment; then the CPU the
    server uses in a second of quiet, and whether it still answers a call."""
    half_environment = b"agi_network: yes\nagi_network_script: reference\nagi_request: agi://127.0.0.1/ref"
    for n in range(PROBES):
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=2) as probe:
                if n % 4 == 3:
                    probe.sendall(half_environment)
                elif n % 2:
                    probe.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            break  # it no longer accepts connections
    time.sleep(0.5)
    used = cpu_seconds(server.pid)
    time.sleep(1.0)
    figures.idle_cpu_after_probes = cpu_seconds(server.pid) - used
    after = LoadRun(["run", "--port", str(server.port), "--calls", "1", "--timeout", "5", "--first", "300000"],
                    cpu=cpu)
    figures.serves_after_probes = after.result.get("completed") == 1


def count_cdrs(database: Path) -> int:
    import sqlite3
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT count(*) FROM calls WHERE status = 'completed'").fetchone()[0])
    finally:
        db.close()


def prepare(server: ServerProcess, figures: Figures, args: argparse.Namespace, load_cpu: int | None) -> None:
    """Warm-up, then the held phase."""
    warm = LoadRun(["run", "--port", str(server.port), "--calls", "200", "--concurrency", "20"], cpu=load_cpu)
    check(figures, warm, "warm-up")
    figures.first_call = warm.result.get("first_call", [])
    figures.commands_per_call = len(figures.first_call)
    time.sleep(1.0)
    held_phase(server, figures, args, load_cpu)
    time.sleep(1.0)


def finish(name: str, server: ServerProcess, figures: Figures, folder: Path, load_cpu: int | None) -> None:
    """The probes, then stop the server; check the CDRs of agiflow and of the
    peers that keep them (a peer's are counted before it stops: its writer
    thread does not outlive SIGTERM)."""
    try:
        probe_phase(server, figures, load_cpu)
        figures.calls_made += 1 if figures.serves_after_probes else 0
        if name in KEEP_CDRS:
            time.sleep(0.5)
            figures.cdr_rows = count_cdrs(folder / "cdr.db")
    finally:
        figures.exit_code = server.stop()
    if name in KEEP_CDRS and figures.cdr_rows != figures.calls_made:
        figures.problems.append(f"{figures.cdr_rows} completed CDR rows for {figures.calls_made} calls")
    if name in AGIFLOWS:
        if not figures.serves_after_probes or figures.idle_cpu_after_probes > 0.1:
            figures.problems.append("port probes stopped agiflow or left it busy")
        figures.cdr_rows = count_cdrs(folder / "cdr.db")
        if figures.cdr_rows != figures.calls_made or figures.exit_code:
            figures.problems.append(f"{figures.cdr_rows} completed CDR rows for {figures.calls_made} calls; "
                                    f"exit status {figures.exit_code}")
            figures.problems += [line for line in server.lines if "ERROR" in line][:5]


def measure(names: list[str], args: argparse.Namespace, server_cpu: int | None, load_cpu: int | None) -> list[Figures]:
    """Every server started (idle ones cost nothing), each prepared in turn,
    the throughput rounds across all of them, then each one's probes."""
    with ExitStack() as stack:
        live: dict[str, tuple[ServerProcess, Figures]] = {}
        folders: dict[str, Path] = {}
        for name in names:
            folders[name] = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"agiflow-compare-{name}-")))
            server = start(name, folders[name], server_cpu, args.baseline)
            stack.callback(server.stop)
            live[name] = (server, Figures(LABELS[name]))
        for name, (server, figures) in live.items():
            print(f"== {LABELS[name]}: warm-up and held callers", flush=True)
            prepare(server, figures, args, load_cpu)
        print(f"== throughput: {args.rounds} rounds of {args.calls // args.rounds} calls a server", flush=True)
        throughput_phase(live, args, load_cpu)
        for name, (server, figures) in live.items():
            print(f"== {LABELS[name]}: probes", flush=True)
            finish(name, server, figures, folders[name], load_cpu)
        return [figures for _, figures in live.values()]


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}" if base else "-"


def cpu_ratio(figures: Figures, base: Figures | None) -> str:
    """The median over rounds of the CPU per call over bare's in the same round."""
    if base is None or len(base.cpu_rounds) != len(figures.cpu_rounds) or not all(base.cpu_rounds):
        return "-"
    return f"{statistics.median(a / b for a, b in zip(figures.cpu_rounds, base.cpu_rounds)):.2f}"


def report(runs: list[Figures], args: argparse.Namespace) -> None:
    base = next((f for f in runs if f.name == LABELS["bare"]), None)
    print(f"\nReference call, {runs[0].commands_per_call} AGI commands. Throughput: {args.calls} calls, "
          f"{args.concurrency} at once. Held: {args.held} callers waiting in Queue at once "
          f"(arriving and leaving at {args.rate:g}/s).\n")
    head = (f"{'server':14}{'calls/s':>9}{'CPU/call':>10}{'xbare':>7}{'p50':>8}{'p99':>8}{'held p50':>10}"
            f"{'held p99':>10}{'KB/call':>9}{'xbare':>7}{'busy':>6}")
    print(head)
    print(f"{'':14}{'':>9}{'ms':>10}{'':>7}{'ms':>8}{'ms':>8}{'ms':>10}{'ms':>10}{'held':>9}{'':>7}{'CPU':>6}")
    for f in runs:
        print(f"{f.name:14}{f.calls_per_second:9.0f}{f.cpu_per_call_ms:10.3f}"
              f"{cpu_ratio(f, base):>7}"
              f"{f.latency_p50_ms:8.2f}{f.latency_p99_ms:8.2f}{f.held_p50_ms:10.2f}{f.held_p99_ms:10.2f}"
              f"{f.kb_per_open_call:9.1f}{ratio(f.kb_per_open_call, base.kb_per_open_call if base else 0):>7}"
              f"{f.utilisation * 100:5.0f}%")
    mine, old = (next((f for f in runs if f.name == LABELS[name]), None) for name in AGIFLOWS)
    if mine is not None and old is not None:
        print(f"\nagiflow / agiflow (base), CPU per call, median of the rounds' ratios: {cpu_ratio(mine, old)} "
              f"(base: {args.baseline})")
    for f in runs:
        extra = f", {f.cdr_rows} completed CDR rows" if f.cdr_rows is not None else ""
        print(f"\n{f.name}: {f.calls_made} calls, {f.held} held at once ({f.open_files_held} open files), "
              f"held max {f.held_max_ms:.1f} ms, exit status {f.exit_code}{extra}: "
              f"{'FAILED' if f.problems else 'OK'}")
        print(f"  after {PROBES} port probes and half environments: "
              f"{'still serves calls' if f.serves_after_probes else 'NO LONGER SERVES CALLS'}, "
              f"{f.idle_cpu_after_probes:.2f} s CPU in 1 s of quiet")
        for line in f.problems[:8]:
            print(f"  {line}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run, for make bench")
    parser.add_argument("--servers", default=",".join(SERVERS), help=f"comma separated, of {', '.join(SERVERS)}")
    parser.add_argument("--calls", type=int, default=None, help="throughput calls (default 5000, quick 1000)")
    parser.add_argument("--concurrency", type=int, default=50, help="throughput calls at once (default 50)")
    parser.add_argument("--rounds", type=int, default=None, help="throughput rounds the calls are split into (default 5, quick 3)")
    parser.add_argument("--held", type=int, default=None, help="callers held in Queue at once (default 5000, quick 500)")
    parser.add_argument("--rate", type=float, default=None, help="held callers arriving a second (default 500, quick 250)")
    parser.add_argument("--probe-seconds", type=float, default=None, help="probe calls while all are held (default 5)")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="also run the agiflow of this checkout (an older version), in the same rounds, "
                             "after agiflow unless --servers places 'baseline'")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the server and the load to separate CPUs")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    args.calls = args.calls or (1000 if args.quick else 5000)
    args.rounds = args.rounds or (3 if args.quick else 5)
    args.held = args.held or (500 if args.quick else 5000)
    args.rate = args.rate or (250.0 if args.quick else 500.0)
    args.probe_seconds = args.probe_seconds if args.probe_seconds is not None else (2.0 if args.quick else 5.0)
    unknown = set(args.servers.split(",")) - set(SERVERS) - ({"baseline"} if args.baseline else set())
    if unknown:
        parser.error(f"unknown servers {', '.join(sorted(unknown))}; known: {', '.join(SERVERS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    available = cpus()
    server_cpu, load_cpu = (available[0], available[1]) if len(available) >= 2 and not args.no_pin else (None, None)
    names = args.servers.split(",")
    if args.baseline is not None and "baseline" not in names:
        names.insert(names.index("agiflow") + 1 if "agiflow" in names else len(names), "baseline")
    runs = measure(names, args, server_cpu, load_cpu)
    report(runs, args)
    if args.json:
        args.json.write_text(json.dumps([f.__dict__ for f in runs], indent=2), encoding="utf-8")
    counts = {f.commands_per_call for f in runs}
    if len(counts) > 1:
        print(f"\nthe servers sent different numbers of commands per call: "
              f"{ {f.name: f.commands_per_call for f in runs} }")
    return 1 if any(f.problems for f in runs) or len(counts) > 1 else 0


if __name__ == "__main__":
    sys.exit(main())
