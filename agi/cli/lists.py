"""``agiflow lists``: the named number lists (robinson, vip, block...)."""
from __future__ import annotations

import sys
import time
from contextlib import nullcontext
from typing import ContextManager, TextIO, cast
import click

from agi.cli.common import config_option, get_config
from agi.config import Config
from agi.lists.admin import ListAdmin
from agi.lists.csvio import ReadReport, read_entries, write_entries
from agi.lists.numbers import Entry, Normaliser
from agi.lists.schema import LIST_NAME_RE
from agi.lists.store import SqliteNumberLists
from agi.services import ListUnavailable

#: ``check`` exit statuses, as grep: 0 listed, 1 not listed, 2 error.
LISTED, NOT_LISTED, CHECK_ERROR = 0, 1, 2


def _list_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not LIST_NAME_RE.match(value):
        raise click.BadParameter("use letters, digits, '_', '.' and '-' (up to 64, starting with a letter or digit)")
    return value


name_argument = click.argument("name", callback=_list_name)


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _entry(config: Config, number: str, prefix: bool) -> Entry:
    try:
        return Normaliser(config.default_region).entry(number, prefix=prefix)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="NUMBER") from None


def _admin(config: Config) -> ListAdmin:
    return ListAdmin(config.database)


def _show_entry(key: str, note: str | None) -> str:
    return key + (f"  ({note})" if note else "")


@click.group()
def lists() -> None:
    """Manage the named number lists (do-not-call, VIP, block...).

    Lists live in the configured database. Numbers are stored in E.164; a
    national number is read as dialled in default_region. An entry ending
    in * is a prefix.
    """


@lists.command()
@config_option
def show(config_path: str | None) -> None:
    """Every list with its number of entries."""
    config = get_config(config_path)
    found = []
    if config.database.exists():
        with _admin(config) as admin:
            found = admin.lists()
    if not found:
        click.echo(f"no number lists in {config.database}")
        return
    width = max(len(s.name) for s in found)
    click.echo(f"{'list':<{width}}  {'entries':>10}  updated")
    for summary in found:
        click.echo(f"{summary.name:<{width}}  {summary.entries:>10}  {summary.updated_at}")


@lists.command()
@name_argument
@config_option
def create(name: str, config_path: str | None) -> None:
    """Create an empty list NAME (steps that use it then find nothing)."""
    with _admin(get_config(config_path)) as admin:
        created = admin.create(name)
    click.echo(f"{name}: created" if created else f"{name}: already exists")


@lists.command()
@name_argument
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@config_option
def delete(name: str, yes: bool, config_path: str | None) -> None:
    """Delete list NAME and its entries. Steps that name it then take their
    error outcome (a robinson step blocks the call)."""
    if not yes:
        click.confirm(f"delete number list {name!r} and all its entries?", abort=True)
    with _admin(get_config(config_path)) as admin:
        try:
            entries = admin.delete(name)
        except ListUnavailable as exc:
            _fail(str(exc))
    click.echo(f"{name}: deleted ({entries} entries)")


@lists.command()
@name_argument
@click.argument("number")
@click.option("--prefix", is_flag=True, help="NUMBER is a prefix (the same as writing it with a trailing *).")
@click.option("--note", default=None, help="A note kept with the entry (reason, source, date...).")
@config_option
def add(name: str, number: str, prefix: bool, note: str | None, config_path: str | None) -> None:
    """Add NUMBER to list NAME, creating the list if needed."""
    config = get_config(config_path)
    entry = _entry(config, number, prefix)
    with _admin(config) as admin:
        new = admin.add(name, entry, note)
    click.echo(f"{name}: {'added' if new else 'already listed, note updated:'} {entry.key}")


@lists.command()
@name_argument
@click.argument("number")
@click.option("--prefix", is_flag=True, help="NUMBER is a prefix (the same as writing it with a trailing *).")
@config_option
def remove(name: str, number: str, prefix: bool, config_path: str | None) -> None:
    """Remove the entry NUMBER from list NAME (exit 1 if it is not there)."""
    config = get_config(config_path)
    entry = _entry(config, number, prefix)
    with _admin(config) as admin:
        try:
            removed = admin.remove(name, entry)
        except ListUnavailable as exc:
            _fail(str(exc))
    if not removed:
        _fail(f"{name}: {entry.key} is not in the list")
    click.echo(f"{name}: removed {entry.key}")


@lists.command()
@name_argument
@click.argument("number")
@config_option
def check(name: str, number: str, config_path: str | None) -> None:
    """Is NUMBER in list NAME? Prints the matching entry.

    Exit status as grep: 0 listed, 1 not listed, 2 when the list does not
    exist or NUMBER is not a phone number.
    """
    config = get_config(config_path)
    store = SqliteNumberLists(config.database, config.default_region)
    try:
        hit = store.match(name, number)
    except (ValueError, ListUnavailable) as exc:
        _fail(str(exc), CHECK_ERROR)
    finally:
        store.close()
    normalised = store.normaliser.number(number)
    if hit is None:
        click.echo(f"{normalised}: not in {name}")
        sys.exit(NOT_LISTED)
    key = hit.entry + ("*" if hit.prefix else "")
    click.echo(f"{normalised}: listed in {name} by {'prefix' if hit.prefix else 'entry'} {_show_entry(key, hit.note)}")
    sys.exit(LISTED)


@lists.command("import")
@name_argument
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--replace", is_flag=True,
              help="Replace the whole list with the file's entries, atomically: calls see the old "
                   "list until the new one is complete. Without it, entries are added to the list.")
@config_option
def import_(name: str, file: str, replace: bool, config_path: str | None) -> None:
    """Import the entries of a CSV FILE ('-': standard input) into list NAME.

    One entry a line: the number, or a prefix ending in *, then an optional
    note. A header line naming a number column is recognised. Bad lines
    are reported as FILE:LINE: message and skipped; the import fails (and
    changes nothing) when no line is good.
    """
    config = get_config(config_path)
    normaliser = Normaliser(config.default_region)
    report = ReadReport()
    started = time.monotonic()
    with _open_csv(file) as source, _admin(config) as admin:
        try:
            result = admin.import_entries(name, read_entries(source, normaliser, report), replace=replace)
        except ValueError:
            result = None
    _report_bad_lines(file, report)
    if result is None:
        _fail(f"{file}: no valid entries; list {name!r} is unchanged")
        return
    verb = "replaced with" if result.replaced else "imported"
    click.echo(f"{name}: {verb} {result.read} entries from {file} in {time.monotonic() - started:.1f}s: "
               f"{result.added} added, {result.kept} already listed or repeated, {report.bad} bad lines; "
               f"{result.entries} entries in the list")


def _open_csv(file: str) -> ContextManager[TextIO]:
    """The CSV to import as text (a BOM from a spreadsheet is dropped)."""
    if file == "-":
        return nullcontext(sys.stdin)
    return open(file, encoding="utf-8-sig", newline="")


def _report_bad_lines(file: str, report: ReadReport) -> None:
    for line, message in report.errors:
        click.echo(f"{file}:{line}: {message}", err=True)
    if report.bad > len(report.errors):
        click.echo(f"... and {report.bad - len(report.errors)} more bad lines", err=True)


@lists.command()
@name_argument
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True, allow_dash=True), default="-",
              help="Write to this file (default: standard output).")
@config_option
def export(name: str, output: str, config_path: str | None) -> None:
    """Write list NAME as CSV (number,note), in the format import reads."""
    config = get_config(config_path)
    if not config.database.exists():
        _fail(f"no number list named {name!r}: {config.database} does not exist")
    with _admin(config) as admin:
        try:
            rows = admin.entries(name)
        except ListUnavailable as exc:
            _fail(str(exc))
            return
        with click.open_file(output, "w", encoding="utf-8") as out:
            count = write_entries(cast(TextIO, out), ((key, note) for key, note, _ in rows))
    if output != "-":
        click.echo(f"{name}: {count} entries written to {output}")
