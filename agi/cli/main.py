"""The ``agiflow`` command group. Each command's module is imported only
when that command runs (``AgiflowGroup``'s ``lazy`` table), so that a
report starts without loading the server, the flow loader or the
simulator."""
from __future__ import annotations

import click

from agi import __version__
from agi.cli.common import AgiflowGroup

#: Every command: its name and where it is defined.
COMMANDS = {
    "serve": "agi.cli.serve:serve", "validate": "agi.cli.validate:validate",
    "simulate": "agi.cli.simulate:simulate", "test": "agi.cli.test:test", "graph": "agi.cli.graph:graph",
    "schema": "agi.cli.schema:schema", "status": "agi.cli.status:status",
    "callbacks": "agi.cli.callbacks:callbacks", "report": "agi.cli.report:report",
    "sounds": "agi.cli.sounds:sounds", "schedule": "agi.cli.schedule:schedule", "lists": "agi.cli.lists:lists",
    "supervisors": "agi.cli.supervisors:supervisors", "db": "agi.cli.db:db",
}


@click.group(cls=AgiflowGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="agiflow")
def cli() -> None:
    """agiflow: YAML call flows for Asterisk, served over FastAGI."""


def main() -> None:
    cli()
