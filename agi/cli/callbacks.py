"""``agiflow callbacks``: the callback requests callers left, for the dialer
or the agents who call back. Reads and updates the ``callbacks`` table
while the server runs (SQLite's WAL, or PostgreSQL)."""
from __future__ import annotations

import csv
import io
import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import click

from agi.config import Config
from agi.dialer.callbacks import DialSettings, channel_problem, dial_callbacks, without_listed
from agi.dialer.callfiles import CallFileError, unreadable
from agi.hours.evaluate import state_at
from agi.hours.model import OPEN
from agi.loading.loader import load_schedules
from agi.services import OverridesUnavailable
from agi.storage.callbacks import CANCELLED, DONE, PENDING, SHOWN_COLUMNS, CallbackBook
from agi.storage.overrides import simulation_overrides
from agi.storage.stores import callback_book, number_lists
from agi.wording import counted
from agi.cli.output_file import output_file
from agi.cli.common import (ROW_ID, FileName, config_option, dash_is_stdout, get_database, refuse_database_output,
                            schedules_folder)
from agi.cli.database import Need
from agi.reports.timerange import TimeError, moment, sql_time, system_zone
from agi.safe_text import terminal_text

#: Columns ``list`` shows, in order.
LIST_COLUMNS = ("id", "requested_at", "number", "caller", "queue", "reason", "flow", "status", "done_at", "note")

status_option = click.option(
    "--status", type=click.Choice([PENDING, DONE, CANCELLED, "all"]), default=PENDING, show_default=True,
    help="Which requests: pending (still to call), done, cancelled, or all.")
since_option = click.option(
    "--since", default=None, metavar="WHEN",
    help="Only requests made at or after WHEN: a date (2025-03-10, local midnight), an ISO time, "
         "7d / 24h / 30m / 2w ago, today, yesterday or now.")


def now() -> datetime:
    """The current time; tests replace it."""
    return datetime.now(timezone.utc)


@click.group()
def callbacks() -> None:
    """Callback requests: left by callers (the callback step) or made for
    missed calls (a queue's callback option).

    List them, export them, dial them through Asterisk call files, and mark
    them done or cancelled.
    """


def _book(config_path: str | None, need: Need) -> CallbackBook:
    return callback_book(get_database(config_path, need)[1])


def _since(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return sql_time(moment(text, now(), system_zone()[0]))
    except TimeError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None


def _requests(config_path: str | None, status: str, since: str | None) -> list[dict[str, Any]]:
    return _book(config_path, Need.READ).requests(None if status == "all" else status, _since(since))


@callbacks.command("list")
@status_option
@since_option
@config_option
def list_requests(status: str, since: str | None, config_path: str | None) -> None:
    """Print callback requests as a table, oldest first."""
    rows = _requests(config_path, status, since)
    if not rows:
        click.echo(f"no {'' if status == 'all' else status + ' '}callback requests")
        return
    click.echo(table(rows, LIST_COLUMNS))


@callbacks.command("export")
@click.option("-o", "--output", type=FileName(allow_dash=True), default=None, callback=dash_is_stdout,
              help="Write to FILE instead of standard output ('-': standard output).")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@status_option
@since_option
@click.option("--dnc", multiple=True, default=("robinson",), show_default=True, metavar="LIST",
              help="Do-not-call list each pending request's number is checked against; repeat for several.")
@click.option("--no-dnc", is_flag=True, help="Check no list: every request as stored (not for a dialer).")
@config_option
def export(output: str | None, fmt: str, status: str, since: str | None, dnc: tuple[str, ...], no_dnc: bool,
           config_path: str | None) -> None:
    """Export callback requests, every column, as CSV or JSON.

    A pending request whose number a --dnc list holds is left out, and
    said so on standard error; a list that cannot be read writes nothing
    and exits 1.
    """
    config, database = get_database(config_path, Need.READ)
    rows = callback_book(database).requests(None if status == "all" else status, _since(since))
    refuse_database_output(output)
    if not no_dnc:
        lists = number_lists(database, config.default_region)
        try:
            rows, lines, failed = without_listed(rows, lists, tuple(dnc))
        finally:
            lists.close()
        for line in lines:
            click.echo(line, err=True)
        if failed:
            raise click.ClickException("nothing exported: a number that could not be checked must not reach a dialer")
    text = as_csv(rows) if fmt == "csv" else json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    with output_file(output) as handle:  # a failed write leaves the last export as it was
        handle.write(text)
    click.echo(f"{counted(len(rows), 'callback request')} written to {output}", err=True)


def _close(request_id: int, status: str, note: str | None, config_path: str | None) -> None:
    row = _book(config_path, Need.UPDATE).close(request_id, status, sql_time(now()), note)  # CallbackError: one line, exit 1
    click.echo(f"callback request {row['id']} ({row['number']}) is {row['status']}")


@callbacks.command("done")
@click.argument("request_id", metavar="ID", type=ROW_ID)
@click.option("--note", default=None, help="A note for the record (who called, what came of it).")
@config_option
def done(request_id: int, note: str | None, config_path: str | None) -> None:
    """Mark pending request ID done (the caller was called back)."""
    _close(request_id, DONE, note, config_path)


@callbacks.command("cancel")
@click.argument("request_id", metavar="ID", type=ROW_ID)
@click.option("--note", default=None, help="Why it was cancelled.")
@config_option
def cancel(request_id: int, note: str | None, config_path: str | None) -> None:
    """Cancel pending request ID (it will not be called back)."""
    _close(request_id, CANCELLED, note, config_path)


def _one_line(_ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A value written into a call file: a line break in it, or a ``#``
    Asterisk would read as a comment's start, is a usage error."""
    problem = unreadable(value)
    if problem:
        raise click.BadParameter(f"{value!r} {problem}", param_hint=f"--{param.name}")
    return value


def _dialplan_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """``--context`` or ``--extension``: a call file without one is refused
    by Asterisk (or rings the customer into an empty context)."""
    if not value.strip():
        raise click.BadParameter("empty: the answered call needs a dialplan context and extension to run",
                                 param_hint=f"--{param.name}")
    return _one_line(ctx, param, value)


@callbacks.command("dial")
@click.option("--spool", required=True, type=FileName(file_okay=False, path_type=Path),
              help="Asterisk's outgoing spool folder, e.g. /var/spool/asterisk/outgoing.")
@click.option("--channel", required=True, callback=_one_line,
              help="How to dial a number: PJSIP/{number}@trunk ({number}: E.164, {digits}: without +, {id}).")
@click.option("--context", default="agiflow-callbacks", show_default=True, callback=_dialplan_name,
              help="Dialplan context the answered call runs in.")
@click.option("--extension", default="s", show_default=True, callback=_dialplan_name,
              help="Extension in that context.")
@click.option("--max", "limit", type=click.IntRange(1, 1000), default=5, show_default=True,
              help="At most this many callback call files in the spool at once.")
@click.option("--schedule", "schedule_name", default=None, metavar="NAME",
              help="Dial only while this schedule (with its override) is open.")
@click.option("--dnc", multiple=True, default=("robinson",), show_default=True, metavar="LIST",
              help="Do-not-call list to check each number against; repeat for several.")
@click.option("--queue", default=None, help="Only requests for this queue.")
@click.option("--retry-after", type=click.IntRange(1, 10080), default=30, show_default=True, metavar="MINUTES",
              help="Minutes before a request whose call file was written is dialled again.")
@click.option("--max-attempts", type=click.IntRange(1, 50), default=3, show_default=True,
              help="Call files written for a request at most.")
@click.option("--wait", type=click.IntRange(5, 600), default=45, show_default=True, metavar="SECONDS",
              help="Seconds Asterisk lets the number ring (WaitTime).")
@click.option("--callerid", default="", callback=_one_line, help='Caller ID to show, e.g. "Support" <+34910000000>.')
@click.option("--dry-run", is_flag=True, help="Say what would be dialled; write and change nothing.")
@config_option
def dial(spool: Path, channel: str, context: str, extension: str, limit: int, schedule_name: str | None,
         dnc: tuple[str, ...], queue: str | None, retry_after: int, max_attempts: int, wait: int, callerid: str,
         dry_run: bool, config_path: str | None) -> None:
    """Write Asterisk call files for the oldest pending requests.

    One per number, oldest arrival first, at most --max in the spool at
    once, never to a number a --dnc list holds; a list that cannot be read
    skips the request. Exit status 1 when a request was kept back by a list
    that cannot be read or a call file that could not be written.
    """
    problem = channel_problem(channel)
    if problem:
        raise click.BadParameter(problem, param_hint="--channel")
    config, database = get_database(config_path, Need.READ if dry_run else Need.UPDATE)  # a dry run changes nothing
    moment_now = now()
    if schedule_name and not _schedule_open(config, schedule_name, moment_now):
        return
    settings = DialSettings(spool, channel, context, extension, wait, callerid, limit, tuple(dnc), queue,
                            timedelta(minutes=retry_after), max_attempts, dry_run)
    lists = number_lists(database, config.default_region)
    try:
        report = dial_callbacks(callback_book(database), lists, settings, moment_now)  # CallbackError: exit 1
    except CallFileError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        lists.close()
    for line in report.lines:
        click.echo(line)
    if report.failed:
        sys.exit(1)


def _schedule_open(config: Config, name: str, at: datetime) -> bool:
    """Whether schedule ``name`` (with its override) is open at ``at``;
    says so when it is not. A broken schedules file exits 1, an unknown
    schedule is a usage error (exit 2)."""
    found, errors = load_schedules([config.flows]) if config.flows.exists() else ({}, [])
    for error in errors:
        click.echo(str(error), err=True)
    if errors:
        sys.exit(1)
    if name not in found:
        raise click.BadParameter(f"no schedule named {name!r} in {schedules_folder(config)} "
                                 f"(known: {', '.join(sorted(found)) or 'none'})", param_hint="--schedule")
    try:
        reader = simulation_overrides(config.database)
        override = reader.active(name, at) if reader else None
    except OverridesUnavailable as exc:
        raise click.ClickException(f"cannot read overrides: {exc}") from None
    state = state_at(found[name], at, override)
    if state.outcome != OPEN:
        click.echo(f"schedule {name} is {state.outcome}: no callbacks dialled")
        return False
    return True


def table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    """An aligned text table; empty cells for NULL. Control characters and
    escape sequences in a cell (a caller ID is the caller's to choose)
    never reach the terminal."""
    cells = [[("" if row.get(c) is None else terminal_text(str(row[c]))) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join(lines)


def as_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(SHOWN_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
