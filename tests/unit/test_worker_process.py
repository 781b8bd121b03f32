"""A worker's ties to its supervisor and to the log it shares with the
other workers: the lifeline that ends it with its supervisor, and log
lines that never cut into another worker's."""
from __future__ import annotations

import io
import logging
import os
import threading
import time
from typing import Any

import pytest
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.python.failure import Failure

from agi.log_output import ATOMIC_WRITE, WholeLines, batched_stderr, log_format
from agi.server.worker import KEPT, ORPHANED, READY, RELOADED, Lifeline, WorkerRole, orphaned


class Readers:
    def __init__(self) -> None:
        self.readers: list[Any] = []

    def addReader(self, reader: Any) -> None:
        self.readers.append(reader)

    def removeReader(self, reader: Any) -> None:
        """As the reactors do: removing a reader that is not there does nothing."""
        if reader in self.readers:
            self.readers.remove(reader)


def test_the_end_of_the_lifeline_is_the_end_of_the_supervisor() -> None:
    read, write = os.pipe()
    lost: list[bool] = []
    reactor = Readers()
    Lifeline(read, lambda: lost.append(True)).watch(reactor)  # type: ignore[arg-type]
    [lifeline] = reactor.readers
    os.write(write, b"x")  # the supervisor never writes, but anything read is not the end
    lifeline.doRead()
    assert lost == []
    os.close(write)
    lifeline.doRead()
    assert lost == [True] and reactor.readers == []
    os.close(read)


def test_the_reactor_seeing_the_end_of_the_lifeline_is_the_end_of_the_supervisor() -> None:
    lost: list[bool] = []
    reactor = Readers()
    lifeline = Lifeline(0, lambda: lost.append(True))
    lifeline.watch(reactor)  # type: ignore[arg-type]
    reactor.readers.remove(lifeline)  # epoll's HUP: the reactor removes it, then says the connection is done
    lifeline.connectionLost(Failure(ConnectionDone()))
    assert lost == [True]


def test_a_worker_shutting_down_lets_go_of_its_lifeline_without_stopping_at_once() -> None:
    read, write = os.pipe()
    lost: list[bool] = []
    reactor = Readers()
    lifeline = Lifeline(read, lambda: lost.append(True))
    lifeline.watch(reactor)  # type: ignore[arg-type]
    reactor.readers.remove(lifeline)  # the reactor's disconnectAll at shutdown
    lifeline.connectionLost(Failure(ConnectionLost()))
    assert lost == []
    os.close(read)
    os.close(write)


def test_an_orphaned_worker_says_so_and_ends_at_once(caplog: pytest.LogCaptureFixture) -> None:
    codes: list[int] = []
    with caplog.at_level(logging.ERROR):
        orphaned(2, exit=codes.append)()
    assert codes == [ORPHANED]
    assert "worker 2: the supervisor is gone; stopping at once" in caplog.text


def test_a_worker_tells_its_supervisor_it_listens_and_how_each_reload_went() -> None:
    read, write = os.pipe()
    worker = WorkerRole(1, ready_fd=write)
    worker.notify(READY)
    worker.reloaded(True)
    worker.reloaded(False)
    assert os.read(read, 64) == READY + RELOADED + KEPT
    os.close(read)
    os.close(write)


def test_a_workers_log_lines_name_it() -> None:
    record = logging.LogRecord("agiflow.call", logging.INFO, "", 0, "[1.2 support] call ended", None, None)
    assert logging.Formatter(log_format(2)).format(record).endswith(
        " INFO agiflow.call (worker 2): [1.2 support] call ended")
    assert logging.Formatter(log_format()).format(record).endswith(" INFO agiflow.call: [1.2 support] call ended")


def writes_of(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    written: list[bytes] = []

    def write(fd: int, data: bytes) -> int:
        written.append(bytes(data))
        return len(data)

    monkeypatch.setattr(os, "write", write)
    return written


def test_log_lines_are_written_whole_in_pieces_that_a_pipe_never_mixes(monkeypatch: pytest.MonkeyPatch) -> None:
    written = writes_of(monkeypatch)
    lines = [f"line {n} " + "x" * (n % 300) + "\n" for n in range(2000)]
    long_line = "y" * (3 * ATOMIC_WRITE) + "\n"
    raw = WholeLines(99)
    stream = io.TextIOWrapper(io.BufferedWriter(raw, buffer_size=1 << 16), encoding="utf-8")
    for line in lines[:1000] + [long_line] + lines[1000:]:
        stream.write(line)
    stream.flush()
    assert raw.wait_written(5)
    assert b"".join(written).decode() == "".join(lines[:1000] + [long_line] + lines[1000:])
    assert all(chunk.endswith(b"\n") for chunk in written), "a write ended inside a line"
    assert all(len(chunk) <= ATOMIC_WRITE for chunk in written if chunk != long_line.encode())


def test_a_line_cut_by_a_full_buffer_waits_for_its_end(monkeypatch: pytest.MonkeyPatch) -> None:
    written = writes_of(monkeypatch)
    raw = WholeLines(99)
    raw.write(b"first line\nsecond li")
    assert raw.wait_written(5) and written == [b"first line\n"]
    raw.write(b"ne\n")
    assert raw.wait_written(5) and written == [b"first line\n", b"second line\n"]
    raw.write(b"last words")
    raw.flush()
    assert raw.wait_written(5) and written[-1] == b"last words"


def test_lines_a_stalled_reader_does_not_take_wait_within_a_cap_and_what_it_leaves_out_is_counted(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The server's event loop hands its lines over and goes on: once it
    waited in ``os.write`` on a pipe whose reader had stopped reading, and
    every call waited with it."""
    reading = threading.Event()
    written: list[bytes] = []

    def write(fd: int, data: bytes) -> int:
        reading.wait()  # the pipe is full until the reader reads again
        written.append(bytes(data))
        return len(data)

    monkeypatch.setattr(os, "write", write)
    raw = WholeLines(99, max_pending=1000)
    started = time.monotonic()
    for n in range(100):
        raw.write(f"line {n:02d} {'x' * 90}\n".encode())  # 100 bytes each
    assert time.monotonic() - started < 0.5, "a write waited for the reader"
    assert not raw.wait_written(0.1)
    reading.set()
    with caplog.at_level(logging.WARNING, logger="agiflow.log"):
        assert raw.wait_written(5)
        deadline = time.monotonic() + 5
        while not caplog.records and time.monotonic() < deadline:
            time.sleep(0.01)
    kept = b"".join(written).splitlines()
    assert 9 <= len(kept) <= 11 and kept == sorted(kept), "the first lines, whole and in order"
    [record] = caplog.records
    assert record.getMessage().startswith(f"{100 - len(kept)} log lines were left out: standard error took none")


def test_the_server_log_handler_writes_whole_lines() -> None:
    read, write = os.pipe()
    with os.fdopen(write, "w") as stderr:
        handler = batched_stderr(stderr)
        assert isinstance(handler.stream.buffer.raw, WholeLines)  # type: ignore[attr-defined]
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler.emit(logging.LogRecord("agiflow.server", logging.WARNING, "", 0, "a warning", None, None))
        assert os.read(read, 64) == b"a warning\n"
        handler.close()
    os.close(read)


def test_each_worker_has_a_metrics_port_of_its_own() -> None:
    from agi.config import Config, MetricsConfig, ServerConfig
    from agi.server.worker import worker_config

    config = Config(server=ServerConfig(metrics=MetricsConfig(port=9573)))
    assert [worker_config(config, n).server.metrics.port for n in (1, 2, 3)] == [9573, 9574, 9575]  # type: ignore[union-attr]
    picked = Config(server=ServerConfig(metrics=MetricsConfig(port=0)))
    assert worker_config(picked, 3).server.metrics == picked.server.metrics
    assert worker_config(Config(), 2).server.metrics is None


def test_a_workers_json_log_lines_name_it() -> None:
    import json

    from agi.log_json import JsonFormatter

    record = logging.LogRecord("agiflow.server", logging.INFO, "", 0, "worker 2 listening", None, None)
    assert json.loads(JsonFormatter(worker=2).format(record))["worker"] == 2
    assert "worker" not in json.loads(JsonFormatter().format(record))
