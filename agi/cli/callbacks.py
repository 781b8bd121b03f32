"""``agiflow callbacks``: the callback requests callers left, for the dialer
or the agents who call back. Reads and updates the ``callbacks`` table
while the server runs (WAL)."""
from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
from typing import Any

import click

from agi.storage.callbacks import CALLBACK_COLUMNS, CANCELLED, DONE, PENDING, CallbackBook
from agi.storage.stores import callback_book
from agi.cli.common import config_option, get_database
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
         "7d / 24h / 30m / 2w ago, today or yesterday.")


@click.group()
def callbacks() -> None:
    """Callback requests left by callers (the callback step).

    List them, export them for a dialer, and mark them done or cancelled.
    """


def _book(config_path: str | None, need: Need) -> CallbackBook:
    return callback_book(get_database(config_path, need)[1])


def _since(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return sql_time(moment(text, datetime.now(timezone.utc), system_zone()[0]))
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
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write to FILE instead of standard output.")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@status_option
@since_option
@config_option
def export(output: str | None, fmt: str, status: str, since: str | None, config_path: str | None) -> None:
    """Export callback requests, every column, as CSV or JSON."""
    rows = _requests(config_path, status, since)
    text = as_csv(rows) if fmt == "csv" else json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    with open(output, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
    click.echo(f"{len(rows)} callback requests written to {output}", err=True)


def _close(request_id: int, status: str, note: str | None, config_path: str | None) -> None:
    now = sql_time(datetime.now(timezone.utc))
    row = _book(config_path, Need.UPDATE).close(request_id, status, now, note)  # CallbackError: one line, exit 1
    click.echo(f"callback request {row['id']} ({row['number']}) is {row['status']}")


@callbacks.command("done")
@click.argument("request_id", metavar="ID", type=int)
@click.option("--note", default=None, help="A note for the record (who called, what came of it).")
@config_option
def done(request_id: int, note: str | None, config_path: str | None) -> None:
    """Mark pending request ID done (the caller was called back)."""
    _close(request_id, DONE, note, config_path)


@callbacks.command("cancel")
@click.argument("request_id", metavar="ID", type=int)
@click.option("--note", default=None, help="Why it was cancelled.")
@config_option
def cancel(request_id: int, note: str | None, config_path: str | None) -> None:
    """Cancel pending request ID (it will not be called back)."""
    _close(request_id, CANCELLED, note, config_path)


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
    writer = csv.DictWriter(out, fieldnames=list(CALLBACK_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
