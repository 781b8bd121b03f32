"""Options and helpers shared by the commands."""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TextIO

import click

from agi.config import Config, ConfigError, load_config
from agi.loading.loader import load_flows
from agi.engine.model import Flow, FlowSet
from agi.log_json import JsonFormatter
from agi.log_output import LOG_FORMAT, batched_stderr

DEFAULT_CONFIG = "config.yaml"

config_option = click.option(
    "-c", "--config", "config_path", type=click.Path(dir_okay=False), default=None,
    help=f"Configuration file (default: ./{DEFAULT_CONFIG} when it exists, else built-in defaults).",
)


def get_config(config_path: str | None) -> Config:
    """Load the config or exit 2 with every error as file:line: message."""
    if config_path is None and Path(DEFAULT_CONFIG).exists():
        config_path = DEFAULT_CONFIG
    try:
        return load_config(config_path)
    except ConfigError as exc:
        for error in exc.errors:
            click.echo(str(error), err=True)
        sys.exit(2)


def setup_logging(level: str, batched: bool = False, stream: TextIO | None = None, fmt: str = "text") -> None:
    """Log to ``stream`` (stderr) at ``level``; ``batched`` (the server)
    writes routine lines in batches at most half a second apart (agi.log_output);
    ``fmt`` ``json`` writes each line as a JSON object (agi.log_json)."""
    # The format shows neither thread, process nor source line: don't look
    # them up for every record (the logging HOWTO's "Optimization").
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None  # type: ignore[attr-defined]
    stream = stream or sys.stderr
    handler = batched_stderr(stream) if batched else logging.StreamHandler(stream)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=getattr(logging, level), format=LOG_FORMAT, handlers=[handler])


def load_flow_set(paths: list[str]) -> FlowSet:
    """Load flows or exit 1 printing every error."""
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
    folders = [config.flows] if config.flows.is_dir() else []
    if is_file and path.parent.resolve() not in [f.resolve() for f in folders]:
        folders.append(path.parent)  # flows and schedules beside the file: goto and schedule resolve
    flows = load_flow_set(([str(path)] if is_file else []) + [str(f) for f in folders])
    if is_file:
        found = [f for f in flows.flows.values() if Path(f.source).resolve() == path.resolve()]
        return found[0], flows
    flow = flows.get(flow_arg)
    if flow is None:
        raise click.BadParameter(f"no flow named {flow_arg!r} in {config.flows} "
                                 f"(known: {', '.join(sorted(flows.flows)) or 'none'})", param_hint="FLOW")
    return flow, flows
