"""Build the ``Services`` steps use from the configuration: the real stores
for ``agiflow serve``, and read-only or in-memory ones for simulations."""
from __future__ import annotations

from agi.config import Config
from agi.lists.store import server_lists, simulation_lists
from agi.schedule.overrides import server_overrides, simulation_overrides
from agi.services import Services


def server_services(config: Config) -> Services:
    """Services of a running server, backed by the configured database."""
    services = Services(recordings=config.recordings, default_region=config.default_region)
    services.overrides = server_overrides(config.database)
    services.lists = server_lists(config.database, config.default_region)
    return services


def simulation_services(config: Config) -> Services:
    """Services for ``agiflow simulate`` and ``agiflow test``: lists and
    overrides are read from the database when it exists; nothing is written
    and no webhook is sent."""
    services = Services(recordings=config.recordings, default_region=config.default_region)
    services.overrides = simulation_overrides(config.database)
    services.lists = simulation_lists(config.database, config.default_region)
    return services
