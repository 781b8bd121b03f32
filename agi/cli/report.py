"""``agiflow report KIND``: the supervisor reports over the CDR database.

Thin: parses the options, runs ``agi.reports.run_report`` and writes the
result with ``agi.reports.render``. Definitions are in docs/reports.md.
"""
from __future__ import annotations

import re
import shutil
import sys
from datetime import datetime, timezone
from typing import Any, Callable, TypeVar

import click

from agi.db.location import parse_database
from agi.cli.common import CliError, checked_database, config_option, get_config
from agi.cli.database import Need
from agi.reports import BY_CALLER, MEASURED, run_report
from agi.reports.callers import FCR_GROUPS
from agi.reports.model import Filters
from agi.reports.overview import INBOUND_GROUPS, SUMMARY_GROUPS
from agi.reports.queries import OUTCOMES
from agi.reports.render import FORMATS, render
from agi.reports.default_zone import default_zone_name
from agi.reports.timerange import TimeError, moment, range_problem, zone
from agi.vocabulary import STATUSES

F = TypeVar("F", bound=Callable[..., Any])

def _versions(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    """--flow-version values, checked: 4 to 40 hex digits each."""
    for value in values:
        if not re.fullmatch(r"[0-9a-fA-F]{4,40}", value):
            raise click.BadParameter(f"{value!r}: a flow version is 4 to 40 hex digits, as `agiflow status` "
                                     "or the calls report shows it")
    return tuple(value.lower() for value in values)


_COMMON = [
    click.option("--since", metavar="WHEN", help="Calls that started at or after WHEN: 2025-03-10, "
                 "2025-03-10T09:30, 7d, 24h, 30m, 2w, today, yesterday, now."),
    click.option("--until", metavar="WHEN", help="Calls that started before WHEN; a date includes "
                 "that whole day."),
    click.option("--flow", "flows", metavar="NAME", multiple=True, help="Only this flow (repeat for several)."),
    click.option("--flow-version", "flow_versions", metavar="VERSION", multiple=True, callback=_versions,
                 help="Only calls that ran this flow version (its first hex digits are "
                 "enough; repeat for several)."),
    click.option("--caller", metavar="NUMBER", help="Only this caller; NUMBER* for a prefix."),
    click.option("--tz", "tz_name", metavar="ZONE", help="Time zone for dates, days and hours "
                 "(IANA name, e.g. Europe/Madrid; default: reports.timezone in the config, else the "
                 "flows' timezone when they all agree, else UTC)."),
    click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True),
    click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
                 help="Write to FILE instead of standard output."),
    click.option("--width", type=click.IntRange(min=0), default=None,
                 help="Width of the table (default: the terminal's, else 80; 0: no limit)."),
    click.option("--db", "database", type=click.Path(), default=None,
                 help="CDR database (default: `database` from the config)."),
    config_option,
]


def common_options(fn: F) -> F:
    for option in reversed(_COMMON):
        fn = option(fn)
    return fn


@click.group()
def report() -> None:
    """Supervisor reports over the CDRs.

    Each command below is one report; each takes --since, --until, --flow,
    --flow-version, --caller, --tz, --format and -o. Definitions: docs/reports.md."""


def _run(kind: str, common: dict[str, Any], **options: Any) -> None:
    config = get_config(common["config_path"])
    tz, tz_name = _call(zone, common["tz_name"] or default_zone_name(config.reports.timezone, config.flows),
                        param="--tz")
    now = datetime.now(timezone.utc)
    since = _call(moment, common["since"], now, tz, param="--since") if common["since"] else None
    until = _call(moment, common["until"], now, tz, end=True, param="--until") if common["until"] else None
    problem = range_problem(since, until)
    if problem:
        raise CliError(problem, code=2)
    filters = Filters(since, until, tuple(common["flows"]), common["caller"], tz, tz_name,
                      tuple(common["flow_versions"]))
    database = checked_database(parse_database(common["database"]) if common["database"] else config.database,
                                Need.READ)
    fmt, output = common["fmt"], common["output"]
    if kind in MEASURED:
        options["thresholds"] = config.reports.thresholds
    if kind in BY_CALLER:
        options["region"] = config.default_region
    result = run_report(database, kind, filters, now, charts=fmt == "html", **options)  # ReportError: one line
    text = render(result, fmt, _width(common["width"], output))
    if output:
        with open(output, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
    else:
        click.echo(text, nl=False)


def _call(fn: Callable[..., Any], *args: Any, param: str, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except TimeError as exc:
        raise click.BadParameter(str(exc), param_hint=param) from None


def _width(requested: int | None, output: str | None) -> int | None:
    if requested is not None:
        return requested or None
    if output is None and sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return 80


@report.command()
@common_options
@click.option("--status", "statuses", type=click.Choice(STATUSES), multiple=True,
              help="Only calls with this status (repeat for several), e.g. interrupted.")
@click.option("--outcome", "outcomes", type=click.Choice(OUTCOMES), multiple=True,
              help="Only calls with this outcome (repeat for several).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most N calls, newest first.")
def calls(statuses: tuple[str, ...], outcomes: tuple[str, ...], limit: int | None, **common: Any) -> None:
    """The call log, newest first: time, caller, flow, path, outcome, wait, duration..."""
    _run("calls", common, statuses=statuses, outcomes=outcomes, limit=limit)


@report.command()
@common_options
@click.option("--by", type=click.Choice(SUMMARY_GROUPS), default="flow", show_default=True)
def summary(by: str, **common: Any) -> None:
    """Counts and durations grouped by flow, flow version, outcome, status, queue, day or hour."""
    _run("summary", common, by=by)


@report.command()
@common_options
@click.option("--by", type=click.Choice(INBOUND_GROUPS), default="flow", show_default=True)
def inbound(by: str, **common: Any) -> None:
    """DUR, ACD and ASR per flow, flow version, queue, day or hour."""
    _run("inbound", common, by=by)


@report.command()
@common_options
@click.option("--window", default="24h", show_default=True, metavar="HOURS",
              help="A repeat call within this time of the previous one: 24h, 48h, 2d, or hours.")
@click.option("--by", type=click.Choice(FCR_GROUPS), default="flow", show_default=True)
def fcr(window: str, by: str, **common: Any) -> None:
    """First-call resolution: contacts whose caller did not call again within the window."""
    _run("fcr", common, window_hours=_hours(window), by=by)


def _hours(text: str) -> float:
    value = text.strip().lower()
    scale = {"h": 1.0, "d": 24.0, "m": 1 / 60}.get(value[-1:], None)
    try:
        hours = float(value[:-1]) * scale if scale else float(value)
    except ValueError:
        hours = 0
    if hours <= 0:
        raise click.BadParameter(f"{text!r}: give a time such as 24h, 48h, 2d or 36", param_hint="--window")
    return hours


@report.command()
@common_options
@click.option("--min-calls", type=click.IntRange(min=1), default=1, show_default=True,
              help="Only callers with at least N calls (2: repeat callers).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most N callers, most calls first.")
def tracking(min_calls: int, limit: int | None, **common: Any) -> None:
    """Per caller: attempts, answered, waits, talk time, last call and outcome."""
    _run("tracking", common, min_calls=min_calls, limit=limit)


@report.command()
@common_options
def ivr(**common: Any) -> None:
    """Choice distribution per menu, with timeouts and invalid entries."""
    _run("ivr", common)


@report.command()
@common_options
def compliance(**common: Any) -> None:
    """Do-not-call hits by list, recording consent answers, recordings made, blocked callers."""
    _run("compliance", common)
