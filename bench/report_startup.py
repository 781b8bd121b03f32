"""How long does `agiflow report` take to start and answer on a small database?

Times whole processes, as a supervisor runs them: ``python -c pass`` (the
interpreter alone, the baseline), ``agiflow report summary --db FILE``,
the same through ``-c config.yaml`` (the shipped config with its database
set to FILE), ``report calls --format csv`` and ``agiflow --help``; with
``--postgres URL``, also ``report summary`` on a new database of that
PostgreSQL server holding the same calls (dropped after). Each
command runs ``--runs`` times (default 20) after one warm-up run; the
table gives the median, the fastest and the slowest wall time, the median
less the baseline's, and the same medians of CPU time. ``--code DIR`` times the agiflow code of
another checkout (an older version, to compare). Exits 1 if a command
fails (speed is never asserted).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.reports_data import generate, scratch_postgres

ROOT = Path(__file__).resolve().parents[1]


def commands(db: Path, config: Path, postgres: str | None) -> list[tuple[str, list[str]]]:
    agiflow = [sys.executable, "-m", "agi.cli"]
    on_postgres = [("report summary --db postgresql://...", [*agiflow, "report", "summary", "--db", postgres])]
    return [
        ("python -c pass (baseline)", [sys.executable, "-c", "pass"]),
        ("report summary --db FILE", [*agiflow, "report", "summary", "--db", str(db)]),
        ("report summary -c config.yaml", [*agiflow, "report", "summary", "-c", str(config)]),
        ("report calls --format csv --db FILE", [*agiflow, "report", "calls", "--format", "csv", "--db", str(db)]),
        *(on_postgres if postgres else []),
        ("agiflow --help", [*agiflow, "--help"]),
    ]


def time_runs(argv: list[str], runs: int, env: dict[str, str], cwd: Path) -> tuple[list[float], list[float]]:
    """Wall seconds and CPU seconds (user + system) of each run, after one
    warm-up run, in ``cwd`` (never the checkout: ``python -m`` would import
    the agiflow of its folder). CPU time hardly moves when other processes
    share the machine; wall time does."""
    walls, cpus = [], []
    for i in range(runs + 1):
        started = time.perf_counter()
        process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode:
            raise SystemExit(f"{' '.join(argv)} failed with status {process.returncode}")
        if i:
            walls.append(elapsed)
            cpus.append(usage.ru_utime + usage.ru_stime)
    return walls, cpus


def shipped_config(folder: Path, db: Path) -> Path:
    """config.yaml as shipped, with ``database`` pointing at ``db``."""
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    text, replaced = re.subn(r"(?m)^database:.*$", f"database: {db}", text)
    if replaced != 1:
        raise SystemExit("config.yaml has no top-level `database:` line to point at the benchmark's database")
    path = folder / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="timed runs of each command (default 20)")
    parser.add_argument("--calls", type=int, default=2000, help="calls in the database (default 2000)")
    parser.add_argument("--quick", action="store_true", help="10 runs each")
    parser.add_argument("--postgres", metavar="URL", help="also time a report on a new database of this "
                        "PostgreSQL server (a URL of any of its databases), dropped after")
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout whose agiflow is timed (default: this one)")
    args = parser.parse_args()
    runs = 10 if args.quick else args.runs
    env = {**os.environ, "PYTHONPATH": str(args.code.resolve()), "TZ": "UTC"}
    with tempfile.TemporaryDirectory(prefix="agiflow-startup-") as tmp, contextlib.ExitStack() as stack:
        db = Path(tmp) / "cdr.db"
        generate(db, args.calls)
        postgres = stack.enter_context(scratch_postgres(args.postgres, "agiflow_startup")) if args.postgres else None
        if postgres:
            generate(postgres, args.calls)
        config = shipped_config(Path(tmp), db)
        print(f"{args.code.resolve()}: {runs} runs each after a warm-up, {args.calls} calls, "
              f"Python {sys.version.split()[0]}")
        print(f"{'':<38} {'wall time':-^40}  {'CPU time':-^19}")
        print(f"{'command':<38} {'median':>8} {'min':>8} {'max':>8} {'-baseline':>10}  {'median':>8} "
              f"{'-baseline':>10}")
        baseline: tuple[float, float] | None = None
        for label, argv in commands(db, config, postgres):
            walls, cpus = time_runs(argv, runs, env, Path(tmp))
            wall, cpu = statistics.median(walls), statistics.median(cpus)
            baseline = baseline or (wall, cpu)
            print(f"{label:<38} {wall * 1000:>6.0f}ms {min(walls) * 1000:>6.0f}ms {max(walls) * 1000:>6.0f}ms "
                  f"{(wall - baseline[0]) * 1000:>8.0f}ms  {cpu * 1000:>6.0f}ms {(cpu - baseline[1]) * 1000:>8.0f}ms",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
