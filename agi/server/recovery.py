"""What a node or a worker does before it takes calls: write the CDR
operations an earlier run left in its journals, then mark the calls it left
running as interrupted (docs/database.md#the-journal, docs/cdr.md)."""
from __future__ import annotations

import logging
import sqlite3
from dataclasses import replace

import psycopg

from agi.config import Config
from agi.server.worker import worker_journals
from agi.storage.cdr_starts import starts_path
from agi.storage.cdr_writer import CdrStore
from agi.storage.journal import JournalError
from agi.storage.migrations import SchemaError

log = logging.getLogger("agiflow.server")


def open_store(config: Config, node: str | None, worker: int | None = None) -> CdrStore | None:
    """The CDR store, its schema up to date and the calls ``node`` (or only
    its ``worker``) left running marked interrupted (see CdrStore.open);
    None, logged, if it cannot be."""
    store = CdrStore(config.database, journal=config.journal, rollups=config.reports.thresholds)
    try:
        interrupted = store.open(node, worker)
    except JournalError as exc:
        log.error("not starting: %s", exc)
        return None
    except (sqlite3.Error, psycopg.Error, OSError, SchemaError) as exc:
        log.error("not starting: cannot open the CDR database %s: %s", config.database, " ".join(str(exc).split()))
        return None
    if interrupted:
        log.warning("marked %d calls left running by the previous server as interrupted", interrupted)
    return store


def replay_worker_journals(config: Config, node: str) -> bool:
    """Write the CDR operations every worker of an earlier run left in its
    journal (and the calls it started but had not written), each journal then marking that worker's calls interrupted, before
    the node marks the rest (the rows a journal holds must be written first).
    False, logged, when a journal cannot be written: not starting."""
    for index, path in worker_journals(config.journal):
        starts = starts_path(path)
        left = path.stat().st_size or (starts.exists() and starts.stat().st_size)
        if left and not recovered(replace(config, journal=path), node, index):
            return False
    return True


def recovered(config: Config, node: str, worker: int | None = None) -> bool:
    """open_store for its recovery alone (the journal, the marking); the
    supervisor writes no CDR itself. False, logged, when it failed."""
    store = open_store(config, node, worker)
    if store is not None:
        store.waiting.close_journal()  # and the calls' first rows beside it
    return store is not None
