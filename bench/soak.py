"""Soak: mixed calls for a long time; nothing may grow and no CDR may be missing.

Runs ``agiflow serve`` with the reference flow (``bench/reference.yaml``)
and the load generator for ``--minutes`` (default 30): ``--rate`` new calls
a second, at most ``--concurrency`` at once; every caller presses a random
key (1, 2, a wrong key, or none, so menus time out and retry), waits in the
queue for a random 0.2 to 3 s, and a share ``--hangups`` of them hangs up at
a random command (before the first one included). Every ``--sample``
seconds the script reads the server's VmRSS, open files and CPU from /proc.

At the end it waits for the CDR writer and checks (exit status 1 when one
fails): every call that reached the server has exactly one CDR row and none
is left in progress; the open files are back to where they were after the
warm-up; memory did not grow (the last quarter's average VmRSS within
``--max-growth`` percent of the first quarter's, the first sample left out
as warm-up); the server exits 0 on SIGTERM.

    PYTHONPATH=. python bench/soak.py [--minutes 30] [--rate 100] [--quick]
"""
from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.procstat import (ROOT, LoadRun, agiflow_server, cpu_seconds, cpus, free_port,
                            open_files, percent_change, rss_kb)

REFERENCE_FLOW = ROOT / "bench" / "reference.yaml"


@dataclass
class Sample:
    at: float
    rss_kb: int
    files: int
    cpu: float


@dataclass
class Soak:
    samples: list[Sample] = field(default_factory=list)
    load: dict[str, Any] = field(default_factory=dict)
    files_before: int = 0
    files_after: int = 0
    rows: int = 0
    unfinished: int = 0
    duplicated: int = 0
    exit_code: int = 0
    problems: list[str] = field(default_factory=list)


def sample_until(pid: int, every: float, stop: threading.Event, out: list[Sample]) -> None:
    started = time.monotonic()
    while not stop.wait(every):
        out.append(Sample(time.monotonic() - started, rss_kb(pid), open_files(pid), cpu_seconds(pid)))


def cdr_counts(database: Path) -> tuple[int, int, int]:
    """(rows, rows still in progress, uniqueids with more than one row)."""
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT count(*) FROM calls").fetchone()[0]
        unfinished = db.execute("SELECT count(*) FROM calls WHERE status = 'in_progress'").fetchone()[0]
        duplicated = db.execute("SELECT count(*) FROM (SELECT call_id FROM calls GROUP BY call_id "
                                "HAVING count(*) > 1)").fetchone()[0]
        return int(rows), int(unfinished), int(duplicated)
    finally:
        db.close()


def run(args: argparse.Namespace) -> Soak:
    soak = Soak()
    available = cpus()
    server_cpu, load_cpu = (available[0], available[1]) if len(available) >= 2 else (None, None)
    with tempfile.TemporaryDirectory(prefix="agiflow-soak-") as tmp:
        server = agiflow_server(Path(tmp), REFERENCE_FLOW, free_port(), cpu=server_cpu)
        try:
            warm = LoadRun(["run", "--port", str(server.port), "--calls", "200", "--concurrency", "20"], cpu=load_cpu)
            time.sleep(1.0)
            soak.files_before = open_files(server.pid)
            stop = threading.Event()
            sampler = threading.Thread(target=sample_until, args=(server.pid, args.sample, stop, soak.samples))
            sampler.start()
            load = LoadRun(["run", "--port", str(server.port), "--duration", str(args.minutes * 60),
                            "--rate", str(args.rate), "--concurrency", str(args.concurrency), "--hold", "0.2-3",
                            "--hangups", str(args.hangups), "--mixed", "--timeout", "30", "--seed", str(args.seed),
                            "--first", "1000000"],
                           cpu=load_cpu)
            stop.set()
            sampler.join()
            soak.load = load.result
            time.sleep(1.0)
            soak.files_after = open_files(server.pid)
        finally:
            soak.exit_code = server.stop()
        soak.rows, soak.unfinished, soak.duplicated = cdr_counts(Path(tmp) / "cdr.db")
        calls = warm.result.get("environment_sent", 0) + soak.load.get("environment_sent", 0)
        check(soak, calls, args.max_growth)
        soak.problems += [line for line in server.lines if " ERROR " in line or "Traceback" in line][:5]
    return soak


def check(soak: Soak, calls: int, max_growth: float) -> None:
    if soak.rows != calls or soak.unfinished or soak.duplicated:
        soak.problems.append(f"{soak.rows} CDR rows for {calls} calls ({soak.unfinished} in progress, "
                             f"{soak.duplicated} uniqueids with more than one row)")
    if soak.files_after > soak.files_before:
        soak.problems.append(f"open files grew from {soak.files_before} to {soak.files_after}")
    growth = memory_growth(soak.samples)
    if growth > max_growth:
        soak.problems.append(f"memory grew {growth:.1f} % (more than {max_growth:g} %)")
    if soak.load.get("pipelined") or soak.load.get("timed_out") or soak.load.get("refused"):
        soak.problems.append(f"load: {soak.load.get('pipelined')} pipelined, {soak.load.get('timed_out')} "
                             f"timed out, {soak.load.get('refused')} refused: {soak.load.get('failures', [])[:3]}")
    if soak.exit_code:
        soak.problems.append(f"server exit status {soak.exit_code}")


def memory_growth(samples: list[Sample]) -> float:
    """Percent from the first quarter's average VmRSS to the last quarter's
    (the first sample, the warm-up, left out)."""
    kept = samples[1:]
    if len(kept) < 4:
        return 0.0
    quarter = len(kept) // 4
    first = sum(s.rss_kb for s in kept[:quarter]) / quarter
    last = sum(s.rss_kb for s in kept[-quarter:]) / quarter
    return percent_change(first, last)


def report(soak: Soak, args: argparse.Namespace) -> None:
    load = soak.load
    print(f"\nSoak: {args.minutes:g} min, {args.rate:g} calls/s, {args.hangups * 100:.0f} % hang up at a random "
          f"command, queue waits 0.2-3 s\n")
    print(f"{'minute':>7}{'VmRSS MB':>10}{'open files':>12}{'CPU %':>7}")
    previous: Sample | None = None
    for s in soak.samples:
        cpu = (s.cpu - previous.cpu) / (s.at - previous.at) * 100 if previous else float("nan")
        print(f"{s.at / 60:7.1f}{s.rss_kb / 1024:10.1f}{s.files:12d}{cpu:7.0f}")
        previous = s
    latency = load.get("latency_all", {})
    print(f"\ncalls: {load.get('started')} made, {load.get('completed')} completed, "
          f"{load.get('hangups_planned')} with a caller hangup; {load.get('commands')} commands, "
          f"latency p50 {latency.get('p50_ms', 0):.2f} ms, p99 {latency.get('p99_ms', 0):.2f} ms, "
          f"max {latency.get('max_ms', 0):.1f} ms")
    print(f"CDR rows: {soak.rows} ({soak.unfinished} in progress, {soak.duplicated} duplicated)")
    print(f"open files: {soak.files_before} after the warm-up, {soak.files_after} at the end")
    print(f"memory: {memory_growth(soak.samples):+.1f} % from the first quarter to the last")
    print(f"server exit status {soak.exit_code}: {'FAILED' if soak.problems else 'OK'}")
    for line in soak.problems:
        print(f"  {line}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=None, help="how long (default 30, quick 0.5)")
    parser.add_argument("--rate", type=float, default=100.0, help="new calls a second (default 100)")
    parser.add_argument("--concurrency", type=int, default=400, help="calls at once at most (default 400)")
    parser.add_argument("--hangups", type=float, default=0.3, help="share of callers who hang up (default 0.3)")
    parser.add_argument("--sample", type=float, default=None, help="seconds between samples (default 30, quick 5)")
    parser.add_argument("--max-growth", type=float, default=10.0, help="memory growth allowed, percent (default 10)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="half a minute, for make bench")
    args = parser.parse_args(argv)
    args.minutes = args.minutes if args.minutes is not None else (0.5 if args.quick else 30.0)
    args.sample = args.sample or (5.0 if args.quick or args.minutes < 5 else 30.0)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    soak = run(args)
    report(soak, args)
    return 1 if soak.problems else 0


if __name__ == "__main__":
    sys.exit(main())
