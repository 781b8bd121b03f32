"""The ``agiflow`` command group."""
from __future__ import annotations

import click

from agi import __version__
from agi.cli.callbacks import callbacks
from agi.cli.common import AgiflowGroup
from agi.cli.db import db
from agi.cli.graph import graph
from agi.cli.lists import lists
from agi.cli.report import report
from agi.cli.schedule import schedule
from agi.cli.schema import schema
from agi.cli.serve import serve
from agi.cli.simulate import simulate
from agi.cli.sounds import sounds
from agi.cli.status import status
from agi.cli.supervisors import supervisors
from agi.cli.test import test
from agi.cli.validate import validate


@click.group(cls=AgiflowGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="agiflow")
def cli() -> None:
    """agiflow: YAML call flows for Asterisk, served over FastAGI."""


for command in (serve, validate, simulate, test, graph, schema):
    cli.add_command(command)
cli.add_command(status)
cli.add_command(callbacks)
cli.add_command(report)
cli.add_command(sounds)
cli.add_command(schedule)
cli.add_command(lists)
cli.add_command(supervisors)
cli.add_command(db)


def main() -> None:
    cli()
