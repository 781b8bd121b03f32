"""``agiflow serve``."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import click

from agi.cli.common import config_option, get_database, setup_logging
from agi.cli.database import Need
from agi.config import MAX_WORKERS, worker_count


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

    config, _ = get_database(config_path, Need.WRITE)  # checked before the log starts: one line, exit 1
    if port is not None:
        config = replace(config, server=replace(config.server, port=port))
    count = workers or worker_count(config.server)
    if worker_index is not None:
        from agi.server.service import serve as run_server
        from agi.server.worker import WorkerRole

        setup_logging(config.log_level, batched=True, fmt=config.log_format, worker=worker_index)
        sys.exit(run_server(config, worker=WorkerRole(worker_index)))
    setup_logging(config.log_level, batched=True, fmt=config.log_format)
    if count == 1:
        from agi.server.service import serve as run_server

        sys.exit(run_server(config))
    from agi.server.fleet import supervise

    sys.exit(supervise(config, count, worker_command(config_path)))


def worker_command(config_path: str | None) -> Callable[[int], list[str]]:
    """A worker's argv: this command again, as worker N of the same config."""
    config = ["-c", str(Path(config_path).resolve())] if config_path is not None else []
    return lambda index: [sys.executable, "-m", "agi.cli", "serve", *config, "--worker", str(index)]
