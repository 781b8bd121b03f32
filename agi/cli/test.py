"""``agiflow test``: run the flow test cases of ``*.tests.yaml`` files."""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import NoReturn

import click

from agi.wording import counted
from agi.cli.common import FileName, config_option, configured_flows, get_config
from agi.loading.loader import load_flows
from agi.engine.model import FlowSet
from agi.config import Config
from agi.flowtest.loader import find_case_files, load_case_files
from agi.flowtest.model import Case
from agi.flowtest.runner import CaseResult, run_cases, select
from agi.services import Services
from agi.safe_text import escaped_text
from agi.services_from_config import simulation_settings

#: Exit status when a test file or a flow is invalid, or nothing is to run.
INVALID = 2


def _run_quietly(cases: list[Case], flows: FlowSet, base: Services, config: Config, verbose: bool) -> list[CaseResult]:
    """The cases' results. The warnings of their calls (a list a case makes
    unavailable...) reach stderr only with ``verbose``: with no handler they
    went out through Python's last resort, tied to no case, in every run."""
    handler = logging.StreamHandler(sys.stderr) if verbose else logging.NullHandler()
    handler.setLevel(logging.WARNING)
    logger = logging.getLogger("agiflow")
    logger.addHandler(handler)
    try:
        return run_cases(cases, flows, base, simulation_settings(config))
    finally:
        logger.removeHandler(handler)


@click.command("test")
@click.argument("paths", nargs=-1, type=FileName(readable=False))  # file:1: reason, exit 1
@click.option("-k", "patterns", multiple=True, metavar="PATTERN",
              help="Run only the cases whose file::name contains PATTERN (case-insensitive); "
                   "give -k more than once to run the cases matching any of them.")
@click.option("--flows", "flows_path", type=FileName(), default=None,
              help="Flows folder (or file) the cases run against (default: the configured flows folder).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("-v", "--verbose", is_flag=True,
              help="Print the path and the AGI commands of every case, and the log lines of its call on stderr.")
@config_option
def test(paths: tuple[str, ...], patterns: tuple[str, ...], flows_path: str | None, fmt: str,
         verbose: bool, config_path: str | None) -> None:
    """Run flow test cases: each case simulates one call and checks its path,
    CDR, variables and commands.

    PATHS are test files (*.tests.yaml) or folders searched for them
    (default: the configured flows folder). Exits 0 when every case passes,
    1 when any fails, 2 when a test file or a flow is invalid or no case is
    found.
    """
    config = get_config(config_path)
    flows = _load_flows(flows_path or configured_flows(config))
    files = find_case_files(paths or [configured_flows(config)])
    if not files:
        _fail(f"{', '.join(paths or [configured_flows(config)])}: no test files (*.tests.yaml) found")
    cases, errors = load_case_files(files, flows, config.default_region)
    if errors:
        _fail(*map(str, errors), f"{counted(len(errors), 'error')} in test files")
    chosen = select(cases, patterns)
    if not chosen:
        _fail(f"no case matches -k {' -k '.join(patterns)} ({counted(len(cases), 'case')} found)")
    # Settings only: each case brings its own lists, overrides, callbacks and
    # webhooks, so no case reads the database or the network.
    base = Services(recordings=config.recordings, default_region=config.default_region)
    results = _run_quietly(chosen, flows, base, config, verbose)
    deselected = len(cases) - len(chosen)
    if fmt == "json":
        click.echo(json.dumps(_as_json(results, deselected), indent=2, default=str))
    else:
        click.echo(render_text(results, deselected, verbose), nl=False)
    sys.exit(0 if all(r.passed for r in results) else 1)


def _load_flows(path: str) -> FlowSet:
    if not Path(path).exists():
        _fail(f"{path}: no such flows folder (give one with --flows or in the config's 'flows')")
    given = Path(path)
    # a file runs with the flows and schedules beside it, as simulate runs one
    flows, errors = load_flows([given, given.parent] if given.is_file() else [given])
    if errors:
        _fail(*map(str, errors), f"the flows in {path} are invalid: no case was run")
    if not flows.flows:
        _fail(f"{path}: no flow files (*.yaml, *.yml) found")
    return flows


def _fail(*lines: str) -> NoReturn:
    for line in lines:
        click.echo(line, err=True)
    sys.exit(INVALID)


def _as_json(results: list[CaseResult], deselected: int) -> dict[str, object]:
    passed = sum(r.passed for r in results)
    return {"passed": passed, "failed": len(results) - passed, "deselected": deselected,
            "cases": [r.as_dict() for r in results]}


def render_text(results: list[CaseResult], deselected: int, verbose: bool) -> str:
    """One line per case as pytest writes them, the mismatches under a
    failed case, and a summary line; what is not printable in a line (a
    file or case name may be an escape sequence) is written escaped."""
    lines: list[str] = []
    for result in results:
        lines.append(f"{result.case.id} {'PASSED' if result.passed else 'FAILED'}")
        if result.error:
            lines.append(f"    {result.case.file}:{result.case.line}: {result.error}")
        for mismatch in result.mismatches:
            lines.extend("    " + line for line in str(mismatch).splitlines())
        if verbose and result.observed is not None:
            lines.append("    path: " + (" > ".join(result.observed.path) or "(no step ran)"))
            lines.append("    commands:")
            lines.extend(f"      {command}" for command in result.observed.commands)
    failed = sum(not r.passed for r in results)
    counts = [f"{failed} failed"] if failed else []
    counts.append(f"{len(results) - failed} passed")
    if deselected:
        counts.append(f"{deselected} deselected")
    return "\n".join([*map(escaped_text, lines), "", ", ".join(counts)]) + "\n"
