"""``agiflow schedule``: see the schedules' state, and force one open or
closed from a moment (now by default) until another. Overrides go to the
configured database, where the running server reads them on every call: no
restart, no reload. An override applies only inside its window: ``show
--at`` a moment before its start or after its end shows the schedule alone."""
from __future__ import annotations

import getpass
import sys
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import click

from agi.cli.common import config_option, get_database, schedules_folder
from agi.cli.database import Need
from agi.config import Config
from agi.loading.loader import load_schedules
from agi.hours.evaluate import changes, describe_time, state_at
from agi.hours.model import Schedule
from agi.db.location import exists
from agi.storage.overrides import STATES, SqliteOverrides, simulation_overrides, writable_overrides
from agi.hours.spec import parse_moment
from agi.safe_text import terminal_text
from agi.services import Override, OverridesUnavailable

#: How far ``show`` lists the changes to come.
SHOW_DAYS = 7


def now() -> datetime:
    """The current time; tests replace it."""
    return datetime.now(timezone.utc)


@click.group()
def schedule() -> None:
    """Schedules: their state now, and manual overrides.

    Schedules are defined in schedules files in the flows folder; overrides
    are kept in the configured database and take effect on the next call.
    """


def _schedules(config: Config) -> dict[str, Schedule]:
    """The schedules of the flows folder, or exit 1 printing every error."""
    found, errors = load_schedules([config.flows]) if config.flows.exists() else ({}, [])
    for error in errors:
        click.echo(str(error), err=True)
    if errors:
        sys.exit(1)
    return found


def _find(config: Config, name: str) -> Schedule:
    found = _schedules(config)
    if name not in found:
        raise click.BadParameter(f"no schedule named {name!r} in {schedules_folder(config)} "
                                 f"(known: {', '.join(sorted(found)) or 'none'})", param_hint="NAME")
    return found[name]


def _reader(config: Config, changing: bool = False) -> SqliteOverrides | None:
    return simulation_overrides(config.database, changing=changing)


def _unexpired(config: Config, name: str, at: datetime, changing: bool = False) -> Override | None:
    """The override of ``name`` not ended at ``at``: in force then, or later."""
    reader = _reader(config, changing)
    try:
        return reader.unexpired(name, at) if reader else None
    except OverridesUnavailable as exc:
        raise click.ClickException(f"cannot read overrides: {exc}") from None


def _user() -> str:
    """Who runs the command: the login name, as the system knows it."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def _moment(text: str, zone: ZoneInfo, hint: str, moment: datetime) -> datetime:
    """``text`` read at ``moment`` (the command's one reading of the clock)."""
    try:
        return parse_moment(text, moment, zone)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=hint) from None


def _say(line: str) -> None:
    """One line at the terminal. An override's reason and who set it may
    hold text from a call (an override step's templated ``reason``):
    escape sequences and control characters never reach the terminal."""
    click.echo(terminal_text(line))


def _override_text(override: Override | None, zone: ZoneInfo, at: datetime) -> str:
    """``closed until ...``; ``closed from ... until ..., not yet in force``
    when it starts after ``at``."""
    if override is None:
        return "none"
    later = override.start is not None and at < override.start
    start = f"from {describe_time(override.start, zone)} " if later and override.start else ""
    text = f"{override.state} {start}until {describe_time(override.until, zone)}"
    text += (f" ({override.reason})" if override.reason else "") + (", not yet in force" if later else "")
    return text + _set_by_text(override, zone)


def _set_by_text(override: Override, zone: ZoneInfo) -> str:
    """``, set by +34600111222 by phone at ...`` (who, how, when), as known."""
    parts = [f"by {override.set_by}" if override.set_by else "",
             f"by {override.set_how}" if override.set_how else "",
             f"at {describe_time(override.set_at, zone)}" if override.set_at else ""]
    shown = " ".join(part for part in parts if part)
    return f", set {shown}" if shown else ""


@schedule.command("list")
@config_option
def list_schedules(config_path: str | None) -> None:
    """Every schedule with its state now and the override in force."""
    config, _ = get_database(config_path, Need.OPTIONAL)
    found = _schedules(config)
    if not found:
        click.echo(f"no schedules in {schedules_folder(config)}")
        return
    moment = now()
    rows = [("schedule", "timezone", "now", "override")]
    for name, item in sorted(found.items()):
        override = _unexpired(config, name, moment)
        state = state_at(item, moment, override, horizon=timedelta(0))
        rows.append((name, item.timezone, state.outcome, _override_text(override, ZoneInfo(item.timezone), moment)))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        _say("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3])


@schedule.command()
@click.argument("name")
@click.option("--at", "at", default=None, metavar="TIME",
              help="Show the state at TIME instead of now: ISO 8601 (without an offset, in the "
                   "schedule's timezone), HH:MM (next time the clock shows it), or 2h / 30m / 1d from now.")
@config_option
def show(name: str, at: str | None, config_path: str | None) -> None:
    """The state of schedule NAME now (or at --at), why, the override (in
    force, or starting later), and every change in the coming week."""
    config, _ = get_database(config_path, Need.OPTIONAL)
    item = _find(config, name)
    zone = ZoneInfo(item.timezone)
    moment = now()
    if at is not None:  # "" (an unset shell variable) is refused, never now
        moment = _moment(at, zone, "--at", moment)
    override = _unexpired(config, name, moment)
    state = state_at(item, moment, override)
    _say(f"{name} ({item.timezone}) at {describe_time(moment, zone)}: {state.outcome}")
    _say(f"  reason: {state.reason}")
    _say(f"  override: {_override_text(override, zone, moment)}")
    upcoming = changes(item, moment, moment + timedelta(days=SHOW_DAYS), override)
    click.echo(f"  next changes ({SHOW_DAYS} days):" + ("" if upcoming else " none"))
    for when, then in upcoming:
        _say(f"    {describe_time(when, zone):<24} {then.outcome:<10} {then.reason}")


@schedule.command()
@click.argument("name")
@click.argument("state", type=click.Choice(STATES))
@click.option("--until", "until", required=True, metavar="TIME",
              help="When the override ends: 2h / 30m / 1d / 1h30m from now, HH:MM (the next time the "
                   "schedule's clock shows it), or ISO 8601 (without an offset, in the schedule's timezone).")
@click.option("--from", "start", default=None, metavar="TIME",
              help="When the override starts (default: now), in the same forms as --until; "
                   "it must be before --until.")
@click.option("--reason", default="", help="Why, for whoever looks later (shown by show and list, and in the CDR step details).")
@config_option
def override(name: str, state: str, until: str, start: str | None, reason: str, config_path: str | None) -> None:
    """Force schedule NAME open or closed from now (or --from) until a moment.

    Replaces any override NAME had. The running server sees it on the next
    call inside its window; after --until the schedule runs on its own again.
    """
    config, _ = get_database(config_path, Need.WRITE)
    item = _find(config, name)
    zone = ZoneInfo(item.timezone)
    moment = now()
    end = _moment(until, zone, "--until", moment)
    begin = _moment(start, zone, "--from", moment) if start is not None else moment
    if end <= moment:
        raise click.BadParameter(f"{describe_time(end, zone)} is not in the future", param_hint="--until")
    if begin >= end:
        raise click.BadParameter(f"{describe_time(begin, zone)} is not before --until ({describe_time(end, zone)})",
                                 param_hint="--from")
    try:
        writable_overrides(config.database).set(Override(name, state, end, reason, begin, _user(), "cli"),
                                                moment)
    except OverridesUnavailable as exc:
        raise click.ClickException(f"cannot save the override: {exc}") from None
    after = state_at(item, end)
    since = f"from {describe_time(begin, zone)} " if start is not None else ""
    _say(f"{name}: {state} {since}until {describe_time(end, zone)}, then {after.outcome} ({after.reason})")


@schedule.command()
@click.argument("name")
@config_option
def clear(name: str, config_path: str | None) -> None:
    """Remove the override of schedule NAME: the schedule runs on its own
    again from the next call."""
    config, _ = get_database(config_path, Need.WRITE)
    moment = now()
    in_force = _unexpired(config, name, moment, changing=True)
    known = load_schedules([config.flows])[0] if config.flows.exists() else {}
    if in_force is None and name not in known:
        # A misspelt name must not read as "nothing to clear" while the
        # schedule meant is still forced open or closed.
        raise click.BadParameter(f"no schedule named {name!r} in {schedules_folder(config)} and no override "
                                 f"stored for it (known: {', '.join(sorted(known)) or 'none'})", param_hint="NAME")
    try:
        if exists(config.database):
            writable_overrides(config.database).clear(name)
    except OverridesUnavailable as exc:
        raise click.ClickException(f"cannot clear the override: {exc}") from None
    if in_force is None:
        click.echo(f"{name}: no override in force")
        return
    item = known.get(name)
    zone = ZoneInfo(item.timezone if item else "UTC")
    _say(f"{name}: override removed; it was {_override_text(in_force, zone, moment)}")
