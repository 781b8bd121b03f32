"""The package stays mypy clean (house style), checked like any other test."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_package_type_checks_with_mypy() -> None:
    run = subprocess.run([sys.executable, "-m", "mypy", "agi"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
