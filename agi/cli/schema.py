"""``agiflow schema``."""
from __future__ import annotations

import json

import click

from agi.loading.schema import editor_schema


@click.command()
def schema() -> None:
    """Print the JSON Schema of flow files, for editors and linters."""
    click.echo(json.dumps(editor_schema(), indent=2, sort_keys=True))
