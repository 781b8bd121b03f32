"""``agiflow validate``."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Mapping

import click

from agi.cli.common import FileName, config_option, configured_flows, get_config
from agi.config import Config
from agi.loading.loader import load_flows
from agi.loading.template_check import params_warnings
from agi.sounds.check import missing_prompts, prompt_conflicts
from agi.wording import counted


@click.command()
@click.argument("paths", nargs=-1, type=FileName(readable=False))  # file:1: reason, exit 1
@config_option
def validate(paths: tuple[str, ...], config_path: str | None) -> None:
    """Check flow files (default: the configured flows folder).

    Prints every error as file:line: message and exits 1 when there is any.
    A prompt a flow plays that is neither in the sounds folder nor an
    Asterisk core sound, a prompt two flows give different texts, and a
    template that reads a params key the flow gives no default, are
    warnings: printed, exit status still 0.
    """
    config = get_config(config_path)
    targets = list(paths) or [configured_flows(config)]
    flows, errors = load_flows(targets)
    for error in errors:
        click.echo(str(error))
    if not errors and not flows.flows and not flows.schedules:
        click.echo(f"{', '.join(targets)}: no flow files (*.yaml, *.yml) found")
        sys.exit(1)
    if errors:
        click.echo(counted(len(errors), 'error'), err=True)
        sys.exit(1)
    warnings = [*missing_prompts(flows, sounds_folder(config, targets)), *prompt_conflicts(flows),
                *params_warnings(flows.flows)]
    for warning in warnings:
        click.echo(str(warning))
    count = f", {counted(len(warnings), 'warning')}" if warnings else ""
    valid = [_valid(flows.flows, "flow"), _valid(flows.schedules, "schedule")]
    click.echo(f"ok: {', '.join(filter(None, valid))}{count}")


def _valid(names: Mapping[str, object], kind: str) -> str:
    """``2 flows valid (closed, support)``; nothing when there are none."""
    if not names:
        return ""
    return f"{counted(len(names), kind)} valid ({', '.join(sorted(names))})"


def sounds_folder(config: Config, targets: list[str]) -> Path:
    """The configured ``sounds`` folder when it exists; else the ``sounds``
    folder beside the flows being checked (a project's flows/ and sounds/
    side by side), when that one exists."""
    if config.sounds.is_dir():
        return config.sounds
    for target in map(Path, targets):
        beside = (target if target.is_dir() else target.parent).resolve().parent / "sounds"
        if beside.is_dir():
            return beside
    return config.sounds
