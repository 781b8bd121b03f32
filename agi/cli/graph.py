"""``agiflow graph``."""
from __future__ import annotations

import click

from agi.cli.common import config_option, find_flow
from agi.loading import diagram


@click.command()
@click.argument("flow")
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid", show_default=True)
@config_option
def graph(flow: str, fmt: str, config_path: str | None) -> None:
    """Print FLOW (a name or a file) as a Mermaid or Graphviz diagram."""
    found, _ = find_flow(flow, config_path)
    click.echo(diagram.mermaid(found) if fmt == "mermaid" else diagram.dot(found), nl=False)
