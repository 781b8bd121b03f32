"""CallRunner and PendingReply: a call's coroutine driven by replies and Deferreds."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest
from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure

from agi.server.runner import CallRunner, PendingReply


def _run(coroutine: Any) -> list[Any]:
    results: list[Any] = []
    CallRunner(coroutine, results.append).start()
    return results


def test_a_coroutine_waits_for_each_reply_and_returns_to_done() -> None:
    replies = [PendingReply[str](), PendingReply[str]()]
    seen = []

    async def call() -> str:
        for pending in replies:
            seen.append(await pending)
        return "completed"

    results = _run(call())
    assert results == [] and seen == []
    replies[0].resolve("200 result=1")
    assert seen == ["200 result=1"] and results == []
    replies[1].resolve("200 result=0")
    assert seen == ["200 result=1", "200 result=0"] and results == ["completed"]


def test_a_rejected_reply_raises_inside_the_coroutine_where_it_waits() -> None:
    pending = PendingReply[str]()

    async def call() -> str:
        try:
            await pending
        except ConnectionError as exc:
            return f"caught {exc}"
        return "not raised"

    results = _run(call())
    pending.reject(ConnectionError("lost"))
    assert results == ["caught lost"]


def test_an_already_settled_reply_does_not_suspend() -> None:
    resolved = PendingReply[str]()
    resolved.resolve("200 result=1")

    async def call() -> str:
        return await resolved

    rejected = PendingReply[str]()
    rejected.reject(ValueError("closed"))

    async def failing() -> None:
        await rejected

    assert _run(call()) == ["200 result=1"]
    [failure] = _run(failing())
    assert isinstance(failure, Failure) and failure.check(ValueError)


def test_a_reply_settles_once() -> None:
    pending = PendingReply[str]()
    pending.resolve("a")
    with pytest.raises(RuntimeError):
        pending.resolve("b")


def test_deferreds_resume_the_coroutine_with_their_result_or_failure() -> None:
    later: Deferred[str] = Deferred()
    failing: Deferred[str] = Deferred()
    seen: list[str] = []

    async def call() -> str:
        seen.append(await succeed("at once"))
        seen.append(await later)
        try:
            await failing
        except KeyError as exc:
            seen.append(f"raised {exc.args[0]}")
        return "done"

    results = _run(call())
    assert seen == ["at once"]
    later.callback("later")
    assert seen == ["at once", "later"] and results == []
    failing.errback(KeyError("nope"))
    assert seen == ["at once", "later", "raised nope"] and results == ["done"]
    assert later.result is None and failing.result is None  # consumed: no unhandled error logged


def test_an_exception_ends_the_run_with_a_failure() -> None:
    async def call() -> None:
        raise ZeroDivisionError("bug")

    [failure] = _run(call())
    assert isinstance(failure, Failure) and failure.check(ZeroDivisionError)


def test_awaiting_anything_else_raises_a_type_error_in_the_coroutine() -> None:
    async def call() -> str:
        try:
            await asyncio.sleep(0)
        except TypeError as exc:
            return str(exc)
        return "slept"

    [message] = _run(call())
    assert "neither a reply nor a Deferred" in message
