"""How much memory does a full export of the call log take?

Generates N calls (default 1,000,000; ``--quick`` 100,000) in a temporary
SQLite file (bench/reports_data.py's calls), then runs ``agiflow report
calls --format csv`` and ``--format json`` over all of them, and over the
1,000 newest (``--limit 1000``), each as its own process writing to a file.
Prints wall time, the process's peak resident memory (VmHWM, read by the
process itself as it exits: ``ru_maxrss`` would count the memory of the
benchmark that started it), rows and bytes written. Exits 1 if an export has the wrong number of rows
(speed and memory are reported, never asserted).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.reports_data import generate

ROOT = Path(__file__).resolve().parents[1]
#: Runs ``agiflow ARGS`` and, as it exits, writes its peak resident memory to stderr.
AGIFLOW_WITH_PEAK = """
import atexit, runpy, sys
def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            print("peak-rss-kb", line.split()[1], file=sys.stderr)
atexit.register(peak)
runpy.run_module("agi.cli", run_name="__main__")
"""


def export(db: Path, fmt: str, out: Path, env: dict[str, str], *extra: str) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one ``agiflow report calls`` process."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", AGIFLOW_WITH_PEAK, "report", "calls", "--db", str(db), "--format",
                           fmt, "-o", str(out), *extra], env=env, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"the {fmt} export failed with status {done.returncode}: {done.stderr}")
    return elapsed, int(done.stderr.split("peak-rss-kb")[-1]) / 1024


def rows_in(out: Path, fmt: str) -> int:
    """Rows written: CSV lines after the header, JSON lines inside ``rows``
    (one row a line), counted without loading the file."""
    with out.open("rb") as handle:
        if fmt == "csv":
            return sum(1 for _ in handle) - 1
        return sum(1 for line in handle if line.startswith(b'    {"'))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1_000_000, help="calls in the database (default 1,000,000)")
    parser.add_argument("--quick", action="store_true", help="100,000 calls")
    args = parser.parse_args()
    calls = 100_000 if args.quick else args.calls
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "TZ": "Europe/Madrid"}
    failed = 0
    with tempfile.TemporaryDirectory(prefix="agiflow-export-") as tmp:
        db = Path(tmp) / "cdr.db"
        print(f"generating {calls:,} calls ...", flush=True)
        generate(db, calls)
        print(f"{'export':<28} {'rows':>10} {'MB written':>11} {'seconds':>8} {'peak RSS':>9}")
        for fmt in ("csv", "json"):
            for label, extra, expected in ((f"{fmt}, 1,000 newest", ("--limit", "1000"), min(1000, calls)),
                                           (f"{fmt}, every call", (), calls)):
                out = Path(tmp) / f"calls.{fmt}"
                seconds, peak = export(db, fmt, out, env, *extra)
                written = rows_in(out, fmt)
                failed += written != expected
                print(f"{label:<28} {written:>10,} {out.stat().st_size / 1e6:>11.1f} {seconds:>8.1f} {peak:>7.0f}MB"
                      + ("" if written == expected else f"  WRONG: expected {expected:,} rows"), flush=True)
                out.unlink()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
