"""The package type checks with ``mypy --strict`` (mypy.ini) and passes the
lint rules of ruff.toml: both run with the rest of the suite."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_package_type_checks_with_mypy_strict() -> None:
    config = (ROOT / "mypy.ini").read_text(encoding="utf-8")
    assert "strict = True" in config
    run = subprocess.run([sys.executable, "-m", "mypy", "agi"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_code_the_tests_and_the_benchmarks_pass_ruff() -> None:
    run = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "agi", "tests", "bench"],
                         cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
