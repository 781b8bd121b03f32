"""The Asterisk side of a FastAGI session, simulated for tests and offline runs.

``parse_args`` reads a command line as res_agi.c does; ``SimulatedAsterisk``
answers commands exactly as Asterisk 22 does in the recorded transcripts;
``SimTransport`` drives ``agi.channel.Channel`` against it without a socket;
``run_simulated_call`` plays it over TCP against a running FastAGI server,
``run_simulated_ha_call`` against the first of several that accepts, as
``hagi://`` does.
"""
from __future__ import annotations

from agi.sim.asterisk import SimulatedAsterisk
from agi.sim.script import (
    DEFAULT_SOUNDS,
    CallerScript,
    DtmfEntry,
    EverySound,
    make_environment,
)
from agi.sim.client import SimulatedCallResult, run_simulated_call, run_simulated_ha_call
from agi.sim.parse_args import MAX_WORDS, parse_args
from agi.sim.transport import SimExchange, SimTransport, run_sync

__all__ = [
    "DEFAULT_SOUNDS",
    "MAX_WORDS",
    "CallerScript",
    "DtmfEntry",
    "EverySound",
    "SimExchange",
    "SimTransport",
    "SimulatedAsterisk",
    "SimulatedCallResult",
    "make_environment",
    "parse_args",
    "run_simulated_call",
    "run_simulated_ha_call",
    "run_sync",
]
