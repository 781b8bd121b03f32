"""Settings the config file gives and the call's services use: where
recordings go, and where the dialplan continues when a flow cannot run.
Apart from ``agi.services`` so that reading the config (which every
command does) loads no more than it needs."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RecordingSettings:
    """Where MixMonitor writes recordings and in which format."""

    directory: str = "/var/spool/asterisk/monitor/agiflow"
    format: str = "wav"


@dataclass(frozen=True)
class Fallback:
    """Where the dialplan continues when the flow cannot run."""

    context: str
    extension: str = "s"
    priority: str = "1"
