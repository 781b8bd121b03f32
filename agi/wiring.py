"""Build the ``Services`` steps use from the configuration: the real stores
for ``agiflow serve``, and read-only or in-memory ones for simulations."""
from __future__ import annotations

from typing import Any

from agi.storage.callbacks import MemoryCallbackRequests, StoredCallbackRequests, Writer
from agi.config import Config
from agi.lists.store import server_lists, simulation_lists
from agi.storage.overrides import server_overrides, simulation_overrides
from agi.services import Services
from agi.webhooks import DryRunWebhooks, OnDemandWebhooks


def server_services(config: Config, *, cdr: Writer | None = None, reactor: Any = None) -> Services:
    """Services of a running server, backed by the configured database.
    Callback requests go through the CDR writer ``cdr``; webhooks are
    posted on ``reactor``."""
    services = Services(recordings=config.recordings, default_region=config.default_region)
    if cdr is not None:
        services.callbacks = StoredCallbackRequests(cdr)
    if reactor is not None:
        from agi.server.webhooks import TwistedWebhooks
        services.webhooks = TwistedWebhooks(reactor)
    services.overrides = server_overrides(config.database)
    services.lists = server_lists(config.database, config.default_region)
    return services


def process_services(config: Config, cdr: Writer) -> Services:
    """Services of one plain AGI process (``agiflow-agi``): the server's,
    with webhooks posted on a reactor that runs only if a flow posts one."""
    services = server_services(config, cdr=cdr)
    services.webhooks = OnDemandWebhooks()
    return services


def simulation_services(config: Config) -> Services:
    """Services for ``agiflow simulate`` and ``agiflow test``: lists and
    overrides are read from the database when it exists; nothing is written
    and no webhook is sent."""
    services = Services(recordings=config.recordings, default_region=config.default_region)
    services.callbacks = MemoryCallbackRequests()  # shown by agiflow simulate
    services.webhooks = DryRunWebhooks()  # records what would be posted
    services.overrides = simulation_overrides(config.database)
    services.lists = simulation_lists(config.database, config.default_region)
    return services
