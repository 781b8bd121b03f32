"""An awaitable that is already done, for transports whose replies are
known at once (stdin AGI, the simulator): awaiting it never suspends, so a
call's coroutine can run straight through without an event loop."""
from __future__ import annotations

from collections.abc import Generator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Ready(Generic[T]):
    """A value (or an error) that awaiting gives back without suspending."""

    def __init__(self, value: T | None = None, error: BaseException | None = None) -> None:
        self._value = value
        self._error = error

    def __await__(self) -> Generator[Any, None, T]:
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]
        yield  # pragma: no cover  (makes this a generator that never yields)
