"""``agiflow serve``."""
from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path
from typing import Callable

import click

from agi.cli.common import (CliError, checked_database, config_option, config_or_default, get_config, get_database,
                            setup_logging)
from agi.cli.database import Need
from agi.config import MAX_WORKERS, ServerConfig, worker_count
from agi.loading.files import MAX_YAML_FILE_BYTES, FileTooLarge, read_capped

#: The environment variable through which the supervisor gives its workers the config it read.
SNAPSHOT = "AGIFLOW_CONFIG_SNAPSHOT"
#: Longer configs are read from the file by each worker (an environment string is limited).
MAX_SNAPSHOT = 100_000


@click.command()
@config_option
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Override server.port (0 picks a free port).")
@click.option("--workers", type=click.IntRange(1, MAX_WORKERS), default=None,
              help="Reactor processes on the port (overrides server.workers; default: one per CPU).")
@click.option("--worker", "worker_index", type=click.IntRange(1, MAX_WORKERS), default=None, hidden=True,
              help="Run as worker N of a supervisor (started by agiflow serve itself).")
def serve(config_path: str | None, port: int | None, workers: int | None, worker_index: int | None) -> None:
    """Run the FastAGI server for Asterisk.

    Listens on server.host:server.port (127.0.0.1:4573 by default), refuses to
    start on any invalid flow, reloads flows on SIGHUP and when a flow file
    changes (keeping the old set if the new one is invalid), and on SIGTERM
    stops accepting calls and lets running ones finish. With more than one
    worker (one per CPU by default), a supervisor runs that many server
    processes on the port, restarts any that dies, and passes SIGHUP and
    SIGTERM to all of them.
    """
    from dataclasses import replace

    from agi import early_sighup, early_stop

    early_sighup.catch()  # a SIGHUP before the server's handler is noted, not fatal
    _log_stray_signals()
    config_path = config_or_default(config_path)
    text = config_snapshot(config_path, worker_index)
    if worker_index is not None:
        _exit(run_worker(config_path, text, port, worker_index))
    config, _ = get_database(config_path, Need.WRITE, text=text)  # checked before the log starts: one line, exit 1
    if port is not None:
        config = replace(config, server=replace(config.server, port=port))
    count = workers or worker_count(config.server)
    metrics = config.server.metrics
    if metrics is not None and metrics.port and metrics.port + count - 1 > 65535:
        raise CliError(f"server.metrics.port {metrics.port} leaves no port for worker {count}: worker N listens on "
                       f"server.metrics.port + N - 1; give a port of at most {65536 - count}")
    taken = metrics_on_fastagi_port(config.server, count)
    if taken is not None:
        raise CliError(taken)
    early_stop.catch()  # a Ctrl-C or SIGTERM from here on stops the server once it runs, in order
    setup_logging(config.log_level, batched=True, fmt=config.log_format)
    if count == 1:
        from agi.server.service import serve as run_server

        _exit(run_server(config))
    from agi.server.fleet import supervise

    if text is not None and len(text) < MAX_SNAPSHOT and b"\0" not in text:
        os.environ[SNAPSHOT] = text.decode("utf-8")  # every worker runs with the config read here
    _exit(supervise(config, count, worker_command(config_path)))


#: Signals agiflow gives no meaning to, which would kill it left to their default action.
STRAY_SIGNALS = (signal.SIGUSR1, signal.SIGUSR2)


def _log_stray_signals() -> None:
    """SIGUSR1 and SIGUSR2 are logged and ignored: left to their default
    action, one sent by habit (a log rotation script's ``kill -USR1``) cut
    every call. A worker's own SIGUSR1 (a failed reload its supervisor
    tells it of) takes this one's place once it listens."""
    server_log = logging.getLogger("agiflow.server")

    def ignored(signum: int, _frame: object) -> None:
        server_log.warning("signal %s ignored: SIGHUP reloads the flows, SIGTERM stops the server",
                           signal.Signals(signum).name)

    for signum in STRAY_SIGNALS:
        signal.signal(signum, ignored)


def _exit(code: int) -> None:
    """Exit with ``code``. Python gives its signal handlers back to SIG_DFL
    on its way out: a SIGHUP then (a reload asked for during a stop), or a
    repeated SIGTERM or SIGINT (only logged while the server ran), killed
    the process after its last CDR, its exit status that of the signal."""
    for signum in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT, *STRAY_SIGNALS):
        signal.signal(signum, signal.SIG_IGN)
    sys.exit(code)


#: Hosts a listener on which takes the port on every address.
_WILDCARDS = {"", "0.0.0.0", "::"}


def metrics_on_fastagi_port(server: ServerConfig, count: int) -> str | None:
    """Why the metrics listeners of ``count`` workers (ports server.metrics.port
    to + count - 1) would take the FastAGI port on its host, or None."""
    metrics = server.metrics
    if metrics is None or not metrics.port or not server.port:
        return None
    hosts = {_local(server.host), _local(metrics.host)}
    if len(hosts) > 1 and not hosts & _WILDCARDS:
        return None
    if not metrics.port <= server.port < metrics.port + count:
        return None
    listener = "server.metrics.port" if server.port == metrics.port else \
        f"worker {server.port - metrics.port + 1}'s metrics port (server.metrics.port + {server.port - metrics.port})"
    wanted = "another port" if count == 1 else f"a port outside {server.port - count + 1} to {server.port}"
    return (f"{listener} is server.port {server.port}: the metrics listener would take the port Asterisk "
            f"calls; give server.metrics.port {wanted}")


def _local(host: str) -> str:
    return "127.0.0.1" if host == "localhost" else host


def run_worker(config_path: str | None, text: bytes | None, port: int | None, index: int) -> int:
    """Worker ``index`` of a supervisor: its log starts before the database
    is checked, so that a database it cannot use (down while it is started
    again) is a line of the log, in its format, naming the worker."""
    from dataclasses import replace

    from agi.server.service import serve as run_server
    from agi.server.worker import WorkerRole

    config = get_config(config_path, text)
    if port is not None:
        config = replace(config, server=replace(config.server, port=port))
    setup_logging(config.log_level, batched=True, fmt=config.log_format, worker=index)
    try:
        checked_database(config.database, Need.WRITE)
    except CliError as exc:
        logging.getLogger("agiflow.server").error("not starting: %s", exc.format_message())  # goes out at once
        return 1
    return run_server(config, worker=WorkerRole(index))


def config_snapshot(config_path: str | None, worker_index: int | None) -> bytes | None:
    """The config's contents: a worker's from its supervisor (the file may
    have changed since it started: a worker started again after a crash
    runs with the same config as the others); the file's for the supervisor,
    read once (None when it cannot be read or is too large: loading it says why)."""
    if worker_index is not None:
        snapshot = os.environ.get(SNAPSHOT)
        return snapshot.encode("utf-8") if snapshot is not None else None
    if config_path is None:
        return None
    try:
        return read_capped(config_path, MAX_YAML_FILE_BYTES)
    except (OSError, FileTooLarge):
        return None


def worker_command(config_path: str | None) -> Callable[[int], list[str]]:
    """A worker's argv: this command again, as worker N of the same config."""
    config = ["-c", str(Path(config_path).resolve())] if config_path is not None else []
    return lambda index: [sys.executable, "-m", "agi.cli", "serve", *config, "--worker", str(index)]
