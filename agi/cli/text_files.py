"""What the commands that import a text file share: the file (or standard
input) opened as bytes, the ``--encoding`` and ``--skip-bad`` options, and
bad lines reported as ``FILE:LINE: reason``."""
from __future__ import annotations

import codecs
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any, BinaryIO, Callable, ContextManager, TypeVar

import click

from agi.cli.common import CliError
from agi.lists.csvio import ReadReport

F = TypeVar("F", bound=Callable[..., Any])


def _codec(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """``--encoding``: a text codec Python knows, or a usage error."""
    if value is not None:
        try:
            codec = codecs.lookup(value)
        except LookupError:
            raise click.BadParameter(f"unknown encoding {value!r} (e.g. utf-8, latin-1, cp1252, utf-16)") from None
        if not getattr(codec, "_is_text_encoding", True):  # base64, hex, rot13, zlib: bytes to bytes
            raise click.BadParameter(f"{value!r} is not a text encoding (e.g. utf-8, latin-1, cp1252, utf-16)")
    return value


encoding_option = click.option(
    "--encoding", default=None, metavar="NAME", callback=_codec,
    help="The file's encoding, e.g. latin-1 or cp1252 (default: UTF-8, or UTF-16 when the "
         "file starts with its byte order mark).")


def skip_bad_option(what: str) -> Callable[[F], F]:
    """``--skip-bad``; without it any bad line leaves ``what`` unchanged."""
    return click.option("--skip-bad", is_flag=True,
                        help="Import the good lines even when some are bad (they are reported and counted). "
                             f"Without it, any bad line fails the import and {what} unchanged.")


def open_input(file: str, kind: str) -> ContextManager[BinaryIO]:
    """The file to import (``-``: standard input), as bytes; ``kind`` names
    what it should be, for a folder given by mistake."""
    if file == "-":
        return nullcontext(sys.stdin.buffer)
    if Path(file).is_dir():
        raise CliError(f"{file}: is a directory, not {kind}")
    return open(file, "rb")


def report_bad_lines(file: str, report: ReadReport) -> None:
    """Each bad line kept as ``FILE:LINE: reason`` on stderr, then how many more."""
    for line, message in report.errors:
        click.echo(f"{file}:{line}: {message}", err=True)
    if report.bad > len(report.errors):
        click.echo(f"... and {report.bad - len(report.errors)} more bad lines", err=True)
