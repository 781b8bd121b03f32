"""Build the ``Services`` steps use from the configuration: the real stores
for ``agiflow serve`` and ``agiflow-agi``, and read-only or in-memory ones
for simulations. The webhook sender is given by the caller: the server's
lives in agi/server, so nothing here touches the network."""
from __future__ import annotations

from agi.storage.callbacks import StoredCallbackRequests, Writer
from agi.config import Config
from agi.db.location import PostgresUrl
from agi.lists.store import server_lists
from agi.storage.history import server_history, simulation_history
from agi.storage.supervisors import server_supervisors
from agi.storage.overrides import server_override_changes, server_overrides, simulation_overrides
from agi.storage.stores import number_lists, simulation_callbacks
from agi.metered import MeteredLists, MeteredWebhooks
from agi.metrics import NO_METRICS, Metrics
from agi.services import Services, Webhooks
from agi.session import SessionSettings
from agi.webhooks import DryRunWebhooks

#: Connections the server's PostgreSQL lookups may use at once
#: (agi/server/database_threads.py runs them in as many threads).
LOOKUP_CONNECTIONS = 4


def live_services(config: Config, *, cdr: Writer | None = None, webhooks: Webhooks | None = None,
                  metrics: Metrics = NO_METRICS) -> Services:
    """Services of calls on a live channel (``agiflow serve``, ``agiflow-agi``),
    backed by the configured database. Callback requests go through the CDR
    writer ``cdr``; ``webhooks`` posts the flows' webhooks; list checks and
    webhooks are counted in ``metrics``."""
    services = Services(recordings=config.recordings, default_region=config.default_region, webhooks=webhooks,
                        metrics=metrics)
    if cdr is not None:
        services.callbacks = StoredCallbackRequests(cdr)
    services.overrides = server_overrides(config.database)
    services.override_changes = server_override_changes(config.database)
    services.history = server_history(config.database)
    services.supervisors = server_supervisors(config.database)
    if isinstance(config.database, PostgresUrl):
        services.lists = number_lists(config.database, config.default_region, threads=LOOKUP_CONNECTIONS,
                                      wait=config.database_timeout)
    else:
        services.lists = server_lists(config.database, config.default_region)
    if metrics is not NO_METRICS:
        services.lists = MeteredLists(services.lists, metrics)
        if webhooks is not None:
            services.webhooks = MeteredWebhooks(webhooks, metrics)
    return services


def simulation_settings(config: Config) -> SessionSettings:
    """What ``agiflow simulate`` and ``agiflow test`` take from the server's
    settings, so that a call goes as it would on the server: the longest
    command line sent, and the fallback a failed call is sent to."""
    return SessionSettings(max_line=config.server.max_command_line, fallback=config.server.fallback)


def simulation_services(config: Config) -> Services:
    """Services for ``agiflow simulate`` and ``agiflow test``: lists,
    overrides, earlier calls and pending callback requests are read from the
    database when it exists; nothing is written and no webhook is sent."""
    services = Services(recordings=config.recordings, default_region=config.default_region)
    services.callbacks = simulation_callbacks(config.database)  # shown by agiflow simulate
    services.webhooks = DryRunWebhooks()  # records what would be posted
    services.overrides = simulation_overrides(config.database)
    services.lists = number_lists(config.database, config.default_region, read_only=True)
    services.history = simulation_history(config.database)
    return services
