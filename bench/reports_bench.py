"""How long does every `agiflow report`, in every format, take over 90 days
of a big contact center, on SQLite and on PostgreSQL?

Fills a CDR database with N calls (default 1,000,000) over 2025-01-01 to
2025-03-31 (bench/reports_data.py), then times each report and format as a
user runs it: ``agiflow report KIND --since 2025-01-01 --until 2025-03-31
--tz Europe/Madrid --db DB --format F -o FILE``, a process of its own, its
wall time and its CPU time (user + system, from ``wait4``). Each case runs
``--runs`` times; the fastest counts.

When this agiflow keeps rollups (``agiflow db rollups --help`` works), the
benchmark first rebuilds them (``agiflow db rollups --rebuild``, timed), then
times each case of a report that reads them twice: with ``--no-rollups``
(counted from the calls table: the baseline) and without; it prints both and
their ratio, and exits 1 when the two outputs differ (the moment of
generation, and the callbacks' "oldest pending" age, measured from now, left
out). Without rollups, it times the plain runs. It exits 1 too when a report
fails. Speed is never asserted.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.reports_data import SINCE, UNTIL, count_calls, describe, generate, scratch_postgres

__all__ = ["generate"]  # bench/report_export.py and bench/report_startup.py once imported it from here

FORMATS = ("table", "csv", "json", "html")
ZONE = "Europe/Madrid"
#: (label, report, its options): every report with the options a supervisor
#: uses; the first case of each report is the one ``--quick`` runs.
CASES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("calls (every call)", "calls", ()),
    ("summary --by flow", "summary", ("--by", "flow")),
    ("summary --by day", "summary", ("--by", "day")),
    ("inbound --by queue", "inbound", ("--by", "queue")),
    ("inbound --by hour", "inbound", ("--by", "hour")),
    ("fcr --window 24h", "fcr", ("--window", "24h")),
    ("tracking (every caller)", "tracking", ()),
    ("ivr", "ivr", ()),
    ("compliance", "compliance", ()),
    ("agents", "agents", ()),
    ("consolidated queue x day", "consolidated", ("--by", "queue", "--by", "day")),
    ("consolidated agent x int15", "consolidated", ("--by", "agent", "--by", "interval15")),
    ("callbacks --by queue", "callbacks", ("--by", "queue")),
    ("campaign --by day", "campaign", ("--by", "day")),
    ("campaign --by flow", "campaign", ("--by", "flow")),
    ("campaign --by hour", "campaign", ("--by", "hour")),
)
#: Formats ``--quick`` runs.
QUICK_FORMATS = ("table", "csv")


@dataclass
class Timing:
    """The fastest of a case's runs, and its output."""

    wall: float = float("inf")
    cpu: float = float("inf")
    size: int = 0
    output: bytes = b""

    def add(self, wall: float, cpu: float, output: bytes, keep: bool) -> None:
        """One more run; its output is kept when ``keep`` (to compare), else only its size."""
        self.wall, self.cpu = min(self.wall, wall), min(self.cpu, cpu)
        self.size, self.output = len(output), output if keep else b""


@dataclass
class Result:
    label: str
    kind: str
    fmt: str
    raw: Timing = field(default_factory=Timing)
    rollups: Timing | None = None
    failed: str = ""

    @property
    def same(self) -> bool:
        return self.rollups is None or normalised(self.kind, self.fmt, self.raw.output) == \
            normalised(self.kind, self.fmt, self.rollups.output)


# -- the agiflow processes ---------------------------------------------------------

class Agiflow:
    """Runs ``agiflow`` commands of this checkout as processes, in ``folder``
    (never the checkout: ``python -m`` would import the agiflow of the
    working folder)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        self.argv = [sys.executable, "-m", "agi.cli"]

    def works(self, *args: str) -> str | None:
        """The standard output of ``agiflow ARGS``, or None when it fails."""
        done = subprocess.run([*self.argv, *args], cwd=self.folder, env=self.env, capture_output=True, text=True)
        return done.stdout if done.returncode == 0 else None

    def timed(self, *args: str) -> tuple[float, float]:
        """Wall and CPU seconds (user + system) of ``agiflow ARGS``;
        SystemExit with its error output when it fails."""
        started = time.perf_counter()
        process = subprocess.Popen([*self.argv, *args], cwd=self.folder, env=self.env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE)
        assert process.stderr is not None
        errors = process.stderr.read()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        process.stderr.close()
        if process.returncode:
            raise ReportFailed(f"agiflow {' '.join(args)} exited {process.returncode}: "
                               f"{errors.decode(errors='replace').strip()[-500:]}")
        return wall, usage.ru_utime + usage.ru_stime


class ReportFailed(Exception):
    pass


def report_args(kind: str, options: tuple[str, ...], fmt: str, database: str, out: Path) -> list[str]:
    return ["report", kind, "--since", SINCE, "--until", UNTIL, "--tz", ZONE, "--db", database, "--format", fmt,
            "-o", str(out), *options]


#: What changes from one run to the next without the data changing: the
#: moment a report was made, and how long a pending callback has waited until now.
_GENERATED = re.compile(rb'^\s*"generated_at": .*$|<footer>Generated .*?</footer>', re.M)
_PENDING_AGE = {
    "json": (re.compile(rb'"oldest_pending_s": [^,}\n]+'), b'"oldest_pending_s": -'),
    "csv": (re.compile(rb",[^,\r\n]*,[^,\r\n]*(\r?)$", re.M), rb",-,-\1"),  # seconds, then h:mm:ss
    "table": (re.compile(rb"\S+$", re.M), b"-"),
    "html": (re.compile(rb"<td[^>]*>[^<]*</td>(\s*</tr>)"), rb"<td>-</td>\1"),
}


def normalised(kind: str, fmt: str, output: bytes) -> bytes:
    """``output`` without what depends on the moment the report ran."""
    output = _GENERATED.sub(b"", output)
    if kind == "callbacks":
        pattern, replacement = _PENDING_AGE[fmt]
        output = pattern.sub(replacement, output)
    return output


# -- the databases -------------------------------------------------------------------

@contextlib.contextmanager
def bench_database(args: argparse.Namespace, folder: Path, calls: int) -> Iterator[str]:
    """The database to measure: ``--database`` (filled when it holds no
    calls, and kept), a new database on the ``--postgres`` server (dropped
    after), or a SQLite file in ``folder``."""
    if args.database:
        yield args.database
        return
    if not args.postgres:
        yield str(folder / "cdr.db")
        return
    with scratch_postgres(args.postgres, "agiflow_reports_bench") as url:
        yield url


def fill(database: str, calls: int) -> None:
    found = count_calls(database)
    if found:
        print(f"reusing {database.split('@')[-1]}: {found:,} calls already there", flush=True)
        return
    print(f"generating {calls:,} calls ...", flush=True)
    print(f"generated in {generate(database, calls):.1f} s", flush=True)


# -- measuring -------------------------------------------------------------------------

def cases(args: argparse.Namespace) -> list[tuple[str, str, tuple[str, ...]]]:
    from agi.reports import KINDS
    wanted = args.reports.split(",") if args.reports else list(KINDS)
    unknown = sorted(set(wanted) - set(KINDS))
    if unknown:
        raise SystemExit(f"--reports: unknown {', '.join(unknown)}; choose among {', '.join(KINDS)}")
    missing = [kind for kind in KINDS if kind not in {k for _, k, _ in CASES}]
    chosen = [case for case in CASES if case[1] in wanted]
    chosen += [(kind, kind, ()) for kind in missing if kind in wanted]  # a report added since: its defaults
    if args.quick:
        firsts: dict[str, tuple[str, str, tuple[str, ...]]] = {}
        for case in chosen:
            firsts.setdefault(case[1], case)
        chosen = list(firsts.values())
    return chosen


def measure(agiflow: Agiflow, database: str, todo: list[tuple[str, str, tuple[str, ...]]], formats: list[str],
            runs: int, rollups: set[str]) -> list[Result]:
    """Every case in every format, ``runs`` times, the baseline (``--no-rollups``)
    and the rollups' runs in turn, printed as they come."""
    results = []
    out = agiflow.folder / "report.out"
    print_header(bool(rollups))
    for label, kind, options in todo:
        for fmt in formats:
            result = Result(label, kind, fmt)
            with_rollups = kind in rollups
            if with_rollups:
                result.rollups = Timing()
            try:
                for _ in range(runs):
                    extra = ("--no-rollups",) if with_rollups else ()
                    result.raw.add(*agiflow.timed(*report_args(kind, options + extra, fmt, database, out)),
                                   out.read_bytes(), keep=with_rollups)
                    if result.rollups is not None:
                        result.rollups.add(*agiflow.timed(*report_args(kind, options, fmt, database, out)),
                                           out.read_bytes(), keep=True)
            except ReportFailed as exc:
                result.failed = str(exc)
                print(f"{label:<28}{fmt:<7}FAILED: {exc}", flush=True)
                results.append(result)
                continue
            print_row(result)
            results.append(result)
    return results


def print_header(rollups: bool) -> None:
    print(f"\n{'report':<28}{'format':<7}{'raw':>16}{'rollups' if rollups else '':>16}{'ratio' if rollups else '':>7}"
          f"{'output':>10}")
    print(f"{'':<35}{'wall':>8}{'cpu':>8}{'wall' if rollups else '':>8}{'cpu' if rollups else '':>8}"
          f"{'(wall)' if rollups else '':>7}")


def print_row(result: Result) -> None:
    raw, rolled = result.raw, result.rollups
    line = f"{result.label:<28}{result.fmt:<7}{raw.wall:>7.2f}s{raw.cpu:>7.2f}s"
    if rolled is not None:
        line += f"{rolled.wall:>7.2f}s{rolled.cpu:>7.2f}s{raw.wall / max(rolled.wall, 1e-3):>6.1f}x"
    else:
        line += f"{'-':>8}{'-':>8}{'':>7}"
    line += f"{size_text(raw.size):>10}"
    if not result.same:
        line += "  DIFFERENT OUTPUT"
    print(line, flush=True)


def size_text(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


#: The reports that read rollups (docs/database.md#rollups); the others read the calls either way.
READ_ROLLUPS = {"summary", "inbound", "agents", "consolidated", "compliance", "ivr", "campaign"}


def rollup_reports(agiflow: Agiflow, kinds: list[str]) -> set[str]:
    """The reports that read rollups, when ``agiflow db rollups`` exists; else none."""
    if agiflow.works("db", "rollups", "--help") is None:
        return set()
    return {kind for kind in kinds if kind in READ_ROLLUPS
            and "--no-rollups" in (agiflow.works("report", kind, "--help") or "")}


def _seconds(value: float) -> float | None:
    """A time for JSON: None for a case that failed before any run ended."""
    return round(value, 4) if value != float("inf") else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", metavar="DB", help="a SQLite file or a postgresql:// URL to measure: filled "
                        "with --calls calls when it holds none, and kept (default: a temporary SQLite file)")
    parser.add_argument("--postgres", metavar="URL", help="without --database: a PostgreSQL server (a URL of a "
                        "database there) on which to create a temporary database, dropped at the end")
    parser.add_argument("--calls", type=int, default=None, help="calls to generate (default 1,000,000; quick 100,000)")
    parser.add_argument("--runs", type=int, default=None, help="runs of each case, the fastest counts (default 2; "
                        "quick 1)")
    parser.add_argument("--reports", metavar="A,B", help="only these reports (default: every one)")
    parser.add_argument("--formats", metavar="F,G", help=f"only these formats (default: {','.join(FORMATS)}; "
                        f"quick {','.join(QUICK_FORMATS)})")
    parser.add_argument("--quick", action="store_true", help="100,000 calls, one case per report, table and CSV, "
                        "one run (make bench)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args()
    calls = args.calls or (100_000 if args.quick else 1_000_000)
    runs = args.runs or (1 if args.quick else 2)
    formats = args.formats.split(",") if args.formats else list(QUICK_FORMATS if args.quick else FORMATS)
    if set(formats) - set(FORMATS):
        raise SystemExit(f"--formats: choose among {', '.join(FORMATS)}")
    todo = cases(args)
    with tempfile.TemporaryDirectory(prefix="agiflow-reports-") as tmp, \
            bench_database(args, Path(tmp), calls) as database:
        fill(database, calls)
        agiflow = Agiflow(Path(tmp))
        print(f"{describe(database)}; Python {sys.version.split()[0]}; load {os.getloadavg()[0]:.2f}; "
              f"{runs} run(s) a case, the fastest counts", flush=True)
        rollups = rollup_reports(agiflow, sorted({kind for _, kind, _ in todo}))
        if rollups:
            try:
                agiflow.timed("db", "upgrade", "--database", database)  # a database generated by an older agiflow
                wall, cpu = agiflow.timed("db", "rollups", "--rebuild", "--database", database)
            except ReportFailed as exc:
                print(f"rollups could not be rebuilt: {exc}")
                return 1
            print(f"rollups rebuilt in {wall:.1f} s (CPU {cpu:.1f} s); reports that read them: "
                  f"{', '.join(sorted(rollups))}", flush=True)
        else:
            print("no rollups in this agiflow (`agiflow db rollups`): plain runs only", flush=True)
        results = measure(agiflow, database, todo, formats, runs, rollups)
    failed = [r for r in results if r.failed or not r.same]
    if args.json:
        Path(args.json).write_text(json.dumps([{
            "report": r.label, "kind": r.kind, "format": r.fmt, "raw_wall_s": _seconds(r.raw.wall),
            "raw_cpu_s": _seconds(r.raw.cpu), "rollups_wall_s": _seconds(r.rollups.wall) if r.rollups else None,
            "rollups_cpu_s": _seconds(r.rollups.cpu) if r.rollups else None, "output_bytes": r.raw.size,
            "same": r.same, "failed": r.failed or None,
        } for r in results], indent=2) + "\n", encoding="utf-8")
    if failed:
        print(f"\n{len(failed)} case(s) failed or gave a different output: "
              + ", ".join(f"{r.label} {r.fmt}" for r in failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
