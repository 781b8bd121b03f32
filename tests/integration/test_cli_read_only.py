"""``agiflow`` commands on a read-only database, as real processes: commands
that only read work, commands that write (and ``serve``) refuse in one line.

Root writes any file whatever its mode, so as root the commands run with the
capabilities that let root ignore file modes dropped (``setpriv``): the file
is then read-only to them as it is to any other user.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cdr_builder import CdrBuilder

from agi.lists.admin import ListAdmin
from agi.lists.numbers import Normaliser

REPO = Path(__file__).resolve().parents[2]
DROP = "-dac_override,-dac_read_search,-fowner"

READING = {
    "lists show": ["lists", "show"],
    "lists check": ["lists", "check", "vip", "600111222"],
    "lists export": ["lists", "export", "vip"],
    "report summary": ["report", "summary"],
    "callbacks list": ["callbacks", "list"],
    "schedule list": ["schedule", "list"],
    "simulate": ["simulate", "support", "--caller", "600111222"],
}
WRITING = {
    "lists create": ["lists", "create", "robinson"],
    "lists add": ["lists", "add", "vip", "600111223"],
    "lists remove": ["lists", "remove", "vip", "600111222"],
    "lists delete": ["lists", "delete", "vip", "--yes"],
    "lists import": ["lists", "import", "vip", "numbers.csv"],
    "callbacks done": ["callbacks", "done", "1"],
    "schedule override": ["schedule", "override", "office_hours", "open", "--until", "2h"],
    "schedule clear": ["schedule", "clear", "office_hours"],
    "serve": ["serve", "--port", "0"],
}


def _as_unprivileged() -> list[str]:
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: a file mode cannot make a file read-only")
    return [setpriv, f"--bounding-set={DROP}", f"--inh-caps={DROP}"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with the CDR tables, a list and nothing else, then read-only."""
    return make_project(tmp_path_factory.mktemp("read_only"))


def make_project(folder: Path) -> Path:
    shutil.copytree(REPO / "flows", folder / "flows")
    (folder / "numbers.csv").write_text("600111224\n", encoding="utf-8")
    (folder / "config.yaml").write_text(json.dumps({"database": "var/agiflow.db", "flows": "flows"}))
    (folder / "var").mkdir()
    database = folder / "var" / "agiflow.db"
    CdrBuilder(database).close()
    with ListAdmin(database) as admin:
        admin.add("vip", Normaliser("ES").entry("600111222"))
    database.chmod(0o444)
    return folder


def agiflow(project: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.run([*_as_unprivileged(), sys.executable, "-c", "from agi.cli.main import main; main()", *args, "-c", "config.yaml"],
                          cwd=project, env=env, capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("command", READING)
def test_commands_that_only_read_work_on_a_read_only_database(project: Path, command: str) -> None:
    result = agiflow(project, READING[command])
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", WRITING)
def test_commands_that_write_refuse_a_read_only_database_in_one_line(project: Path, command: str) -> None:
    result = agiflow(project, WRITING[command])
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr == f"error: the database {project / 'var' / 'agiflow.db'} is read-only\n"


def test_a_database_in_a_read_only_folder_is_one_line_saying_so(tmp_path: Path) -> None:
    """SQLite creates FILE-shm beside a WAL database to read it: in a
    read-only folder where it is not already, the database cannot be opened."""
    project = make_project(tmp_path)
    assert not (project / "var" / "agiflow.db-shm").exists()
    (project / "var").chmod(0o555)
    try:
        result = agiflow(project, ["lists", "show"])
    finally:
        (project / "var").chmod(0o755)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: the database {project / 'var' / 'agiflow.db'} cannot be opened")
    assert "its folder is read-only" in line


@pytest.fixture(scope="module")
def immutable_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The database made immutable (``chattr +i``): how root makes a file
    read-only to itself."""
    if os.geteuid() != 0 or shutil.which("chattr") is None:
        pytest.skip("chattr +i needs root and e2fsprogs")
    project = make_project(tmp_path_factory.mktemp("chattr"))
    database = project / "var" / "agiflow.db"
    database.chmod(0o644)
    if subprocess.run(["chattr", "+i", str(database)], capture_output=True).returncode:
        pytest.skip("this file system has no immutable attribute")
    yield project
    subprocess.run(["chattr", "-i", str(database)], check=False)


@pytest.mark.parametrize("command", READING)
def test_commands_that_only_read_work_on_an_immutable_database(immutable_project: Path, command: str) -> None:
    """`lists check`, `schedule list` and the lists `simulate` reads refused
    a database file made immutable (`cannot read number list 'vip': ... is
    immutable (chattr +i)`), though reading it is safe: only its -shm file
    is mapped, and that one is not immutable."""
    result = subprocess.run([sys.executable, "-c", "from agi.cli.main import main; main()", *READING[command],
                             "-c", "config.yaml"], cwd=immutable_project, capture_output=True, text=True, timeout=30,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr
    assert "immutable" not in result.stdout + result.stderr
    if command == "lists check":
        assert result.stdout == "+34600111222: listed in vip by entry +34600111222\n"


def test_a_simulation_reads_the_lists_of_an_immutable_database(immutable_project: Path) -> None:
    """Its lookups took `error` (the file is immutable) and its schedules ran
    without their overrides."""
    result = subprocess.run([sys.executable, "-c", "from agi.cli.main import main; main()", "simulate",
                             "customer_care", "--caller", "600111222", "--at", "2025-03-10T09:30:00+01:00",
                             "--dtmf", "1,2", "-c", "config.yaml"], cwd=immutable_project, capture_output=True,
                            text=True, timeout=30, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr
    assert "immutable" not in result.stdout + result.stderr
    assert " > vip:found > " in result.stdout
