"""``agiflow-agi``: the console script Asterisk runs with ``AGI(agiflow-agi,<flow>,...)``.

One process per call. It loads the configuration and the flows, reads the
``agi_*`` environment from stdin through pyst2, runs the flow with the same
session code as ``agiflow serve`` and writes the same CDR rows directly to
the configured SQLite database.

Exit status: 0 once a call has run (``AGIFLOW_STATUS`` tells how it ended);
1 when the call could not run at all (no usable config, invalid flows, CDR
database unusable), which Asterisk reports as ``AGISTATUS=FAILURE`` so the
dialplan takes its fallback; 2 for a wrong command line.
"""
from __future__ import annotations

from agi.stdio import early_hangup  # first: a SIGHUP, SIGTERM or SIGINT while the rest imports is noted, not fatal

import argparse
import errno
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Sequence, TextIO

from agi.storage.cdr_direct import DirectCdr
from agi.db.sqlite_files import guard_against_sigbus
from agi.config import Config, ConfigError, load_config
from agi.loading.loader import load_flows
from agi.engine.model import FlowSet
from agi.log_json import JsonFormatter
from agi.log_output import BoundedFormatter
from agi.services_from_config import live_services
from agi.session import SessionSettings, run_session
from agi.server.stdio_driver import OnDemandWebhooks, run_to_completion
from agi.stdio.transport import BoundedLines, DebugStream, InputTooLong, StdioTransport, environment, text_streams
from agi import early_sighup

log = logging.getLogger("agiflow.agi")

CONFIG_ENV = "AGIFLOW_CONFIG"
SYSTEM_CONFIG = Path("/etc/agiflow/config.yaml")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="agiflow-agi", usage="%(prog)s [-h] [-c CONFIG] [--log-file LOG_FILE] FLOW [ARG ...]",
        description="Run one agiflow flow as a plain AGI script: AGI(agiflow-agi,<flow>[,arg...]).")
    p.add_argument("-c", "--config", default=None,
                   help=f"config.yaml (default: ${CONFIG_ENV}, else {SYSTEM_CONFIG})")
    p.add_argument("--log-file", default=None, help="append log lines to this file instead of stderr")
    p.add_argument("flow", metavar="FLOW", nargs="?",  # required; checked in main, as argparse names ARG too
                   help="name of the flow to run, optionally with ?key=value params")
    p.add_argument("args", metavar="ARG", nargs=argparse.REMAINDER, help="arguments for the flow (args, agi_arg_N)")
    return p


def config_path(option: str | None) -> Path:
    """-c, else $AGIFLOW_CONFIG, else /etc/agiflow/config.yaml."""
    return Path(option or os.environ.get(CONFIG_ENV) or SYSTEM_CONFIG)


def log_handler(log_file: str | None) -> logging.Handler:
    """Where the lines go: ``log_file``, or stderr. A log file that cannot
    be opened is said on stderr and the lines go there: the call still runs
    (a file the Asterisk user could not write was a traceback and exit 1,
    and every call went to the fallback)."""
    if log_file:
        try:
            return logging.StreamHandler(_append_to(log_file))
        except OSError as exc:
            why = exc.strerror or str(exc)
            if exc.errno == errno.ENXIO:
                why += ": no program reads it"
            sys.stderr.write(f"agiflow-agi: cannot open the log file {log_file} ({why}); logging to stderr\n")
    return logging.StreamHandler(sys.stderr)


def _append_to(log_file: str) -> TextIO:
    """``log_file`` opened for appending without waiting: a named pipe
    no program reads is ENXIO at once (opened as a file, it held the call
    for ever before its first command)."""
    fd = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    os.set_blocking(fd, True)
    return open(fd, "a", encoding="utf-8")


def setup_logging(level: str, handler: logging.Handler, fmt: str = "text") -> None:
    handler.setFormatter(JsonFormatter() if fmt == "json" else BoundedFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    arguments = parser()
    options = arguments.parse_args(argv)
    if options.flow is None:
        arguments.error("the following argument is required: FLOW")
    handler = log_handler(options.log_file)
    setup_logging("WARNING", handler)
    for name, stream in (("input", sys.stdin), ("output", sys.stdout)):
        if stream is None:  # the descriptor is not open at all (`<&-`): no Asterisk on it
            log.error("standard %s is not open: agiflow-agi is run by Asterisk's AGI(), which gives it the call "
                      "on its standard input and output", name)
            return 1
    if sys.stdin.isatty():
        log.error("agiflow-agi is run by Asterisk: AGI(agiflow-agi,%s); for a test call use "
                  "`agiflow simulate %s --caller N`", options.flow, options.flow)
        return 2
    path = config_path(options.config)
    try:
        config = load_config(path)
    except ConfigError as exc:
        for error in exc.errors:
            log.error("%s", error)
        return 1
    setup_logging(config.log_level, handler, config.log_format)
    flows = load_flow_set(config)
    if flows is None:
        return 1
    cdr = DirectCdr(config.database)
    try:
        cdr.open()
    except Exception as exc:
        log.error("cannot open the CDR database %s: %s; not running the call", config.database, exc)
        return 1
    guard_against_sigbus(str(config.database))
    return run_call(config, flows, cdr, options.flow, options.args)


def load_flow_set(config: Config) -> FlowSet | None:
    flows, errors = load_flows([config.flows])
    for error in errors:
        log.error("%s", error)
    if errors or not flows.flows:
        log.error("not running the call: fix the flows in %s (agiflow validate %s)", config.flows, config.flows)
        return None
    return flows


def run_call(config: Config, flows: FlowSet, cdr: DirectCdr, flow: str, args: Sequence[str]) -> int:
    """Read the environment, run the session, close the CDR database."""
    from asterisk.agi import AGI

    stdin, stdout = text_streams(sys.stdin.buffer, sys.stdout.buffer)
    try:
        agi = AGI(stdin=BoundedLines(stdin, config.server.max_reply_line), stdout=stdout, stderr=DebugStream(log))
    except InputTooLong as exc:
        log.error("not running the call: %s", exc)
        cdr.close()
        return 1
    if not any(key.startswith("agi_") for key in agi.env):  # binary noise has `key: value` lines too
        log.error("not running the call: no agi_* environment on stdin; is this run by Asterisk's AGI()?")
        cdr.close()
        return 1
    env = environment(agi.env, flow, args)
    transport = StdioTransport(agi)
    if early_sighup.seen():  # the caller hung up before pyst2 took SIGHUP over
        transport.hangup_seen = True
    stop_on_signals(transport)
    stopped = early_hangup.stop_signal()
    if stopped is not None:  # while the process started: the call ends at once, with its row
        transport.stop(f"agiflow-agi stopped by {stopped.name} before the call ended")
    settings = SessionSettings(max_line=config.server.max_command_line, fallback=config.server.fallback,
                               linkedid=config.log_format == "json")
    webhooks = OnDemandWebhooks()
    services = live_services(config, cdr=cdr, webhooks=webhooks)
    session = run_session(env, transport, flows, cdr, settings, time.time, services)

    async def call_then_webhooks() -> str:
        status = await session
        await webhooks.settle()  # background webhooks end with the process otherwise
        return status

    try:
        run_to_completion(call_then_webhooks())
    finally:
        if not cdr.close():
            log.error("some CDR rows of call %s were not written (logged above)", env.uniqueid or "-")
    return 0


def stop_on_signals(transport: StdioTransport) -> None:
    """SIGTERM and SIGINT (a system shutdown, an operator) end the call as
    ``interrupted`` and write its CDR row, instead of killing the process
    with the row left ``in_progress`` (or a KeyboardInterrupt traceback)."""
    def stop(signum: int, _frame: Any) -> None:
        transport.stop(f"agiflow-agi stopped by {signal.Signals(signum).name} before the call ended")

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)


def entry_point() -> None:
    early_hangup.catch_stops()  # when started otherwise than as agiflow-agi
    sys.exit(main())
