"""``agiflow db``: the database's schema version, and moving data between
databases (docs/database.md)."""
from __future__ import annotations

from datetime import datetime, timezone

import click

from agi.cli.common import DATABASE, CliError, checked_database, config_option, environment_errors, get_config
from agi.cli.database import CONFIG_HINT, Need, database_problem
from agi.db.location import Database, PostgresUrl, parse_database
from agi.db.messages import missing_right, one_line
from agi.storage.copy import CopyError, copy_all
from agi.storage.copy_target import BadValue
from agi.storage.migrations import SchemaError, check_current, upgrade, version
from agi.storage.schema_version import SCHEMA_VERSION
from agi.storage.rollups import roll_database
from agi.wording import counted


@click.group()
def db() -> None:
    """The database: upgrade its schema, copy its data, keep the reports' rollups.

    The database is the configured one (database: in config.yaml): a SQLite
    file or a postgresql:// URL.
    """


@db.command("upgrade")
@config_option
@click.option("--database", "database", type=DATABASE, default=None, metavar="DATABASE",
              help="Upgrade this database instead of the configured one (a path or a postgresql:// URL).")
def upgrade_command(config_path: str | None, database: Database | None) -> None:
    """Bring the database's schema to the version this agiflow needs.

    Creates the tables of a new database. Each step runs in its own
    transaction; servers that start together take turns. agiflow serve
    runs the steps that are safe while other servers use the database by
    itself; this command runs every step.
    """
    target = database if database is not None else get_config(config_path).database
    # a folder, random bytes or another program's file is one line, never changed; a PostgreSQL
    # server is only reached here (Need.READ), since the online upgrade of Need.WRITE is this command's job;
    # a SQLite file is created when missing (Need.CREATE)
    checked_database(target, Need.READ if isinstance(target, PostgresUrl) else Need.CREATE,
                     configured=database is None)
    before = version(target)
    try:
        applied = upgrade(target)
    except SchemaError as exc:
        raise CliError(f"{target}: {exc}") from None
    if not applied:  # another server may have run the steps while this one waited for its turn
        click.echo(f"{target}: schema version {version(target)}, up to date")
        return
    for step in applied:
        click.echo(f"{target}: version {step.version}: {step.description}")
    click.echo(f"{target}: schema version {before} -> {SCHEMA_VERSION}")


@db.command("copy")
@click.option("--from", "source", required=True, metavar="DATABASE",
              help="The database to read: sqlite:PATH (or a path) or a postgresql:// URL.")
@click.option("--to", "target", required=True, metavar="DATABASE",
              help="The database to write: a postgresql:// URL (or sqlite:PATH).")
def copy_command(source: str, target: str) -> None:
    """Copy every CDR, callback request, number list, schedule override,
    supervisor PIN and audit entry from one database into another.

    The target's schema is brought up to date first; it may hold other
    servers' rows, which are left as they are. Rows the target already
    has are not copied again, so a copy that was interrupted can be run
    again. A list's entries go into the target's list of the same name.
    Stop the servers writing to the source first, or run it again
    afterwards for the calls they added.
    """
    read, written = _database(source, "--from"), _database(target, "--to")  # both read before either is opened
    origin = _usable(read, Need.READ, "--from")
    # a SQLite target is created (and upgraded) by the copy itself
    destination = _usable(written, Need.WRITE if isinstance(written, PostgresUrl) else Need.CREATE, "--to")
    try:
        copied = copy_all(origin, destination)
    except CopyError as exc:
        raise CliError(str(exc)) from None
    except BadValue as exc:
        raise CliError(f"cannot copy {origin} to {destination}: {exc}") from None
    except environment_errors() as exc:  # a full disk, a server gone: which database is in the error
        raise CliError(f"cannot copy {origin} to {destination}: {one_line(exc)}{missing_right(exc)}") from None
    for table, rows in copied.rows.items():
        renumbered = copied.renumbered.get(table)
        click.echo(f"{table}: {counted(rows, 'row')}"
                   + (f" ({renumbered} with a new id: the target's rows had theirs)" if renumbered else ""))
    click.echo(f"copied {source if not source.lower().startswith('postgres') else parse_database(source)} "
               f"to {parse_database(target)}")


@db.command("rollups")
@config_option
@click.option("--database", "database", type=DATABASE, default=None, metavar="DATABASE",
              help="This database instead of the configured one (a path or a postgresql:// URL).")
@click.option("--rebuild", is_flag=True, help="Forget every rollup and count them all again from the calls.")
def rollups_command(config_path: str | None, database: Database | None, rebuild: bool) -> None:
    """Bring the reports' rollups up to date (docs/database.md#rollups).

    The rollups are the calls' sums per quarter hour that the reports read
    instead of every call. agiflow serve rolls them up every minute; run this
    where no server does (calls written by agiflow-agi), after a change of
    the reports' thresholds in the config, or with --rebuild. Reports are
    right without it: they read the calls of what is not rolled up.
    """
    config = get_config(config_path)
    named = database if database is not None else config.database
    target = checked_database(named, Need.READ, configured=database is None)
    try:
        check_current(target)  # before the check of a writer, which would bring the schema up to date
    except SchemaError as exc:
        raise CliError(f"{target}: {exc}") from None
    checked_database(target, Need.UPDATE, configured=database is None)
    thresholds = config.reports.thresholds
    rolled, left = roll_database(target, thresholds, now=datetime.now(timezone.utc), rebuild=rebuild)
    click.echo(f"{target}: {counted(rolled, 'quarter hour')} rolled up ({left} pending), counted with a short abandon "
               f"of {thresholds.short_abandon:g} s and a service level of {thresholds.service_level:g} s")


def _database(text: str, option: str) -> Database:
    try:
        return parse_database(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


def _usable(database: Database, need: Need, option: str) -> Database:
    """``database`` once it is known to serve as ``option`` (else one line
    naming the option and the database, exit 1)."""
    problem = database_problem(database, need)
    if problem:
        raise CliError(f"{option}: " + problem.replace(f" {CONFIG_HINT}", ""))
    return database
