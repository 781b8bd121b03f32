"""What ``/health`` and ``/ready`` answer, as plain data (no Twisted here).

``health`` says the process serves and what it is doing: calls running per
flow, the CDR backlog, the last reload and every flow's version. It only
reads memory. ``readiness`` checks what a call needs: flows loaded, the
server taking calls (not draining), the CDR database writable and every
number list the flows use present. It reads the database, so the HTTP
side runs it off the reactor thread. docs/operations.md describes both.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from agi import __version__
from agi.engine.model import FlowSet
from agi.db.location import Database
from agi.services import ListUnavailable
from agi.storage.stores import missing_lists
from agi.loading.library import FlowLibrary
from agi.steps.base import node_of
from agi.storage.cdr_writer import CdrStore
from agi.vocabulary import iso
from agi.wording import counted


class Calls(Protocol):
    """Where calls are admitted (agi/server/factory.py)."""

    accepting: bool
    rejected: int


@dataclass
class ServerState:
    """The parts of a running server health, readiness and metrics read.
    ``active`` maps a flow to its running calls (agi.metered.MeteredCdr)."""

    library: FlowLibrary
    store: CdrStore
    calls: Calls
    active: dict[str, int] = field(default_factory=dict)
    clock: Callable[[], float] = time.time
    started_at: float = field(default_factory=time.time)


def health(state: ServerState) -> dict[str, Any]:
    """The process serves: what ``/health`` answers (always 200)."""
    library = state.library
    return {
        "status": "ok", "version": __version__, "pid": os.getpid(),
        "started_at": iso(state.started_at), "uptime_seconds": round(state.clock() - state.started_at, 3),
        "accepting_calls": state.calls.accepting,
        "calls_active": dict(sorted(state.active.items())), "cdr_backlog": state.store.pending,
        "flows": dict(sorted(library.current.versions().items())), "flows_commit": library.commit,
        "reloads": {"total": library.reloads, "errors": library.reload_errors,
                    "last_at": iso(library.last_reload_at), "last_successful": library.last_reload_ok,
                    "loaded_at": iso(library.loaded_at)},
    }


def readiness(state: ServerState) -> dict[str, Any]:
    """Whether a call would be served well: what ``/ready`` answers (200
    when ``ready``, else 503). Reads the database: not on the reactor."""
    checks = {
        "flows": _flows(state.library.current),
        "accepting_calls": _check(state.calls.accepting, "taking calls" if state.calls.accepting
                                  else "shutting down: no new calls"),
        "database": _database(state.store),
        "lists": _lists(state.library.current, Path(state.store.path) if state.store.sqlite else state.store.database),
    }
    return {"ready": all(check["ok"] for check in checks.values()), "checks": checks}


def _check(ok: bool, detail: str) -> dict[str, Any]:
    return {"ok": ok, "detail": detail}


def _flows(flows: FlowSet) -> dict[str, Any]:
    count = len(flows)
    return _check(count > 0, f"{counted(count, 'flow')} loaded" if count else "no flows loaded")


def _database(store: CdrStore) -> dict[str, Any]:
    path = Path(store.path)
    if not store.running:
        return _check(False, "the CDR writer is not running")
    trouble = store.trouble
    if trouble is not None:
        return _check(False, f"cannot write CDRs to {store.database}: {trouble}; {store.pending} operations kept")
    if not store.sqlite:  # PostgreSQL: the writer's last write succeeded
        return _check(True, f"{store.database} writable; {store.pending} operations queued")
    if not path.is_file():
        return _check(False, f"the CDR database {path} is gone")
    if not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
        return _check(False, f"the CDR database {path} or its folder is not writable")
    return _check(True, f"{path} writable; {store.pending} operations queued")


def _lists(flows: FlowSet, database: Database) -> dict[str, Any]:
    users = list_users(flows)
    try:
        missing = missing_lists(database, users)
    except ListUnavailable as exc:
        used = "; ".join(f"{name} (used by {', '.join(sorted(users[name]))})" for name in sorted(users))
        return _check(False, f"{exc}; lists used: {used}")
    if missing:
        named = "; ".join(f"{name} (used by {', '.join(sorted(users[name]))})" for name in missing)
        return _check(False, f"missing number lists: {named}")
    return _check(True, f"{counted(len(users), 'number list')} present" if users else "no flow uses a number list")


def list_users(flows: FlowSet) -> dict[str, set[str]]:
    """Each number list the flows read, and the flows that read it."""
    users: dict[str, set[str]] = {}
    for flow in flows.flows.values():
        for step in flow.steps.values():
            for name in node_of(step).list_references():
                users.setdefault(name, set()).add(flow.name)
    return users
