"""The supervisor of ``agiflow serve --workers N`` without processes: a fake
spawn stands for reactor.spawnProcess and a clock for time, so starting,
restarting with backoff, forwarding signals and stopping are exact."""
from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from typing import Any, Iterator

import pytest
from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure

from agi.config import ServerConfig
from agi.loading.library import FlowLibrary
from agi.server.fleet import Backoff, WorkerProcess, WorkersService, command_for
from agi.server.fleet_reload import ReloadFlows
from agi.server.service import FlowsService
from agi.server.worker import ALIVE, KEPT, READY_FD, RELOADED, STOPPING


class FakeProcess:
    """What the supervisor keeps of a spawned worker."""

    def __init__(self, protocol: WorkerProcess, argv: list[str], pid: int, child_fds: dict[int, Any]) -> None:
        self.protocol, self.argv, self.pid, self.child_fds = protocol, argv, pid, child_fds
        self.signals: list[str | int] = []

    def signalProcess(self, name: str | int) -> None:
        self.signals.append(name)

    def ready(self) -> None:
        self.protocol.childDataReceived(READY_FD, b"rea")
        self.protocol.childDataReceived(READY_FD, b"dy\n")

    def exit(self, status: int = 0, signum: int | None = None) -> None:
        reason = (ProcessDone(status) if status == 0 and signum is None
                  else ProcessTerminated(None if signum else status, signum))
        self.protocol.processEnded(Failure(reason))


class Spawner:
    def __init__(self) -> None:
        self.spawned: list[FakeProcess] = []

    def __call__(self, protocol: WorkerProcess, executable: str, argv: list[str], *, env: dict[str, str],
                 childFDs: dict[int, Any]) -> FakeProcess:
        assert executable == argv[0] and env
        process = FakeProcess(protocol, argv, 1000 + len(self.spawned), childFDs)
        self.spawned.append(process)
        return process

    def running(self, index: int) -> FakeProcess:
        return [p for p in self.spawned if p.protocol.worker.index == index][-1]


def workers(count: int = 3, **options: Any) -> tuple[WorkersService, Spawner, MemoryReactorClock]:
    reactor = MemoryReactorClock()
    spawn = Spawner()
    service = WorkersService(count, lambda index: ["python", "serve", "--worker", str(index)], reactor,
                             spawn=spawn, **options)
    return service, spawn, reactor


@pytest.fixture
def started() -> Iterator[tuple[WorkersService, Spawner, MemoryReactorClock]]:
    service, spawn, reactor = workers()
    service.startService()
    for process in spawn.spawned:
        process.ready()
    assert service.started.called
    yield service, spawn, reactor


def test_every_worker_is_started_with_its_index_and_the_node_is_up_once_all_listen() -> None:
    service, spawn, reactor = workers(3)
    service.startService()
    assert [p.argv[-1] for p in spawn.spawned] == ["1", "2", "3"]
    # standard input is the lifeline, descriptor 3 says ready, the log goes where the supervisor's goes
    assert all(p.child_fds == {0: "w", 1: 1, 2: 2, READY_FD: "r"} for p in spawn.spawned)
    spawn.spawned[0].ready()
    spawn.spawned[2].ready()
    assert not service.started.called
    spawn.spawned[1].ready()
    assert service.started.called


def test_the_workers_get_the_port_the_supervisor_holds() -> None:
    command = command_for(lambda index: ["agiflow", "serve", "--worker", str(index)], 40123)
    assert command(2) == ["agiflow", "serve", "--worker", "2", "--port", "40123"]


def test_a_worker_that_dies_is_started_again_and_the_others_keep_serving(started: Any) -> None:
    service, spawn, reactor = started
    reactor.advance(100)
    spawn.running(2).exit(signum=signal.SIGKILL)
    assert not service.workers[1].alive and service.workers[0].alive and service.workers[2].alive
    assert len(spawn.spawned) == 3
    reactor.advance(0.5)
    assert len(spawn.spawned) == 4 and spawn.spawned[-1].argv[-1] == "2"
    assert service.workers[1].alive and service.workers[1].exits == [(None, signal.SIGKILL)]


def beat(*processes: FakeProcess) -> None:
    for process in processes:
        process.protocol.childDataReceived(READY_FD, ALIVE)


def test_a_worker_that_goes_silent_is_killed_once_and_started_again(caplog: pytest.LogCaptureFixture) -> None:
    """A stopped worker (SIGSTOP), or one whose reactor is blocked, kept its
    share of the new calls: the kernel handed them to its socket, and they
    hung until the caller gave up."""
    service, spawn, reactor = workers(2, silence_timeout=10.0)
    service.startService()
    for process in spawn.spawned:
        process.ready()
    frozen, beating = spawn.running(1), spawn.running(2)
    for _ in range(10):
        reactor.advance(1.0)
        beat(beating)
    assert frozen.signals == []  # 10 s of silence is still within the limit
    reactor.advance(1.0)
    beat(beating)
    assert frozen.signals == ["KILL"] and beating.signals == []
    assert "worker 1 has said nothing for 11s (stopped, or its reactor blocked): killing it" in caplog.text
    for _ in range(5):  # SIGKILL takes a moment to end it: it is not killed twice meanwhile
        reactor.advance(1.0)
        beat(beating)
    assert frozen.signals == ["KILL"]
    frozen.exit(signum=signal.SIGKILL)
    reactor.advance(0.5)
    again = spawn.running(1)
    assert again is not frozen
    again.ready()
    for _ in range(30):
        reactor.advance(1.0)
        beat(again, beating)
    assert again.signals == [] and beating.signals == []


def test_a_supervisor_that_was_stopped_itself_or_a_clock_that_jumped_kills_no_worker() -> None:
    """After the whole node was paused (SIGSTOP of its process group, a
    virtual machine suspended) or the clock was set forward, the workers'
    last heartbeats look old: they are heard anew, not all killed."""
    service, spawn, reactor = workers(2, silence_timeout=10.0)
    service.startService()
    for process in spawn.spawned:
        process.ready()
    for _ in range(3):
        reactor.advance(1.0)
        beat(*spawn.spawned)
    reactor.advance(60)  # the supervisor's first look in a minute
    assert all(process.signals == [] for process in spawn.spawned)
    for _ in range(10):
        reactor.advance(1.0)
        beat(*spawn.spawned)
    assert all(process.signals == [] for process in spawn.spawned)
    for _ in range(12):  # then a worker that stays silent is still killed
        reactor.advance(1.0)
        beat(spawn.running(2))
    assert spawn.running(1).signals == ["KILL"] and spawn.running(2).signals == []


def test_silent_workers_are_not_killed_while_they_drain_or_with_a_timeout_of_0() -> None:
    """A worker writing its last CDRs may hold its reactor (up to 30 s on a
    locked database): the stop has its own limit."""
    service, spawn, reactor = workers(2, silence_timeout=10.0)
    service.startService()
    for process in spawn.spawned:
        process.ready()
    spawn.running(1).protocol.childDataReceived(READY_FD, STOPPING)  # a SIGTERM sent to it alone
    reactor.advance(30)
    assert spawn.running(1).signals == [] and spawn.running(2).signals == ["KILL"]
    spawn.running(2).exit(signum=signal.SIGKILL)
    reactor.advance(0.5)
    spawn.running(2).ready()
    service.stopService()  # both drain now, and say nothing meanwhile
    reactor.advance(service.stop_timeout - 1)
    assert [p.signals for p in spawn.spawned] == [["TERM"], ["KILL"], ["TERM"]]
    quiet, spawned, clock = workers(2)  # silence_timeout 0
    quiet.startService()
    for process in spawned.spawned:
        process.ready()
    clock.advance(300)
    assert all(process.signals == [] for process in spawned.spawned)


def test_a_worker_that_stopped_by_itself_is_started_again_without_saying_its_calls_were_cut(
        started: Any, caplog: pytest.LogCaptureFixture) -> None:
    """A worker sent SIGTERM on its own drains its calls and exits 0: the
    supervisor said 'ERROR worker 1 exited with status 0; its calls were cut'."""
    service, spawn, reactor = started
    with caplog.at_level(logging.INFO, logger="agiflow.server"):
        spawn.running(1).exit(0)
    assert [r.getMessage() for r in caplog.records] == [
        "worker 1 exited with status 0 once its calls had ended; starting it again in 0.5s"]
    assert caplog.records[0].levelno == logging.WARNING
    reactor.advance(0.5)
    assert spawn.running(1) is spawn.spawned[-1] and len(spawn.spawned) == 4


def test_a_restarted_worker_that_cannot_start_is_not_said_to_have_cut_calls(
        started: Any, caplog: pytest.LogCaptureFixture) -> None:
    """A worker started again exits before it listens (the database newer
    than this agiflow during an upgrade node by node, or unreachable): it had
    no call. The supervisor said 'its calls were cut' at every attempt."""
    service, spawn, reactor = started
    spawn.running(1).exit(signum=signal.SIGKILL)
    reactor.advance(0.5)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="agiflow.server"):
        spawn.running(1).exit(status=1)
    assert [r.getMessage() for r in caplog.records] == [
        "worker 1 exited with status 1 before it listened, with no call; starting it again in 1.0s"]
    reactor.advance(1.0)
    assert spawn.running(1) is spawn.spawned[-1] and len(spawn.spawned) == 5


def test_a_worker_that_keeps_dying_young_waits_twice_as_long_each_time(started: Any) -> None:
    service, spawn, reactor = started
    waits = []
    for _ in range(9):
        spawn.running(1).exit(status=1)
        before = len(spawn.spawned)
        waited = 0.0
        while len(spawn.spawned) == before:
            reactor.advance(0.25)
            waited += 0.25
        waits.append(waited)
        spawn.running(1).ready()
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_backoff_starts_over_once_a_worker_has_run_long_enough() -> None:
    backoff = Backoff(first=0.5, longest=30.0, stable_after=30.0)
    assert [backoff.delay(1.0) for _ in range(4)] == [0.5, 1.0, 2.0, 4.0]
    assert backoff.delay(29.9) == 8.0
    assert backoff.delay(30.0) == 0.5
    assert backoff.delay(3600.0) == 0.5


def test_a_worker_that_dies_before_it_listens_fails_the_start() -> None:
    service, spawn, reactor = workers(2)
    service.startService()
    spawn.spawned[0].ready()
    spawn.spawned[1].exit(status=1)
    failures: list[Failure] = []
    service.started.addErrback(failures.append)
    assert "worker 2 exited with status 1 before it listened" in failures[0].getErrorMessage()
    assert len(spawn.spawned) == 2, "a worker that cannot start is not started again and again"


def test_workers_that_do_not_listen_in_time_fail_the_start() -> None:
    service, spawn, reactor = workers(2, start_timeout=10.0)
    service.startService()
    spawn.spawned[0].ready()
    reactor.advance(10.0)
    failures: list[Failure] = []
    service.started.addErrback(failures.append)
    assert "workers [2] did not listen within 10s" in failures[0].getErrorMessage()


def test_stop_sends_sigterm_to_every_worker_and_ends_when_the_last_has_drained(started: Any) -> None:
    service, spawn, reactor = started
    stopped = service.stopService()
    assert [p.signals for p in spawn.spawned] == [["TERM"], ["TERM"], ["TERM"]]
    spawn.running(1).exit(0)
    spawn.running(3).exit(0)
    reactor.advance(20)  # worker 2 drains a long call
    assert not stopped.called
    spawn.running(2).exit(0)
    assert stopped.called and service.clean
    assert len(spawn.spawned) == 3, "no worker is started again while stopping"


def test_a_worker_that_fails_its_stop_makes_the_stop_unclean(started: Any) -> None:
    service, spawn, reactor = started
    stopped = service.stopService()
    spawn.running(1).exit(0)
    spawn.running(2).exit(1)  # CDRs it could not write
    spawn.running(3).exit(0)
    assert stopped.called and not service.clean


def test_a_worker_still_running_after_the_stop_timeout_is_killed(started: Any) -> None:
    service, spawn, reactor = workers(2, stop_timeout=90.0)
    service.startService()
    for process in spawn.spawned:
        process.ready()
    stopped = service.stopService()
    spawn.running(1).exit(0)
    reactor.advance(89.9)
    assert spawn.running(2).signals == ["TERM"]
    reactor.advance(0.1)
    assert spawn.running(2).signals == ["TERM", "KILL"]
    spawn.running(2).exit(signum=signal.SIGKILL)
    assert stopped.called and not service.clean


def test_a_worker_stopped_before_it_listened_stops_cleanly(caplog: pytest.LogCaptureFixture) -> None:
    """A stop during the start (``systemctl restart`` just after a start)
    reaches workers still loading agiflow: SIGTERM kills them before they
    have a call to drain. That was 'ERROR worker 1 killed by SIGTERM' and
    exit 1, a unit marked failed for a clean stop."""
    service, spawn, reactor = workers(2)
    service.startService()
    spawn.running(1).ready()
    stopped = service.stopService()
    spawn.running(1).exit(0)
    with caplog.at_level(logging.INFO, logger="agiflow.server"):
        spawn.running(2).exit(signum=signal.SIGTERM)
    assert stopped.called and service.clean
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert "worker 2 stopped before it listened" in caplog.text


def test_a_listening_worker_killed_by_the_stop_signal_is_unclean(started: Any) -> None:
    service, spawn, reactor = started
    stopped = service.stopService()
    spawn.running(1).exit(0)
    spawn.running(2).exit(signum=signal.SIGTERM)  # it had calls: its handler should have drained them
    spawn.running(3).exit(0)
    assert stopped.called and not service.clean


def test_stopping_cancels_a_restart_that_was_waiting(started: Any) -> None:
    service, spawn, reactor = started
    spawn.running(3).exit(status=1)
    stopped = service.stopService()
    spawn.running(1).exit(0)
    spawn.running(2).exit(0)
    assert stopped.called
    reactor.advance(60)
    assert len(spawn.spawned) == 3 and not reactor.getDelayedCalls()


class Library:
    """A flow library whose files change, and load or not, when the test says."""

    def __init__(self) -> None:
        self.files = ("v1",)
        self.valid = True
        self.loads = 0
        self.announced = 0
        self.quiet = False
        self.current = object()

    def snapshot(self) -> tuple[str, ...]:
        return self.files

    def load(self) -> tuple[str, ...]:
        return self.files

    def apply(self, _loaded: tuple[str, ...]) -> list[str]:
        self.loads += 1
        return [] if self.valid else ["flows/closed.yaml:3: step 'bye': unknown step 'byee'"]

    def announce(self, previous: object) -> None:
        self.announced += 1


def reloading(started: Any, watch_interval: float = 0) -> tuple[ReloadFlows, Library]:
    service, spawn, reactor = started
    library = Library()
    return ReloadFlows(library, service, watch_interval, reactor), library  # type: ignore[arg-type]


def answer(process: FakeProcess, news: bytes) -> None:
    process.protocol.childDataReceived(READY_FD, news)


def test_sighup_reaches_every_worker_and_is_reported_once_all_have_reloaded(
        started: Any, caplog: pytest.LogCaptureFixture) -> None:
    service, spawn, reactor = started
    reload, library = reloading(started)
    with caplog.at_level(logging.INFO):
        reload.reload()
        assert library.loads == 1, "the supervisor checks the files first"
        assert [p.signals for p in spawn.spawned] == [["HUP"], ["HUP"], ["HUP"]]
        answer(spawn.running(1), RELOADED)
        answer(spawn.running(3), RELOADED)
        assert library.announced == 0, "the reload was reported before every worker had done it"
        answer(spawn.running(2), RELOADED)
    assert library.announced == 1 and "all 3 workers serve the new flows" in caplog.text


def test_a_worker_that_does_not_answer_a_reload_is_not_counted_among_those_serving_the_new_flows(
        started: Any, caplog: pytest.LogCaptureFixture) -> None:
    """A worker stuck (SIGSTOP, a blocked thread) says nothing within the
    reload's wait. The log once said 'all 2 workers serve the new flows' of
    three, as if every worker did."""
    service, spawn, reactor = started
    reload, library = reloading(started)
    with caplog.at_level(logging.INFO):
        reload.reload()
        answer(spawn.running(1), RELOADED)
        answer(spawn.running(3), RELOADED)
        reactor.advance(service.reload_timeout)
    assert library.announced == 1 and not reload.busy
    assert "workers [2] did not say how their reload went" in caplog.text
    assert "all 2 workers" not in caplog.text
    assert "workers [1, 3] serve the new flows; workers [2] may still serve the previous ones" in caplog.text


def test_invalid_flows_reach_no_worker_and_are_reported_once(started: Any, caplog: pytest.LogCaptureFixture) -> None:
    service, spawn, reactor = started
    reload, library = reloading(started)
    library.valid = False
    with caplog.at_level(logging.INFO):
        reload.reload()
    assert all(p.signals == [signal.SIGUSR1] for p in spawn.spawned) and library.announced == 0, \
        "no worker reloads; each is told to count the failed load"
    assert "every worker keeps the flows it serves" in caplog.text and not reload.busy


def test_a_failed_load_is_told_only_to_workers_that_listen_and_not_while_they_stop(started: Any) -> None:
    """SIGUSR1's default kills: a worker still starting, or one that has
    drained and let go of its handler, must not get it."""
    service, spawn, reactor = started
    reload, library = reloading(started)
    library.valid = False
    spawn.running(2).exit(signum=signal.SIGKILL)
    reactor.advance(0.5)  # worker 2 starts again, not listening yet
    reload.reload()
    assert [p.signals for p in spawn.spawned] == [[signal.SIGUSR1], [], [signal.SIGUSR1], []]
    service.stopService()
    reload.reload()
    assert [p.signals.count(signal.SIGUSR1) for p in spawn.spawned] == [1, 0, 1, 0]


def test_a_worker_counts_its_supervisors_failed_load_and_ignores_one_once_stopped(
        tmp_path: Path) -> None:
    library = FlowLibrary(tmp_path, clock=lambda: 1000.0)
    reactor = MemoryReactorClock()
    reactor.callFromThread = lambda f, *args: reactor.callLater(0, f, *args)  # type: ignore[attr-defined]
    flows = FlowsService(library, ServerConfig(watch_interval=0), reactor, on_reload=lambda ok: None)
    flows.startService()
    try:
        os.kill(os.getpid(), signal.SIGUSR1)
        reactor.advance(0)
        assert (library.reloads, library.reload_errors, library.last_reload_ok) == (1, 1, False)
    finally:
        flows.stopService()
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_IGN
    signal.signal(signal.SIGUSR1, signal.SIG_DFL)


def test_a_worker_that_dies_or_says_nothing_does_not_hold_the_reload_up(started: Any) -> None:
    service, spawn, reactor = started
    reload, library = reloading(started)
    reload.reload()
    answer(spawn.running(1), RELOADED)
    spawn.running(2).exit(signum=signal.SIGKILL)
    assert library.announced == 0
    reactor.advance(30.0)  # worker 3 never answered
    assert library.announced == 1 and not reload.busy


def test_a_reload_that_some_workers_did_not_answer_names_only_those_that_did(
        started: Any, caplog: pytest.LogCaptureFixture) -> None:
    """It said 'all 1 workers serve the new flows' of three workers, one
    of which died and one said nothing, and 'all 0 workers ...' when none answered."""
    service, spawn, reactor = started
    reload, library = reloading(started)
    with caplog.at_level(logging.INFO):
        reload.reload()
        answer(spawn.running(1), RELOADED)
        spawn.running(2).exit(signum=signal.SIGKILL)
        reactor.advance(30.0)
        assert "workers [1] serve the new flows" in caplog.text and "all " not in caplog.text
        caplog.clear()
        reactor.advance(30.0)  # worker 2 started again and listens; none answers
        for process in spawn.spawned:
            if process.protocol.worker.index == 2 and not process.signals:
                process.ready()
        reload.reload()
        reactor.advance(30.0)
    assert "did not say how their reload went" in caplog.text
    assert "serve the new flows" not in caplog.text, "no worker said it serves them"


def test_workers_that_read_files_changing_under_them_reload_again(started: Any) -> None:
    service, spawn, reactor = started
    reload, library = reloading(started)
    reload.reload()
    library.files = ("v2",)  # changed while the workers read
    answer(spawn.running(1), RELOADED)
    answer(spawn.running(2), KEPT)
    answer(spawn.running(3), RELOADED)
    assert [len(p.signals) for p in spawn.spawned] == [2, 2, 2]
    for process in spawn.spawned:
        answer(process, KEPT)  # the same files, and still kept: no third round
    assert [len(p.signals) for p in spawn.spawned] == [2, 2, 2] and not reload.busy


def test_a_changed_flow_file_reaches_every_worker_together(started: Any) -> None:
    """One watcher, the supervisor's: the workers never load the files on
    their own, so none keeps a set the others dropped."""
    service, spawn, reactor = started
    reload, library = reloading(started, watch_interval=2.0)
    reload.startService()
    try:
        reactor.advance(2.0)
        assert all(p.signals == [] for p in spawn.spawned)
        library.files = ("v2",)
        reactor.advance(2.0)
        assert all(p.signals == ["HUP"] for p in spawn.spawned)
        library.files = ("v3",)
        reactor.advance(2.0)  # the reload of v2 is not done: v3 waits for it
        assert all(p.signals == ["HUP"] for p in spawn.spawned)
        for process in spawn.spawned:
            answer(process, RELOADED)
        reactor.advance(2.0)
        assert all(p.signals == ["HUP", "HUP"] for p in spawn.spawned)
        library.files, library.valid = ("v4",), False
        for process in spawn.spawned:
            answer(process, RELOADED)
        reactor.advance(2.0)
        assert all(p.signals == ["HUP", "HUP", signal.SIGUSR1] for p in spawn.spawned), \
            "an invalid change reached a worker"
    finally:
        reload.stopService()


def test_workers_watch_no_flow_file_of_their_own() -> None:
    from agi.config import Config, ServerConfig
    from agi.server.worker import worker_config

    assert worker_config(Config(server=ServerConfig(watch_interval=2.0)), 1).server.watch_interval == 0


class FakePort:
    """A listening port with connections the system has already accepted,
    which (as Twisted's) stops reading at once and closes its socket on the
    reactor's next pass, taking new connections until then."""

    def __init__(self, waiting: int) -> None:
        self.connected, self.numberAccepts, self.waiting = True, 1, waiting
        self.events: list[str] = []
        self.next_pass: list[Any] = []
        self.socket = self

    def setsockopt(self, level: int, option: int, value: bytes) -> None:
        self.events.append("new handshakes dropped")

    def doRead(self) -> None:
        taken = min(self.waiting, self.numberAccepts)
        self.waiting -= taken
        self.events.append(f"accepted {taken}")

    def stopListening(self) -> None:
        self.next_pass.append(self.connectionLost)

    def connectionLost(self, reason: Any) -> None:
        self.connected = False
        self.events.append(f"closed, resetting {self.waiting}")


def test_a_stopping_listener_takes_the_connections_already_waiting_before_it_closes(tmp_path: Any) -> None:
    """Closing a listening socket resets the connections waiting in its
    backlog; Asterisk, already connected, would not try the next server."""
    from agi.config import ServerConfig
    from agi.server.last_accept import HANDSHAKE_GRACE
    from agi.server.service import FastAGIService

    class Factory:
        def drain(self, timeout: float) -> Any:
            from twisted.internet import defer
            return defer.succeed(None)

    clock = MemoryReactorClock()
    service = FastAGIService(ServerConfig(max_calls=500), Factory(), clock)  # type: ignore[arg-type]
    service._port = port = FakePort(waiting=30)
    service.running = True
    stopped = service.stopService()
    assert port.events == ["new handshakes dropped"] and not port.next_pass, "still taking calls"
    clock.advance(HANDSHAKE_GRACE)  # the handshakes under way end; calls are taken as usual meanwhile
    assert stopped.called, "closing the port is left to the reactor; the drain found no call"
    port.waiting += 4  # connections that came before the reactor's next pass
    for close in port.next_pass:
        close(None)
    assert port.events == ["new handshakes dropped", "accepted 34", "closed, resetting 0"]
