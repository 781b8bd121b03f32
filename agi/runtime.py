"""Build the ``Services`` steps use from the configuration: the real stores
for ``agiflow serve``, and read-only or in-memory ones for simulations."""
from __future__ import annotations

from agi.config import Config
from agi.services import Services


def server_services(config: Config) -> Services:
    """Services of a running server, backed by the configured database."""
    return Services(recordings=config.recordings, default_region=config.default_region)


def simulation_services(config: Config) -> Services:
    """Services for ``agiflow simulate`` and ``agiflow test``: lists and
    overrides are read from the database when it exists; nothing is written
    and no webhook is sent."""
    return Services(recordings=config.recordings, default_region=config.default_region)
