"""The flows the server runs: loaded from a folder, replaced whole on reload,
kept as they were when the new files have any error. Each load is counted,
and logs each flow's version that changed (agi/loading/versions.py)."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable, NamedTuple

from agi.loading.files import flow_files
from agi.loading.loader import load_flows
from agi.engine.model import FlowSet
from agi.loading.versions import folder_commit, version_changes
from agi.loading.yamlio import SourceError
from agi.wording import counted

log = logging.getLogger("agiflow.flows")


class Loaded(NamedTuple):
    """What ``FlowLibrary.load`` read: the files' snapshot, the flows, their errors."""

    snapshot: tuple[tuple[str, int, int], ...]
    flows: FlowSet
    errors: list[SourceError]


class FlowLibrary:
    """Holds the current FlowSet; calls in progress keep the set they began with."""

    def __init__(self, folder: str | Path, on_load: Callable[[FlowSet], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.folder = Path(folder)
        self.on_load = on_load
        self.clock = clock
        self.current = FlowSet()
        #: The Git commit of the flows folder when the set was loaded (None: not in Git).
        self.commit: str | None = None
        #: Loads tried (the first one included), and those that kept the previous set.
        self.reloads = 0
        self.reload_errors = 0
        #: When the last load was tried, and when the current set was loaded.
        self.last_reload_at: float | None = None
        self.loaded_at: float | None = None
        self._snapshot: tuple[tuple[str, int, int], ...] = ()
        self._unlisted = False
        #: Report successful loads at DEBUG (errors are always reported): a
        #: worker's, or a supervisor's, which reports each reload once, when
        #: every worker has done it.
        self.quiet = False

    def __call__(self) -> FlowSet:
        return self.current

    @property
    def last_reload_ok(self) -> bool:
        """False when the last load failed (the previous flows are kept)."""
        return self.last_reload_at is None or self.last_reload_at == self.loaded_at

    def snapshot(self) -> tuple[tuple[str, int, int], ...]:
        """Name, mtime and size of every flow file: changes when any file does.
        A folder that cannot be listed (no file descriptor left, a subfolder
        removed while it is read) is logged once and taken as unchanged, so
        the watcher that calls this every few seconds goes on and looks again."""
        try:
            files = flow_files([self.folder]) if self.folder.exists() else []
        except Exception as exc:  # OSError, and anything else: the watcher must go on
            if not self._unlisted:
                reason = exc if isinstance(exc, OSError) else f"{type(exc).__name__}: {exc}"
                log.error("cannot list the flow files in %s (%s); looking again at the next check", self.folder,
                          reason)
            self._unlisted = True
            return self._snapshot
        if self._unlisted:
            log.warning("the flow files in %s can be listed again", self.folder)
            self._unlisted = False
        found = []
        for path in files:
            try:
                stat = path.stat()
            except OSError:
                continue
            found.append((str(path), stat.st_mtime_ns, stat.st_size))
        return tuple(found)

    def reload(self) -> list[SourceError]:
        """Load the folder again; on any error keep the old set and return the errors."""
        return self.apply(self.load())

    def load(self) -> Loaded:
        """Read and check the folder, changing nothing: the part of a reload
        that takes time (seconds for a large flow file), which a server runs
        on a thread of its own while it serves calls; ``apply`` then takes
        its result, on the thread that serves them."""
        snapshot = self.snapshot()
        flows = FlowSet()
        if not self.folder.is_dir():
            errors = [SourceError(str(self.folder), 1, "flows folder does not exist")]
        else:
            try:
                flows, errors = load_flows([self.folder])
            except Exception as exc:  # a loader bug must not stop the watcher: report it, keep the flows
                log.exception("loading the flows failed")
                errors = [SourceError(str(self.folder), 1, f"could not load the flows: {exc!r}")]
            if not errors and not flows.flows:
                errors = [SourceError(str(self.folder), 1, "no flow files (*.yaml) in the flows folder")]
        return Loaded(snapshot, flows, errors)

    def apply(self, loaded: Loaded) -> list[SourceError]:
        """Serve the flows ``load`` read, or keep the old set and report
        its errors; returns them."""
        snapshot, flows, errors = loaded
        self._snapshot = snapshot
        self.reloads += 1
        self.last_reload_at = self.clock()
        if errors:
            self.reload_errors += 1
            for error in errors:
                log.error("%s", error)
            if self.loaded_at is None:  # the first load: nothing is served
                log.error("flows not loaded: %s", counted(len(errors), "error"))
            else:
                log.error("flows not reloaded: %s; still serving the previous %s", counted(len(errors), "error"),
                          counted(len(self.current), "flow"))
            return errors
        previous, self.current, self.loaded_at = self.current, flows, self.last_reload_at
        self.commit = folder_commit(self.folder)
        self.announce(previous, logging.DEBUG if self.quiet else logging.INFO)
        if self.on_load is not None:
            self.on_load(flows)
        return []

    def count_failed_load(self) -> None:
        """Count a load that failed elsewhere and kept the flows served: a
        worker's, when its supervisor's load of the same files failed (the
        supervisor logs the errors and asks no worker to load them)."""
        self.reloads += 1
        self.reload_errors += 1
        self.last_reload_at = self.clock()

    def announce(self, previous: FlowSet, level: int = logging.INFO) -> None:
        """Log the set loaded, and each flow whose version changed since ``previous``."""
        flows = self.current
        log.log(level, "loaded %s from %s: %s%s", counted(len(flows), "flow"), self.folder, ", ".join(sorted(flows.flows)),
                f" (commit {self.commit})" if self.commit else "")
        for change in version_changes(previous.versions(), flows.versions()):
            log.log(level, "flow %s", change)

    def changed(self) -> bool:
        """A flow file was added, removed or changed since the last load."""
        return self.snapshot() != self._snapshot

    def reload_if_changed(self) -> bool:
        """Reload when a flow file was added, removed or changed."""
        if not self.changed():
            return False
        self.reload()
        return True
