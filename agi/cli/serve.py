"""``agiflow serve``."""
from __future__ import annotations

import sys

import click

from agi.cli.common import config_option, get_database, setup_logging
from agi.cli.database import Need


@click.command()
@config_option
@click.option("--port", type=int, default=None, help="Override server.port (0 picks a free port).")
def serve(config_path: str | None, port: int | None) -> None:
    """Run the FastAGI server for Asterisk.

    Listens on server.host:server.port (127.0.0.1:4573 by default), refuses to
    start on any invalid flow, reloads flows on SIGHUP and when a flow file
    changes (keeping the old set if the new one is invalid), and on SIGTERM
    stops accepting calls and lets running ones finish.
    """
    from dataclasses import replace

    from agi.server.service import serve as run_server

    config, _ = get_database(config_path, Need.WRITE)  # checked before the log starts: one line, exit 1
    if port is not None:
        config = replace(config, server=replace(config.server, port=port))
    setup_logging(config.log_level, batched=True, fmt=config.log_format)
    sys.exit(run_server(config))
