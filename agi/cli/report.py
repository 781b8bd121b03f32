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

from agi.cli.common import (DATABASE, CliError, FileName, LazyGroup, checked_database, config_option, count_type,
                             dash_is_stdout, get_config, refuse_database_output)
from agi.cli.database import Need
from agi.cli.output_file import output_file
from agi.reports import BY_CALLER, MEASURED, open_report
from agi.reports.callbacks import CALLBACK_GROUPS
from agi.reports.callers import FCR_GROUPS, MAX_FCR_WINDOW_HOURS
from agi.reports.campaign import CAMPAIGN_GROUPS
from agi.reports.consolidated import CONSOLIDATED_GROUPS, DEFAULT_BY
from agi.reports.model import Filters
from agi.reports.overview import INBOUND_GROUPS, SUMMARY_GROUPS
from agi.reports.queries import OUTCOMES
from agi.reports.render import CSV_DIALECTS, FORMATS, write
from agi.reports.default_zone import default_zone_name
from agi.reports.timerange import TimeError, moment, range_problem, zone
from agi.vocabulary import STATUSES

F = TypeVar("F", bound=Callable[..., Any])

#: The most --flow-version values (each is one more OR in the query: SQLite
#: refuses an expression more than 1,000 deep, which 999 of them made).
MAX_FLOW_VERSIONS = 100


def _versions(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    """--flow-version values, checked: 4 to 40 hex digits each, at most MAX_FLOW_VERSIONS."""
    if len(values) > MAX_FLOW_VERSIONS:
        raise click.BadParameter(f"{len(values)} flow versions given; at most {MAX_FLOW_VERSIONS}")
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
    click.option("--caller", metavar="NUMBER", help="Only this caller, however the number was written "
                 "(+34600111222, 0034600111222 and, with default_region ES, 600111222 are one), or a caller "
                 "ID as written (anonymous); NUMBER* for a prefix (600* is +34600* in ES)."),
    click.option("--tz", "tz_name", metavar="ZONE", help="Time zone for dates, days and hours "
                 "(IANA name, e.g. Europe/Madrid; default: reports.timezone in the config, else the "
                 "flows' timezone when they all agree, else UTC)."),
    click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True),
    click.option("-o", "--output", type=FileName(allow_dash=True), default=None, callback=dash_is_stdout,
                 help="Write to FILE instead of standard output ('-': standard output)."),
    click.option("--csv-dialect", type=click.Choice(CSV_DIALECTS), default="standard", show_default=True,
                 help="excel: for spreadsheets that use a decimal comma (UTF-8 BOM, ';' between cells, 12,5)."),
    click.option("--width", type=click.IntRange(min=0), default=None,
                 help="Width of the table (default: the terminal's, else 80; 0: no limit)."),
    click.option("--db", "database", type=DATABASE, default=None, metavar="DATABASE",
                 help="CDR database (default: `database` from the config)."),
    click.option("--no-rollups", "no_rollups", is_flag=True,
                 help="Count every call from the calls table, not from the rollups (slower; the same figures)."),
    config_option,
]


def common_options(fn: F) -> F:
    for option in reversed(_COMMON):
        fn = option(fn)
    return fn


@click.group(cls=LazyGroup, lazy={"import-queue-log": "agi.cli.queue_log:import_queue_log"})
def report() -> None:
    """Supervisor reports over the CDRs.

    Each command below is one report; each takes --since, --until, --flow,
    --flow-version, --caller, --tz, --format and -o. Definitions: docs/reports.md.
    import-queue-log is no report: it fills CDR columns from Asterisk's queue_log."""


def _run(kind: str, common: dict[str, Any], **options: Any) -> None:
    if common["csv_dialect"] != "standard" and common["fmt"] != "csv":  # march.csv would hold a table
        raise click.BadParameter(f"{common['csv_dialect']} is for --format csv, not {common['fmt']}: "
                                 "give --format csv", param_hint="'--csv-dialect'")
    config = get_config(common["config_path"])
    given_tz = common["tz_name"]  # "" (an unset shell variable) is refused, never the default
    tz, tz_name = _call(zone, given_tz if given_tz is not None else
                        default_zone_name(config.reports.timezone, config.flows), param="--tz")
    now = datetime.now(timezone.utc)
    since = _call(moment, common["since"], now, tz, param="--since") if common["since"] is not None else None
    until = _call(moment, common["until"], now, tz, end=True, param="--until") \
        if common["until"] is not None else None
    problem = range_problem(since, until)
    if problem:
        raise CliError(problem, code=2)
    filters = Filters(since, until, tuple(common["flows"]), common["caller"], tz, tz_name,
                      tuple(common["flow_versions"]), config.default_region)
    database = checked_database(common["database"] if common["database"] is not None else config.database,
                                Need.READ, configured=common["database"] is None)
    fmt, output = common["fmt"], common["output"]
    refuse_database_output(output)
    if kind in MEASURED:
        options["thresholds"] = config.reports.thresholds
    if kind in BY_CALLER:
        options["region"] = config.default_region
    with open_report(database, kind, filters, now, charts=fmt == "html", rollups=not common["no_rollups"],
                     **options) as built, \
            output_file(output) as out:  # ReportError: one line
        write(built, fmt, out, _width(common["width"], output), common["csv_dialect"])


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
@click.option("--limit", type=count_type(1), default=None, help="At most N calls, newest first.")
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
@click.option("--window", default="24h", show_default=True, metavar="TIME",
              help="A call again is one within this time after the caller's first call: 24h, 48h, 2d, 90m or a "
                   "number of hours; more than 0, at most 366d.")
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
    if not 0 < hours <= MAX_FCR_WINDOW_HOURS:  # also NaN; infinity and 1e300h are too long
        raise click.BadParameter(f"{text!r}: give a time more than 0 and at most {MAX_FCR_WINDOW_HOURS // 24}d, "
                                 "such as 24h, 48h, 2d, 90m or 36", param_hint="--window")
    return hours


@report.command()
@common_options
@click.option("--min-calls", type=count_type(1), default=1, show_default=True,
              help="Only callers with at least N calls (2: repeat callers).")
@click.option("--limit", type=count_type(1), default=None, help="At most N callers, most calls first.")
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




@report.command()
@common_options
def agents(**common: Any) -> None:
    """Per agent and queue: answered calls, talk time, ACD, AHT and share of the queue's calls."""
    _run("agents", common)


@report.command()
@common_options
@click.option("--by", "by", type=click.Choice(CONSOLIDATED_GROUPS), multiple=True,
              help=f"A grouping; give one or two (default: --by {' --by '.join(DEFAULT_BY)}).")
def consolidated(by: tuple[str, ...], **common: Any) -> None:
    """Every contact-center figure crossed by one or two groupings: queue, agent, flow, outcome, day,
    weekday, hour or 15, 30, 60-minute intervals."""
    if len(by) > 2 or len(set(by)) != len(by):
        raise click.BadParameter("give one or two different groupings", param_hint="--by")
    _run("consolidated", common, by=by or DEFAULT_BY)


@report.command()
@common_options
@click.option("--by", type=click.Choice(CALLBACK_GROUPS), default="queue", show_default=True)
def callbacks(by: str, **common: Any) -> None:
    """Callback requests made: requested, done, cancelled, pending, time to callback."""
    _run("callbacks", common, by=by)


@report.command()
@common_options
@click.option("--by", type=click.Choice(CAMPAIGN_GROUPS), default="flow", show_default=True)
def campaign(by: str, **common: Any) -> None:
    """Outbound legs: attempts, blocked by a list or by the hours, dialled, answered, ASR."""
    _run("campaign", common, by=by)
