"""``agiflow lists``: the named number lists (robinson, vip, block...)."""
from __future__ import annotations

import sys
import time
from typing import TextIO, cast
import click

from agi.wording import counted
from agi.cli.common import (CliError, FileName, config_option, describe_error, get_database,
                             refuse_database_output)
from agi.cli.text_files import encoding_option, open_input, report_bad_lines, skip_bad_option
from agi.cli.database import Need
from agi.cli.output_file import output_file
from agi.config import Config
from agi.db.location import exists
from agi.lists.admin import ImportResult
from agi.lists.csvio import ReadReport, read_entries, text_lines, write_entries
from agi.lists.numbers import Entry, Normaliser
from agi.lists.schema import LIST_NAME_RE
from agi.storage.stores import list_admin as ListAdmin, number_lists
from agi.safe_text import terminal_text
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


def _note(note: str | None) -> str | None:
    """A note as stored: one line, no control characters."""
    return (terminal_text(note).strip() or None) if note else None


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
    config, database = get_database(config_path, Need.OPTIONAL)
    found = []
    if exists(database):
        with ListAdmin(database, read_only=True) as admin:
            found = admin.lists()
    if not found:
        click.echo(f"no number lists in {database}" + ("" if exists(database) else " (the file does not exist)"))
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
    _, database = get_database(config_path, Need.WRITE)
    with ListAdmin(database) as admin:
        created = admin.create(name)
    click.echo(f"{name}: created" if created else f"{name}: already exists")


@lists.command()
@name_argument
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@config_option
def delete(name: str, yes: bool, config_path: str | None) -> None:
    """Delete list NAME and its entries. Steps that name it then take their
    error outcome (a robinson step blocks the call)."""
    _, database = get_database(config_path, Need.UPDATE)
    with ListAdmin(database) as admin:
        if not yes:  # about the list that is there, with its size: a misspelt name is one line, unasked
            found = next((summary for summary in admin.lists() if summary.name == name), None)
            if found is None:
                raise ListUnavailable(f"no number list named {name!r}")
            click.confirm(f"delete number list {name!r} and its {counted(found.entries, 'entry', 'entries')}?",
                          abort=True)
        entries, left_behind = admin.delete_list(name)  # ListUnavailable: one line, exit 1 (AgiflowGroup)
    click.echo(f"{name}: deleted ({counted(entries, 'entry', 'entries')})")
    if left_behind:
        click.echo(f"{name}: its entries are not all removed yet ({left_behind}); "
                   "the next import or delete removes them", err=True)


@lists.command()
@name_argument
@click.argument("number")
@click.option("--prefix", is_flag=True, help="NUMBER is a prefix (the same as writing it with a trailing *).")
@click.option("--note", default=None, help="A note kept with the entry (reason, source, date...).")
@config_option
def add(name: str, number: str, prefix: bool, note: str | None, config_path: str | None) -> None:
    """Add NUMBER to list NAME, creating the list if needed. An entry
    already listed gets the --note given, or keeps its note."""
    config, database = get_database(config_path, Need.WRITE)
    entry = _entry(config, number, prefix)
    with ListAdmin(database) as admin:
        new = admin.add(name, entry, _note(note))
    done = "added" if new else "already listed, note updated:" if _note(note) else "already listed, note kept:"
    click.echo(f"{name}: {done} {entry.key}")


@lists.command()
@name_argument
@click.argument("number")
@click.option("--prefix", is_flag=True, help="NUMBER is a prefix (the same as writing it with a trailing *).")
@config_option
def remove(name: str, number: str, prefix: bool, config_path: str | None) -> None:
    """Remove the entry NUMBER from list NAME (exit 1 if it is not there)."""
    config, database = get_database(config_path, Need.UPDATE)
    entry = _entry(config, number, prefix)
    with ListAdmin(database) as admin:
        removed = admin.remove(name, entry)
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
    exist or cannot be read, NUMBER is not a phone number, or the check was
    interrupted or failed before the list answered.
    """
    try:
        config, database = get_database(config_path, Need.READ)
    except CliError as exc:
        raise CliError(exc.message, CHECK_ERROR) from None
    try:  # whatever stops the lookup, it never reads as not listed (exit 1: may call)
        store = number_lists(database, config.default_region)
        try:
            hit = store.match(name, number)
        finally:
            store.close()
    except (ValueError, ListUnavailable) as exc:
        _fail(str(exc), CHECK_ERROR)
    except KeyboardInterrupt:
        _fail(f"interrupted before {name!r} answered", CHECK_ERROR)
    except Exception as exc:  # an error of any kind is no answer
        _fail(describe_error(exc, database), CHECK_ERROR)
    normalised = store.normaliser.number(number)
    if hit is None:
        click.echo(f"{normalised}: not in {name}")
        sys.exit(NOT_LISTED)
    key = hit.entry + ("*" if hit.prefix else "")
    click.echo(f"{normalised}: listed in {name} by {'prefix' if hit.prefix else 'entry'} "
               f"{_show_entry(key, terminal_text(hit.note) if hit.note else None)}")
    sys.exit(LISTED)


@lists.command("import")
@name_argument
@click.argument("file", type=FileName(allow_dash=True, readable=False))  # its own error, exit 1
@click.option("--replace", is_flag=True,
              help="Replace the whole list with the file's entries, atomically: calls see the old "
                   "list until the new one is complete. Without it, entries are added to the list.")
@skip_bad_option("the list is")
@encoding_option
@config_option
def import_(name: str, file: str, replace: bool, skip_bad: bool, encoding: str | None,
            config_path: str | None) -> None:
    """Import the entries of a CSV FILE ('-': standard input) into list NAME.

    One entry a line: the number, or a prefix ending in *, then an optional
    note. A header line naming a number column is recognised. Every bad
    line is reported as FILE:LINE: reason; then the import fails and
    changes nothing, unless --skip-bad imports the good lines.
    """
    config, database = get_database(config_path, Need.WRITE)
    report = ReadReport()
    started = time.monotonic()
    with open_input(file, "a CSV file") as source, ListAdmin(database) as admin:
        # closed before its file: a reader left half-way (the database failed) finishes while it can
        rows = read_entries(text_lines(source, encoding, report), Normaliser(config.default_region), report,
                            skip_bad=skip_bad)
        try:
            result: ImportResult | None = admin.import_entries(name, rows, replace=replace)
        except ValueError:  # BadLines, or no entries: nothing changed
            result = None
        finally:
            rows.close()
    report_bad_lines(file, report)
    if result is None:
        raise CliError(f"{file}: {_why_nothing(report, skip_bad)}; list {name!r} is unchanged")
    verb = "replaced with" if result.replaced else "imported"
    skipped = f"{counted(report.bad, 'bad line')} skipped" if report.bad else "no bad lines"
    click.echo(f"{name}: {verb} {counted(result.read, 'entry', 'entries')} from {file} in "
               f"{time.monotonic() - started:.1f}s: {result.added} added, {result.kept} already listed or "
               f"repeated, {skipped}; {counted(result.entries, 'entry', 'entries')} in the list")
    if result.left_behind and result.replaced:
        click.echo(f"{name}: the entries it replaced are not all removed yet ({result.left_behind}); "
                   "the next import or delete removes them", err=True)
    elif result.left_behind:  # an import that replaced nothing left nothing behind
        click.echo(f"{name}: the import is done; the tidying after it failed ({result.left_behind})", err=True)


def _why_nothing(report: ReadReport, skip_bad: bool) -> str:
    """Why an import changed nothing, in a few words."""
    if report.undecodable:
        return (f"{report.undecodable} of {report.lines} lines are not valid {report.encoding}: "
                f"give the file's encoding with --encoding (e.g. --encoding latin-1)")
    if report.lines == 0:
        return "no entries (the file is empty)"
    if report.entries == 0:
        return "no valid entries"
    if report.bad and not skip_bad:
        them = "them" if report.bad != 1 else "it"
        return (f"{counted(report.bad, 'bad line')} (fix {them}, or give --skip-bad to import "
                f"the {counted(report.entries, 'good line')})")
    return "no valid entries"


@lists.command()
@name_argument
@click.option("-o", "--output", type=FileName(allow_dash=True), default="-",
              help="Write to this file (default: standard output).")
@config_option
def export(name: str, output: str, config_path: str | None) -> None:
    """Write list NAME as CSV (number,note), in the format import reads."""
    _, database = get_database(config_path, Need.READ)
    refuse_database_output(output)
    with ListAdmin(database, read_only=True) as admin:
        rows = admin.entries(name)
        with output_file(None if output == "-" else output) as out:  # a failed export leaves FILE as it was
            count = write_entries(cast(TextIO, out), ((key, note) for key, note, _ in rows))
    if output != "-":
        click.echo(f"{name}: {counted(count, 'entry', 'entries')} written to {output}")
