"""The server's batched log lines: routine lines wait, warnings go at once."""
from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agi.log_output import (ACCEPT_TROUBLE, LOG_FORMAT, MAX_MESSAGE, BatchedStreamHandler, BoundedFormatter,
                            RateLimitedLines, RateLimitedWarnings, batched_stderr, flush_batched)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def pipe() -> Iterator[tuple[int, io.TextIOWrapper]]:
    """A real pipe: what journald or a terminal reads the server from."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    stream = open(write_fd, "w", buffering=1 << 16, encoding="utf-8")
    yield read_fd, stream
    stream.close()
    os.close(read_fd)


def _read(fd: int) -> str:
    try:
        return os.read(fd, 1 << 16).decode()
    except BlockingIOError:
        return ""


def _logger(handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger(f"test.batched.{id(handler)}")
    logger.propagate = False
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    return logger


def test_routine_lines_wait_for_the_interval_or_a_flush(pipe: tuple[int, io.TextIOWrapper]) -> None:
    read_fd, stream = pipe
    clock = Clock()
    handler = BatchedStreamHandler(stream, interval=0.5, clock=clock)
    log = _logger(handler)
    log.info("call ended: completed")
    log.info("call ended: caller_hangup")
    assert _read(read_fd) == ""
    clock.now += 0.5
    log.info("call ended: error")
    assert _read(read_fd) == "INFO call ended: completed\nINFO call ended: caller_hangup\nINFO call ended: error\n"
    log.info("quiet now")
    assert _read(read_fd) == ""
    handler.flush_pending()
    assert _read(read_fd) == "INFO quiet now\n"


def test_a_warning_goes_out_at_once_with_the_lines_before_it(pipe: tuple[int, io.TextIOWrapper]) -> None:
    read_fd, stream = pipe
    log = _logger(BatchedStreamHandler(stream, clock=Clock()))
    log.info("call ended: completed")
    log.warning("127.0.0.1:4000: line longer than 8192 bytes; closing")
    assert _read(read_fd) == ("INFO call ended: completed\n"
                              "WARNING 127.0.0.1:4000: line longer than 8192 bytes; closing\n")


def test_closing_writes_what_is_left(pipe: tuple[int, io.TextIOWrapper]) -> None:
    read_fd, stream = pipe
    handler = BatchedStreamHandler(stream, clock=Clock())
    _logger(handler).info("stopped: 3 calls served")
    handler.close()
    assert _read(read_fd) == "INFO stopped: 3 calls served\n"


def test_flush_batched_flushes_the_root_loggers_batched_handlers(pipe: tuple[int, io.TextIOWrapper]) -> None:
    read_fd, stream = pipe
    handler = BatchedStreamHandler(stream, clock=Clock())
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        logging.getLogger("test.root").warning("x")  # urgent: written at once
        assert _read(read_fd) == "x\n"
        stream.write("pending\n")
        flush_batched()
        assert _read(read_fd) == "pending\n"
    finally:
        root.removeHandler(handler)


def test_without_a_file_descriptor_lines_are_written_one_by_one() -> None:
    captured = io.StringIO()
    handler = batched_stderr(captured)
    assert not isinstance(handler, BatchedStreamHandler)
    _logger(handler).info("hello")
    assert captured.getvalue() == "INFO hello\n"


def test_on_a_file_descriptor_lines_are_batched(pipe: tuple[int, io.TextIOWrapper]) -> None:
    read_fd, stream = pipe
    handler = batched_stderr(stream)
    assert isinstance(handler, BatchedStreamHandler)
    _logger(handler).warning("CDR database writable again")
    handler.close()  # waits for the line to be written, on the thread that writes them
    assert _read(read_fd) == "WARNING CDR database writable again\n"


def _record(msg: object, *args: object) -> logging.LogRecord:
    return logging.LogRecord("agiflow.call", logging.INFO, __file__, 1, msg, args or None, None)


def test_a_message_is_cut_at_its_limit_and_its_traceback_kept() -> None:
    formatter = BoundedFormatter("%(message)s")
    assert formatter.format(_record("name %s", "x" * 10_000)) == "name " + "x" * (MAX_MESSAGE - 6) + "\u2026"
    try:
        raise ValueError("boom")
    except ValueError:
        import sys
        record = _record("y" * 10_000)
        record.exc_info = sys.exc_info()
    text = formatter.format(record)
    assert text.startswith("y" * (MAX_MESSAGE - 1) + "\u2026\nTraceback") and text.endswith("ValueError: boom")


def test_what_is_not_printable_in_a_message_is_escaped_and_its_traceback_kept() -> None:
    """A reply or a name from the network with a carriage return or an
    escape sequence once began a line of the peer's making, or reached the
    terminal showing the log."""
    formatter = BoundedFormatter("%(message)s")
    assert formatter.format(_record("step failed: %s", "0 \x1b]0;owned\x07\x1b[2J\rERROR fake\x00\tcafé")) == \
        "step failed: 0 \\x1b]0;owned\\x07\\x1b[2J\\rERROR fake\\x00\\tcafé"
    try:
        raise ValueError("boom")
    except ValueError:
        import sys
        record = _record("a\rb")
        record.exc_info = sys.exc_info()
    assert formatter.format(record).startswith("a\\rb\nTraceback")


@given(st.lists(st.floats(min_value=1_500_000_000, max_value=2_500_000_000), min_size=1, max_size=20))
def test_each_line_has_the_time_logging_itself_writes(moments: list[float]) -> None:
    """The second is formatted once for all its lines: the text is still
    logging.Formatter's, whatever the order of the records' times."""
    ours, theirs = BoundedFormatter(), logging.Formatter(LOG_FORMAT)
    for moment in sorted(moments) + moments + [moments[0] + 0.5, moments[0] + 1]:
        record = _record("x")
        record.created, record.msecs = moment, (moment - int(moment)) * 1000
        assert ours.format(record) == theirs.format(record)


def test_a_record_whose_arguments_do_not_fit_is_written_with_them_instead_of_a_logging_error() -> None:
    formatter = BoundedFormatter("%(levelname)s %(message)s")
    assert formatter.format(_record("[1.%d x] call ended: %s", "completed")) == \
        "INFO [1.%d x] call ended: %s ('completed',)"


def test_repeated_warnings_of_a_kind_are_logged_ten_times_then_once_a_minute_with_a_count(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    warnings = RateLimitedWarnings(logging.getLogger("agiflow.server"), clock)
    with caplog.at_level(logging.WARNING, logger="agiflow.server"):
        for n in range(500):
            warnings.warning("environment timeout", "10.0.0.%d:4000: no complete AGI environment", n % 250)
            warnings.warning("refused", "refused connection from %s", "10.9.9.9")
            clock.now += 0.25  # 125 s in all
    by_kind = [m for m in caplog.messages if "environment" in m]
    assert len(by_kind) == 12 and len(caplog.messages) == 24
    assert by_kind[10] == "10.0.0.249:4000: no complete AGI environment (239 more like it not logged)"
    assert by_kind[11] == "10.0.0.239:4000: no complete AGI environment (239 more like it not logged)"


def test_twisteds_lines_about_connections_it_cannot_accept_are_logged_ten_times_then_once_a_minute(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    twisted_log = logging.getLogger("twisted.test-accept")
    limit = RateLimitedLines(ACCEPT_TROUBLE, clock)
    twisted_log.addFilter(limit)
    try:
        with caplog.at_level(logging.INFO, logger="twisted.test-accept"):
            for n in range(300):  # a flood while every file descriptor is taken: 150 s
                twisted_log.info("EMFILE encountered; releasing reserved file descriptor.")
                twisted_log.info("EMFILE recovery: Closed socket from ('10.0.0.%d', %d)", n % 250, 40000 + n)
                twisted_log.info("Re-reserving EMFILE recovery file descriptor.")
                clock.now += 0.5
            twisted_log.info("Main loop terminated.")
    finally:
        twisted_log.removeFilter(limit)
    closed = [m for m in caplog.messages if "Closed socket" in m]
    assert len(closed) == 12 and len(caplog.messages) == 37
    assert closed[10] == "EMFILE recovery: Closed socket from ('10.0.0.129', 40129) (119 more like it not logged)"
    assert caplog.messages[-1] == "Main loop terminated."
