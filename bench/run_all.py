"""Run every benchmark in bench/ in quick mode (``make bench``).

Each benchmark is a script ``bench/<name>.py`` that accepts ``--quick``,
prints its own table and exits non-zero when a correctness check fails
(speed is reported, never asserted). The exit status is the number of
benchmarks that failed.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
#: The benchmarks, in the order they run; docs/benchmarks.md has a section on each.
BENCHMARKS = ("cdr_stall", "reports_bench", "lists_bench", "compare", "fleet", "soak", "inprocess", "postgres_bench",
              "report_startup", "report_export", "rollups_bench", "writer_calls")


def main() -> int:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    failed = []
    for name in BENCHMARKS:
        print(f"== bench/{name}.py --quick", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, str(HERE / f"{name}.py"), "--quick"], cwd=ROOT, env=env)
        print(f"== {name}: exit status {code} after {time.monotonic() - started:.0f} s\n", flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return len(failed)


if __name__ == "__main__":
    sys.exit(main())
