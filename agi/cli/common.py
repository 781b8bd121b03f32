"""Options and helpers shared by the commands, and the one place where
errors from the environment (a config, a database, a file that cannot be
used) become a one-line message and a non-zero exit status.

Light to import: every ``agiflow`` run loads this module, so the config,
the flow loader and the database drivers are imported only by the helpers
that use them, and each command's module only when that command runs."""
from __future__ import annotations

import errno
import importlib
import os
import sqlite3
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, TextIO

import click

from agi.cli.database import CONFIG_HINT, Need, database_problem
from agi.db.location import Database, PostgresUrl, database_files, parse_database
from agi.db.messages import missing_right, one_line

if TYPE_CHECKING:
    from agi.config import Config
    from agi.engine.model import Flow, FlowSet

DEFAULT_CONFIG = "config.yaml"

#: Errors a store or a report raises with a message meant for the user, by
#: the module that defines them. A module that was never imported cannot
#: have raised its errors, so only loaded ones are caught (see ``environment_errors``).
DOMAIN_ERRORS: dict[str, tuple[str, ...]] = {
    "agi.services": ("ListUnavailable", "OverridesUnavailable", "SupervisorsUnavailable"),
    "agi.storage.callbacks": ("CallbackError",),
    "agi.reports.db": ("ReportError",),
    "agi.storage.migrations": ("SchemaError",),
}
#: Database driver errors, by module: one line naming the database.
DRIVER_ERRORS: dict[str, tuple[str, ...]] = {"psycopg": ("Error",)}
#: Where the database a command uses is kept, to name it in an error.
_DATABASE_KEY = "agiflow.database"

#: The largest integer SQLite and PostgreSQL (bigint) store: a limit, a count
#: or an id past it would fail in the driver (OverflowError) with a traceback.
MAX_SQL_INT = 2**63 - 1


class _Count(click.IntRange):
    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return min(super().convert(value, param, ctx), MAX_SQL_INT)


def count_type(least: int) -> click.IntRange:
    """A ``--limit`` or ``--min-calls`` N: at least ``least``; a larger N than
    any database counts is taken as the largest it counts."""
    return _Count(min=least)


#: A row id given on the command line (``callbacks done ID``).
ROW_ID = click.IntRange(1, MAX_SQL_INT)


def loaded_errors(table: Mapping[str, tuple[str, ...]]) -> tuple[type[Exception], ...]:
    """The exception classes of ``table`` whose modules are imported."""
    return tuple(getattr(sys.modules[module], name) for module, names in table.items()
                 if module in sys.modules for name in names)


def environment_errors() -> tuple[type[Exception], ...]:
    """Everything a command's environment can raise: one line, exit 1."""
    return (sqlite3.Error, OSError, UnicodeError, *loaded_errors(DRIVER_ERRORS), *loaded_errors(DOMAIN_ERRORS))


class FileName(click.Path):
    """A ``click.Path`` that refuses an empty value: ``Path("")`` is the
    current folder, so an unset shell variable (``-o "$OUT"``) would name
    it and a command would check, run or write whatever is there."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value:
            self.fail("empty: give the name of a file or folder", param, ctx)
        return super().convert(value, param, ctx)


def dash_is_stdout(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """An ``-o`` value: ``-`` is standard output (None), as for ``lists export``."""
    return None if value == "-" else value


config_option = click.option(
    # readable=False: a file that cannot be read is the loader's one line (file:1: reason), exit 2
    "-c", "--config", "config_path", type=FileName(readable=False), default=None,
    help=f"Configuration file (default: ./{DEFAULT_CONFIG} when it exists, else built-in defaults).",
)


def configured_flows(config: Config) -> str:
    """The configured flows folder as files under it are named in messages
    and test ids: from the working folder when it is inside it
    (``flows/support.yaml``), else in full."""
    try:
        return str(config.flows.relative_to(Path.cwd()))
    except (ValueError, OSError):
        return str(config.flows)


def schedules_folder(config: Config) -> str:
    """The configured flows folder as the schedule commands name it: one
    that does not exist says so (a mistyped ``flows`` is not a folder
    without schedules)."""
    if config.flows.exists():
        return str(config.flows)
    return f"{config.flows} (no such folder: check 'flows' in the config)"


def config_or_default(config_path: str | None) -> str | None:
    """``config_path``, else ./config.yaml when there is one: a link to a
    file that is gone is one too (an error), never the built-in defaults."""
    if config_path is None and os.path.lexists(DEFAULT_CONFIG):
        return DEFAULT_CONFIG
    return config_path


def get_config(config_path: str | None, text: bytes | None = None) -> Config:
    """Load the config (``text``: its contents, read earlier) or exit 2
    with every error as file:line: message."""
    from agi.config import ConfigError, load_config
    config_path = config_or_default(config_path)
    try:
        return load_config(config_path, text)
    except ConfigError as exc:
        for error in exc.errors:
            click.echo(str(error), err=True)
        sys.exit(2)


if TYPE_CHECKING:
    _ParamType = click.ParamType[Database, Any]
else:  # click before 8.2 has no type parameters
    _ParamType = click.ParamType


class DatabaseParam(_ParamType):
    """A ``--database``/``--db`` value: a SQLite path or a PostgreSQL URL;
    a URL that cannot be read is a usage error naming the option."""

    name = "database"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Database:
        try:
            return parse_database(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


#: The type of every option that names a database.
DATABASE = DatabaseParam()


def get_database(config_path: str | None, need: Need, path: str | Path | Database | None = None,
                 text: bytes | None = None) -> tuple[Config, Database]:
    """The config (``text``: its contents, read earlier) and its database
    (``path`` when given), checked for what the command needs: a missing,
    unreadable or foreign database is one line and exit 1."""
    config = get_config(config_path, text)
    if path is not None:
        return config, checked_database(parse_database(path), need, configured=False)
    return config, checked_database(config.database, need)


def checked_database(database: Database, need: Need, configured: bool = True) -> Database:
    """``database``, once it is known to serve a command that needs it so
    (else one line and exit 1); errors later name it too. One named on the
    command line (not ``configured``) is not blamed on the config."""
    click.get_current_context().meta[_DATABASE_KEY] = database
    problem = database_problem(database, need)
    if problem:
        raise CliError(problem if configured else problem.replace(f" {CONFIG_HINT}", ""))
    return database


def refuse_database_output(output: str | None) -> None:
    """An ``-o`` file that is the database the command read (or a file
    SQLite keeps beside it) is one line, exit 1: written, it replaced every
    CDR, list and callback request with the export."""
    database = click.get_current_context().meta.get(_DATABASE_KEY)
    if output is None or output == "-" or database is None or isinstance(database, PostgresUrl):
        return
    if Path(os.path.realpath(output)) in database_files(Path(database)):
        raise CliError(f"{output}: that is the database {database} (or a file SQLite keeps beside it): "
                       "write the output to another file")


class CliError(click.ClickException):
    """A one-line error: ``error: message``, exit status ``code``."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = code  # type: ignore[misc]  # click reads it per instance

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class LazyGroup(click.Group):
    """A group whose ``lazy`` commands (name: ``module:attribute``) are
    imported only when one runs (or when help lists them), so that a
    command starts without loading every other one."""

    def __init__(self, *args: Any, lazy: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            module, _, attribute = self.lazy[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attribute)
            self.add_command(command, cmd_name)
        return self.commands.get(cmd_name)


class AgiflowGroup(LazyGroup):
    """The ``agiflow`` group: every error a command meets in its
    environment (config, database, files) ends it with one line on stderr
    and a non-zero status, never a traceback. Its commands are lazy
    (``LazyGroup``)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            if type(exc) is click.ClickException:  # a command's own error: written as every other
                raise CliError(exc.format_message(), exc.exit_code) from None
            raise
        except Exception as exc:
            config_error = loaded_errors({"agi.config": ("ConfigError",)})
            if config_error and isinstance(exc, config_error):
                for error in exc.errors:  # type: ignore[attr-defined]  # ConfigError's list
                    click.echo(str(error), err=True)
                sys.exit(2)
            if not isinstance(exc, environment_errors()):
                raise
            if isinstance(exc, OSError) and exc.errno == errno.EPIPE:
                raise  # click closes a broken pipe quietly
            raise CliError(describe_error(exc, ctx.meta.get(_DATABASE_KEY))) from None


def describe_error(exc: BaseException, database: Database | None) -> str:
    """One line for an error from the environment."""
    if isinstance(exc, (sqlite3.Error, *loaded_errors(DRIVER_ERRORS))):
        where = f"the database {database}" if database is not None else "the database"
        return f"{where}: {one_line(exc)}{missing_right(exc)}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename is not None else exc.strerror
    if isinstance(exc, UnicodeEncodeError) and isinstance(exc.object, str) and exc.reason == "surrogates not allowed":
        # a command-line value with bytes that are not UTF-8 (Python keeps them as surrogates)
        shown = exc.object.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        return f"'{shown[:200]}' is not UTF-8 text: give it in UTF-8"
    return " ".join(str(exc).split()) or type(exc).__name__


def setup_logging(level: str, batched: bool = False, stream: TextIO | None = None, fmt: str = "text",
                  worker: int | None = None) -> None:
    """Log to ``stream`` (stderr) at ``level``; ``batched`` (the server)
    writes routine lines in batches at most half a second apart (agi.log_output);
    ``fmt`` ``json`` writes each line as a JSON object (agi.log_json); a
    ``worker``'s lines name it (after the logger, or as the field ``worker``)."""
    import logging

    from agi.log_json import JsonFormatter
    from agi.log_output import BoundedFormatter, batched_stderr, log_format
    # The format shows neither thread, process nor source line: don't look
    # them up for every record (the logging HOWTO's "Optimization").
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None
    stream = stream or sys.stderr
    handler = batched_stderr(stream) if batched else logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(worker=worker) if fmt == "json" else BoundedFormatter(log_format(worker)))
    logging.basicConfig(level=getattr(logging, level), handlers=[handler])


def load_flow_set(paths: list[str]) -> FlowSet:
    """Load flows or exit 1 printing every error."""
    from agi.loading.loader import load_flows
    flows, errors = load_flows(paths)
    if errors:
        for error in errors:
            click.echo(str(error), err=True)
        sys.exit(1)
    return flows


def find_flow(flow_arg: str, config_path: str | None) -> tuple[Flow, FlowSet]:
    """A flow given as a file, or by name, loaded with the configured flows
    folder so that goto targets resolve."""
    config = get_config(config_path)
    path = Path(flow_arg)
    is_file = path.suffix in (".yaml", ".yml") or path.is_file()
    if is_file and not path.is_file():
        raise click.BadParameter(f"{flow_arg}: no such flow file", param_hint="FLOW")
    folders = [config.flows] if config.flows.is_dir() else []
    if is_file and path.parent.resolve() not in [f.resolve() for f in folders]:
        folders.append(path.parent)  # flows and schedules beside the file: goto and schedule resolve
    flows = load_flow_set(([str(path)] if is_file else []) + [str(f) for f in folders])
    if is_file:
        found = [f for f in flows.flows.values() if Path(f.source).resolve() == path.resolve()]
        if not found:
            raise click.BadParameter(f"{flow_arg} holds no flow (schedules only?)", param_hint="FLOW")
        return found[0], flows
    flow = flows.get(flow_arg)
    if flow is None:
        raise click.BadParameter(f"no flow named {flow_arg!r} in {config.flows} "
                                 f"(known: {', '.join(sorted(flows.flows)) or 'none'})", param_hint="FLOW")
    return flow, flows
