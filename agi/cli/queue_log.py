"""``agiflow report import-queue-log FILE``: Asterisk's queue_log into the
CDR (agi/storage/queue_log.py does the work)."""
from __future__ import annotations

import click

from agi.wording import counted
from agi.db.location import Database
from agi.cli.common import DATABASE, CliError, FileName, config_option, get_database
from agi.cli.database import Need
from agi.cli.text_files import encoding_option, open_input, report_bad_lines, skip_bad_option
from agi.lists.csvio import ReadReport, text_lines
from agi.storage.queue_log import fill_calls, read_queue_log


@click.command("import-queue-log")
@click.argument("file", type=FileName(allow_dash=True, readable=False))  # its own error, exit 1
@skip_bad_option("the database is")
@encoding_option
@click.option("--db", "database", type=DATABASE, default=None, metavar="DATABASE",
              help="CDR database (default: `database` from the config).")
@config_option
def import_queue_log(file: str, skip_bad: bool, encoding: str | None, database: Database | None,
                     config_path: str | None) -> None:
    """Fill the agent, queue wait and talk time of queued calls from
    Asterisk's queue_log FILE ('-': standard input).

    Only empty columns are filled, so importing a file again changes
    nothing. Every bad line is reported as FILE:LINE: reason; then the
    import fails and changes nothing, unless --skip-bad imports the good
    lines.
    """
    _, path = get_database(config_path, Need.UPDATE, database)
    report = ReadReport()
    with open_input(file, "a queue_log file") as source:
        log = read_queue_log(text_lines(source, encoding, report), report)
    with log:  # the stays wait in a temporary database, not in memory
        report_bad_lines(file, report)
        if report.bad and not skip_bad:
            hint = ("give the file's encoding with --encoding (e.g. --encoding latin-1)" if report.undecodable
                    else f"fix {'them' if report.bad != 1 else 'it'}, or give --skip-bad to import the good lines")
            raise CliError(f"{file}: {counted(report.bad, 'bad line')} ({hint}); nothing changed")
        done = fill_calls(path, log.stays())
    skipped = f", {counted(report.bad, 'bad line')} skipped" if report.bad else ""
    click.echo(f"{file}: {counted(report.lines, 'line')}, {counted(log.events, 'call event')}, "
               f"{counted(done.stays, 'stay')} in queues{skipped}; {counted(done.updated, 'call')} completed")
