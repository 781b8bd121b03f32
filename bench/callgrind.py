"""Instructions a call, counted with valgrind's callgrind (repeatable
whatever else the machine does): a benchmark script run under valgrind for
many calls and for a few, the difference divided by the calls between."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable


def per_call(script: str | Path, arguments: Callable[[int], list[str]], calls: int, base: int) -> float:
    """Instructions per call of ``script`` run with ``arguments(n)`` for
    ``calls`` and for ``base`` calls (what both pay once cancels out)."""
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    return (instructions(script, arguments(calls)) - instructions(script, arguments(base))) / (calls - base)


def instructions(script: str | Path, arguments: list[str]) -> int:
    """Instructions one run of ``script`` with ``arguments`` executed."""
    argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, str(script),
            *arguments]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise SystemExit(f"no instruction count in valgrind's output:\n{done.stderr[-2000:]}")
    return int(found.group(1))
