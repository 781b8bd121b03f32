"""The agi_* environment block Asterisk sends before the first command."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from urllib.parse import parse_qsl

from agi.protocol.wire import REMEMBERED_LENGTH


def decode_line(raw: bytes) -> str:
    """Decode a wire line leniently: Asterisk sends raw bytes (a caller name may
    be cut in the middle of a UTF-8 character). A NUL, which no Asterisk
    sends and PostgreSQL cannot store in text, becomes U+FFFD too."""
    return without_nul(raw.decode("utf-8", errors="replace"))


def without_nul(text: str) -> str:
    """``text`` with every NUL character replaced by U+FFFD."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def split_script(script: str) -> tuple[str, dict[str, str]]:
    """``support/main?lang=fr`` -> (``support/main``, {``lang``: ``fr``})."""
    path, pairs = _split_script_remembered(script) if len(script) <= REMEMBERED_LENGTH else _split_script(script)
    return path, dict(pairs)


def _split_script(script: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    path, _, query = script.partition("?")
    return path.strip("/"), tuple(parse_qsl(query, keep_blank_values=True))


#: The dialplan asks for the same few scripts all day; a long one is not kept
#: (a peer sending long scripts that all differ once made 1,024 of them, and
#: their parameters, stay in memory: 1.2 GB).
_split_script_remembered = lru_cache(maxsize=1024)(_split_script)


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

    @cached_property
    def _script_parts(self) -> tuple[str, dict[str, str]]:
        """The script split once a call: a long one takes milliseconds."""
        return split_script(self.script)

    @property
    def flow_name(self) -> str:
        return self._script_parts[0]

    @property
    def query(self) -> dict[str, str]:
        return dict(self._script_parts[1])

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
        if "arg_1" not in self.values:  # Asterisk numbers them from 1
            return []
        numbered = []
        for key, value in self.values.items():
            digits = key[4:]
            if key.startswith("arg_") and digits.isascii() and digits.isdigit():
                # Ordered as numbers without int(): a peer may send thousands of digits.
                number = digits.lstrip("0")
                numbered.append((len(number), number, value))
        return [value for *_, value in sorted(numbered)]


#: The blank line that ends the block (a lone CR too: Asterisk ends lines with LF).
_BLANK_LINE = re.compile(r"^\r?$", re.MULTILINE)
_HANGUP_LINE = re.compile(r"^HANGUP\r?$", re.MULTILINE)
#: ``agi_key: value``, split at the first colon only: values may hold ``:``.
_VARIABLE_LINE = re.compile(r"^agi_([^:\n]*): ?([^\n]*?)\r?$", re.MULTILINE)
#: The same for a block without carriage returns (what Asterisk sends),
#: after a newline put before it: a literal prefix the engine searches
#: for, and a greedy value, instead of tests at every character.
_VARIABLE_LINE_LF = re.compile(r"\nagi_([^:\n]*): ?([^\n]*)")


def _blank_line(text: str) -> int:
    """Where the first blank line of ``text`` (lines joined by newlines)
    starts; -1 when it has none. Without a carriage return in ``text``, two
    string searches instead of a regular expression tried at every character."""
    if "\r" in text:
        found = _BLANK_LINE.search(text)
        return -1 if found is None else found.start()
    if not text or text[0] == "\n":
        return 0
    at = text.find("\n\n")
    if at >= 0:
        return at + 1
    return len(text) if text[-1] == "\n" else -1


#: The longest environment read: Asterisk sends a few dozen short lines.
MAX_ENVIRONMENT_LINES = 256
MAX_ENVIRONMENT_CHARS = 65536


#: Values Asterisk writes as the caller's channel holds them, line breaks and
#: all (a caller name a CRM lookup answered with a trailing newline): a
#: line of one of them may be blank or look like another key. Asterisk
#: always writes agi_threadid after them, and never a key twice.
CALLER_TEXT = frozenset({"callerid", "calleridname", "dnid", "rdnis"})
#: The keys in the order Asterisk 22 writes them (the arguments follow).
ASTERISK_ORDER = ("network", "network_script", "request", "channel", "language", "type", "uniqueid", "version",
                  "callerid", "calleridname", "callingpres", "callingani2", "callington", "callingtns", "dnid",
                  "rdnis", "context", "extension", "priority", "enhanced", "accountcode", "threadid")
#: For each caller text: the keys Asterisk writes before it, and itself.
_WRITTEN_BY = {key: frozenset(ASTERISK_ORDER[:ASTERISK_ORDER.index(key) + 1]) for key in CALLER_TEXT}
#: One ``agi_key: value`` line of the slow path.
_ONE_VARIABLE = re.compile(r"agi_([^:]*): ?(.*)")


class EnvironmentReader:
    """Collects environment lines until the blank line that ends the block.

    In a block from an Asterisk (it has ``agi_version``), a line of a caller
    ID, name, DNID or RDNIS that holds line breaks is part of that value,
    not a key and not the end of the block: the value is kept up to its
    first line break; a blank or HANGUP line before ``agi_threadid`` ends
    nothing and hangs nothing up; a key read before such a value is never
    replaced by a line of it.
    """

    def __init__(self, max_lines: int = MAX_ENVIRONMENT_LINES, max_chars: int = MAX_ENVIRONMENT_CHARS) -> None:
        self.values: dict[str, str] = {}
        self.hangup_seen = False
        self.done = False
        self._max_lines = max_lines
        self._max_chars = max_chars
        self._count = 0
        self._chars = 0
        self._kept: frozenset[str] = frozenset()  # keys a line of caller text may not replace
        #: The last line taken was a line of a caller text, not a key and not the end.
        self.inside_value = False

    def feed(self, line: str) -> bool:
        """Take one line (without its newline); True once the block is complete."""
        self.feed_text(line)
        return self.done

    def feed_text(self, text: str) -> int:
        """Take complete lines (joined by newlines, the way they came) until
        the blank line that ends the block; returns how many lines it took
        (all of them, unless the block ended before the last).

        Raises ValueError when the peer sends far more lines or text than
        any Asterisk would (a hostile or confused client): more than
        ``max_lines`` lines (HANGUP lines aside) or ``max_chars`` characters.
        """
        blank = _blank_line(text)
        if blank < 0:
            block, taken = text, text.count("\n") + 1
            lines = taken
        else:
            block, taken = text[:blank], text.count("\n", 0, blank) + 1
            lines = taken - 1
        hangups = len(_HANGUP_LINE.findall(block)) if "HANGUP" in block else 0
        pairs = (_VARIABLE_LINE if "\r" in block else _VARIABLE_LINE_LF).findall(block if "\r" in block
                                                                                 else "\n" + block)
        if not self._plain(block, pairs, lines - hangups, blank >= 0):
            return self._feed_lines(text)
        self._count_text(lines - hangups, len(block) + 1)
        self.inside_value = False
        self._keep_read_keys(pairs)
        self.values.update(pairs)
        self.hangup_seen = self.hangup_seen or hangups > 0
        self.done = blank >= 0
        return taken

    def _plain(self, block: str, pairs: list[tuple[str, str]], variable_lines: int, ends: bool) -> bool:
        """Whether the lines can be read at once: a block from no Asterisk,
        or what nearly every block is, one new key per line and no blank or
        HANGUP line before agi_threadid. Anything else is read line by line."""
        keys = [key for key, _ in pairs]
        if "version" not in self.values and "version" not in keys:
            return True
        before_threadid = "threadid" not in self.values and "threadid" not in keys
        return (len(pairs) == variable_lines and len(set(keys)) == len(keys) and not self.values.keys() & keys
                and not (ends and before_threadid) and not ("HANGUP" in block and "threadid" not in self.values))

    def _keep_read_keys(self, pairs: list[tuple[str, str]]) -> None:
        """Past a caller text, the keys Asterisk wrote before it are read."""
        for key, _ in pairs:
            if key in CALLER_TEXT:
                self._kept |= _WRITTEN_BY[key]

    def _feed_lines(self, text: str) -> int:
        taken = 0
        for line in text.split("\n"):
            taken += 1
            if self._take_line(line.removesuffix("\r")):
                break
        return taken

    def _take_line(self, line: str) -> bool:
        self._count_text(0 if line == "HANGUP" else 1, len(line) + 1)
        self.inside_value = False
        if line == "HANGUP" and "version" in self.values and "threadid" not in self.values:
            self.inside_value = True  # Asterisk writes HANGUP only after the environment: a caller name's line
        elif line == "HANGUP":
            self.hangup_seen = True
        elif not line:
            self.done = "version" not in self.values or "threadid" in self.values
            self.inside_value = not self.done
        else:
            found = _ONE_VARIABLE.fullmatch(line)
            if found is not None and found.group(1) not in self._kept:
                key = found.group(1)
                self.values[key] = found.group(2)
                if key in CALLER_TEXT and "version" in self.values:
                    self._kept |= _WRITTEN_BY[key]
            else:
                self.inside_value = "version" in self.values
        return self.done

    def _count_text(self, lines: int, chars: int) -> None:
        self._count += lines
        self._chars += chars
        if self._count > self._max_lines:
            raise ValueError(f"environment longer than {self._max_lines} lines")
        if self._chars > self._max_chars:
            raise ValueError(f"environment longer than {self._max_chars} characters")

    def environment(self) -> AgiEnvironment:
        return AgiEnvironment(dict(self.values))
