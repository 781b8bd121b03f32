"""``agiflow supervisors``: the PINs supervisors key on the phone (steps
``override`` and ``supervise``) and the audit log of what they did. PINs
are read from the terminal without echo (or one line of standard input
with ``--stdin``), stored as salted scrypt hashes, and never printed."""
from __future__ import annotations

import getpass
import sys
from datetime import datetime, timezone

import click

from agi.cli.common import config_option, get_config, get_database
from agi.cli.database import Need
from agi.lists.numbers import normaliser
from agi.reports.timerange import TimeError, moment, sql_time, system_zone
from agi.safe_text import terminal_text
from agi.storage.supervisors import LOCK_SECONDS, MAX_FAILURES, pin_problem, supervisors_store


def now() -> datetime:
    """The current time; tests replace it."""
    return datetime.now(timezone.utc)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _number(config_path: str | None, text: str) -> str:
    try:
        return normaliser(get_config(config_path).default_region).number(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="NUMBER") from None


@click.group()
def supervisors() -> None:
    """Supervisors' PINs for the override and supervise steps, and their audit log.

    A supervisor is a number in the number list the step names (by default
    ``supervisors``: agiflow lists add supervisors NUMBER) with a PIN set here.
    """


@supervisors.command("pin")
@click.argument("number")
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the PIN from one line of standard input.")
@config_option
def set_pin(number: str, from_stdin: bool, config_path: str | None) -> None:
    """Set (or replace) the PIN of NUMBER; it also unlocks the number."""
    e164 = _number(config_path, number)
    if from_stdin:
        pin = sys.stdin.readline().strip()
    else:
        pin = click.prompt("PIN", hide_input=True, confirmation_prompt=True)
    problem = pin_problem(pin)
    if problem:
        raise click.BadParameter(problem, param_hint="PIN")
    _, database = get_database(config_path, Need.WRITE)
    supervisors_store(database, create=True).set_pin(e164, pin, now(), _user())
    click.echo(f"{e164}: PIN set")


@supervisors.command("remove")
@click.argument("number")
@config_option
def remove(number: str, config_path: str | None) -> None:
    """Remove the PIN of NUMBER: it can no longer act as a supervisor."""
    e164 = _number(config_path, number)
    _, database = get_database(config_path, Need.UPDATE)
    removed = supervisors_store(database).remove(e164, now(), _user())
    click.echo(f"{e164}: PIN removed" if removed else f"{e164}: no PIN")
    if not removed:
        sys.exit(1)


@supervisors.command("list")
@config_option
def list_pins(config_path: str | None) -> None:
    """Numbers with a PIN, their wrong PINs in a row and any lock."""
    _, database = get_database(config_path, Need.READ)
    rows = supervisors_store(database).pins()
    if not rows:
        click.echo("no supervisor PINs")
        return
    click.echo(f"{'number':<16} {'wrong':>5}  {'locked until':<24}  pin set")
    at = now()
    for row in rows:
        failures, locked = row["failures"], row["locked_until"]
        if locked and datetime.fromisoformat(locked.replace("Z", "+00:00")) <= at:
            failures, locked = 0, None  # the lock ran out: the next PIN is checked and counts from 1
        click.echo(terminal_text(f"{row['number']:<16} {failures:>5}  {locked or '':<24}  {row['updated_at']}"))
    click.echo(f"(a number is locked for {LOCK_SECONDS // 60} minutes after {MAX_FAILURES} wrong PINs in a row)")


@supervisors.command("audit")
@click.option("--since", default=None, metavar="WHEN",
              help="Only entries at or after WHEN: a date, an ISO time (without an offset, the machine's zone), "
                   "7d / 24h / 30m / 2w ago, today, yesterday or now.")
@click.option("--number", default=None, help="Only entries of this supervisor.")
@config_option
def audit(since: str | None, number: str | None, config_path: str | None) -> None:
    """What supervisors did: PIN checks, overrides, listening sessions, PIN changes."""
    _, database = get_database(config_path, Need.READ)
    start = None
    if since is not None:
        try:
            start = sql_time(moment(since, now(), system_zone()[0]))
        except TimeError as exc:
            raise click.BadParameter(str(exc), param_hint="--since") from None
    rows = supervisors_store(database).audit_log(start, _number(config_path, number) if number else None)
    if not rows:
        click.echo("no audit entries")
        return
    for row in rows:
        detail = f"  {row['detail']}" if row["detail"] else ""
        # the call's id is whatever Asterisk (or a peer) sent: no escape sequence reaches the terminal
        click.echo(terminal_text(f"{row['at']}  {row['number']}  {row['action']}  {row['result']}  "
                                 f"{row['call_id'] or '-'}{detail}"))
