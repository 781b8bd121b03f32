"""The agi_* environment block Asterisk sends before the first command."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import parse_qsl


def decode_line(raw: bytes) -> str:
    """Decode a wire line leniently: Asterisk sends raw bytes (a caller name may
    be cut in the middle of a UTF-8 character)."""
    return raw.decode("utf-8", errors="replace")


def split_script(script: str) -> tuple[str, dict[str, str]]:
    """``support/main?lang=fr`` -> (``support/main``, {``lang``: ``fr``})."""
    path, pairs = _split_script(script)
    return path, dict(pairs)


@lru_cache(maxsize=1024)  # the dialplan asks for the same few scripts all day
def _split_script(script: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    path, _, query = script.partition("?")
    return path.strip("/"), tuple(parse_qsl(query, keep_blank_values=True))


def _known(value: str) -> str:
    """Asterisk writes ``unknown`` for an absent caller ID or DNID."""
    return "" if value == "unknown" else value


@dataclass(frozen=True)
class AgiEnvironment:
    """What Asterisk told us about the call, with convenient names."""

    values: dict[str, str] = field(default_factory=dict)

    def get(self, key: str, default: str = "") -> str:
        return self.values.get(key, default)

    @property
    def script(self) -> str:
        return self.get("network_script")

    @property
    def flow_name(self) -> str:
        return split_script(self.script)[0]

    @property
    def query(self) -> dict[str, str]:
        return split_script(self.script)[1]

    @property
    def uniqueid(self) -> str:
        return self.get("uniqueid")

    @property
    def caller(self) -> str:
        return _known(self.get("callerid"))

    @property
    def caller_name(self) -> str:
        return _known(self.get("calleridname"))

    @property
    def called(self) -> str:
        """The dialled number: the DNID when known, else the extension."""
        dnid = _known(self.get("dnid"))
        if dnid:
            return dnid
        ext = self.get("extension")
        return "" if ext in ("s", "") else ext

    @property
    def args(self) -> list[str]:
        """agi_arg_1..N in order; empty arguments are kept as empty strings."""
        numbered = []
        for key, value in self.values.items():
            if key.startswith("arg_") and key[4:].isascii() and key[4:].isdigit():
                numbered.append((int(key[4:]), value))
        return [value for _, value in sorted(numbered)]


class EnvironmentReader:
    """Collects environment lines until the blank line that ends the block."""

    def __init__(self, max_lines: int = 256) -> None:
        self.values: dict[str, str] = {}
        self.hangup_seen = False
        self.done = False
        self._max_lines = max_lines
        self._count = 0

    def feed(self, line: str) -> bool:
        """Take one line; True once the block is complete."""
        self.feed_lines((line,))
        return self.done

    def feed_lines(self, lines: Sequence[str]) -> int:
        """Take lines in order until the block is complete; returns how many
        it took (all of them, unless the blank line came before the end).

        Raises ValueError when the peer sends far more lines than any Asterisk
        would (a hostile or confused client).
        """
        values = self.values
        for taken, line in enumerate(lines, start=1):
            if line.endswith("\r"):
                line = line[:-1]
            if line == "":
                self.done = True
                return taken
            if line == "HANGUP":
                self.hangup_seen = True
                continue
            self._count += 1
            if self._count > self._max_lines:
                raise ValueError(f"environment longer than {self._max_lines} lines")
            # ``agi_key: value``, split at the first colon only: values may hold ``:``
            key, colon, value = line.partition(":")
            if colon and key.startswith("agi_"):
                values[key[4:]] = value[1:] if value.startswith(" ") else value
        return len(lines)

    def environment(self) -> AgiEnvironment:
        return AgiEnvironment(dict(self.values))
