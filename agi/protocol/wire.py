"""Encode AGI commands and parse Asterisk's replies, line by line.

Everything here is pure: the Twisted protocol and the stdin AGI mode only frame
lines and hand them to these functions.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import lru_cache

#: Longest command line (newline included) that every supported Asterisk reads
#: in one piece. 22.6+/21.11+/20.16+ accept 8191; older releases 2047.
SAFE_COMMAND_LINE = 2047
#: Asterisk splits arguments into at most this many words.
MAX_ARGUMENTS = 127

HANGUP_LINE = "HANGUP"
#: The numbers ``chr`` turns into a character: a result outside them is no key.
MAX_CODE_POINT = 0x10FFFF
SURROGATES = (0xD800, 0xDFFF)
#: The longest multi-line answer (``520-`` usage) read: Asterisk's usage
#: texts are a few dozen lines. Past either cap the answer is refused.
MAX_ANSWER_LINES = 256
MAX_ANSWER_CHARS = 65536
#: Lines in a row that answer no command (``HANGUP``, ``100 Trying...``, the
#: lines of a multi-line answer, lines with no command pending). Asterisk
#: sends one or two between replies, a multi-line answer at most
#: MAX_ANSWER_LINES: a peer that sent them without end was read for ever,
#: a couple of microseconds of the server's reactor a line, every other
#: call waiting meanwhile.
MAX_LINES_WITHOUT_REPLY = 1024
#: Why a connection past MAX_LINES_WITHOUT_REPLY is closed (the CDR's error).
TOO_MANY_LINES_WITHOUT_REPLY = f"Asterisk sent more than {MAX_LINES_WITHOUT_REPLY} lines in a row that answer no command"

#: The longest line (or script) a cache keeps: a peer sending long lines that
#: all differ once made 1,024 of each stay in memory (240 MB of replies).
REMEMBERED_LENGTH = 512


#: Verbs already checked, with their number of words: a server sends the
#: same few thousands of times.
_VERB_WORDS: dict[str, int] = {}


class CommandError(ValueError):
    """A command that must not be sent as it is."""


class AnswerTooLong(ValueError):
    """A multi-line answer past MAX_ANSWER_LINES or MAX_ANSWER_CHARS, or
    more than MAX_LINES_WITHOUT_REPLY lines before a reply: no Asterisk
    sends them, so the connection is closed."""


def quote_argument(value: object) -> str:
    """Wrap one argument in double quotes, escaping backslash and quote.

    CR and LF would end the command early on the wire, so they are refused;
    so is NUL, which ends Asterisk's C string early: it would then join the
    next command line to this one and never answer this one.
    """
    text = str(value)
    if "\r" in text or "\n" in text:
        raise CommandError(f"argument contains a line break: {text!r}")
    if "\x00" in text:
        raise CommandError(f"argument contains a NUL character: {text!r}")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def encode_command(verb: str, *args: object, max_line: int = SAFE_COMMAND_LINE) -> bytes:
    """Build one command line: the verb words as they are, every argument quoted.

    Raises CommandError for line breaks, text that is not valid Unicode
    (a lone surrogate), too many arguments, or a line
    (newline included) longer than ``max_line`` bytes: Asterisk would cut it
    in two and run the tail as a second command.
    """
    if sum(len(arg) if type(arg) is str else 0 for arg in args) > REMEMBERED_LENGTH:
        return _encode(verb, max_line, *args)  # text from a caller, a template: not kept
    try:
        return _encode_remembered(verb, max_line, *args)
    except TypeError:  # an argument that cannot be a cache key
        return _encode(verb, max_line, *args)


def _encode(verb: str, max_line: int, *args: object) -> bytes:
    words = _VERB_WORDS.get(verb)
    if words is None:
        if not re.fullmatch(r"[A-Z]+( [A-Z]+)*", verb):
            raise CommandError(f"not an AGI command verb: {verb!r}")
        words = _VERB_WORDS[verb] = len(verb.split())
    if words + len(args) > MAX_ARGUMENTS:
        raise CommandError(f"{verb}: more than {MAX_ARGUMENTS} arguments")
    text = " ".join([verb, *map(quote_argument, args)])
    try:
        line = text.encode("utf-8") + b"\n"
    except UnicodeEncodeError as exc:  # a lone surrogate, e.g. "\ud800" from a webhook's JSON
        raise CommandError(f"{verb}: an argument is not valid Unicode text ({exc.reason})") from None
    if len(line) > max_line:
        raise CommandError(f"{verb}: command line of {len(line)} bytes exceeds the limit of {max_line}")
    return line


#: A flow sends the same few lines call after call (typed: 1 and True differ);
#: only those whose text is at most REMEMBERED_LENGTH long are kept (a flow
#: sending caller-given text once kept 4,096 lines of up to 8 KB each).
_encode_remembered = lru_cache(maxsize=4096, typed=True)(_encode)


@dataclass(frozen=True)
class Reply:
    """One complete answer from Asterisk to one command."""

    code: int
    result: str = ""
    data: str | None = None
    endpos: int | None = None
    text: str = ""
    usage: tuple[str, ...] = field(default=())
    #: A ``HANGUP`` line came before this answer (since the previous one):
    #: the channel was dead before the command ran.
    after_hangup: bool = field(default=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.code == 200

    @property
    def result_int(self) -> int | None:
        """The result as a number, or None when it is empty or not numeric."""
        try:
            return int(self.result)
        except ValueError:
            return None

    @property
    def digit(self) -> str | None:
        """The DTMF digit of a GET OPTION / WAIT FOR DIGIT / STREAM FILE reply.

        Those commands answer the ASCII code of the key (50 is '2'); 0 means
        no key and a negative value a failure or hangup; a number that is
        no character gives None too.
        """
        code = self.result_int
        if code is None or not 0 < code <= MAX_CODE_POINT or SURROGATES[0] <= code <= SURROGATES[1]:
            return None  # no key, a failure, or a number no key has (a confused or hostile peer)
        return chr(code)


#: ``result=<v>``: the value runs to the first white space.
_RESULT_VALUE = re.compile(r"\S*")
#: The digits of a trailing ``endpos=<n>``.
_ENDPOS = re.compile(r"-?\d+\n?")


def parse_200(line: str) -> Reply:
    """``_parse_200``; remembered for lines of at most REMEMBERED_LENGTH
    characters (Replies are immutable; the same few lines come back all day)."""
    return _parse_200_remembered(line) if len(line) <= REMEMBERED_LENGTH else _parse_200(line)


def _parse_200(line: str) -> Reply:
    """Parse ``200 result=<v>[ (<data>)][ endpos=<n>]``.

    The data is raw and may itself contain parentheses, so it runs from the
    first ``(`` to the last ``)`` before an optional trailing endpos. Read
    with string searches, in time linear in the line: a regular expression
    that looked for the endpos after every character took 24 s (and held
    every call) on a line of 65,000 spaces.
    """
    body = line[4:] if len(line) > 3 else ""
    if not body.startswith("result="):
        return Reply(code=200, text=body)
    value = _RESULT_VALUE.match(body, 7)
    assert value is not None  # \S* matches everywhere
    result, rest = value.group(), body[value.end():]
    endpos = None
    head, found, tail = rest.rpartition("endpos=")
    if found and head[-1:].isspace() and _ENDPOS.fullmatch(tail):
        rest, endpos = head.rstrip(), tail
    data = None
    if rest:
        stripped = rest.strip()
        if stripped.startswith("(") and stripped.endswith(")"):
            data = stripped[1:-1]
        elif stripped:
            data = stripped
    return Reply(code=200, result=result, data=data, endpos=_number(endpos), text=body)


_parse_200_remembered = lru_cache(maxsize=1024)(_parse_200)


def _number(text: str | None) -> int | None:
    """``endpos`` as a number; None when absent or too long for ``int``
    (Python refuses more than 4,300 digits: no Asterisk sends them)."""
    try:
        return None if text is None else int(text)
    except ValueError:
        return None


def parse_200_line(raw: bytes) -> Reply:
    """``parse_200`` of one raw ``200 ...`` line as it comes off the wire,
    with its line ending, decoded as every line is (invalid UTF-8 and NUL
    become U+FFFD); remembered like ``parse_200``."""
    return _parse_200_line_remembered(raw) if len(raw) <= REMEMBERED_LENGTH else _parse_200_line(raw)


def _parse_200_line(raw: bytes) -> Reply:
    text = raw[:-1].removesuffix(b"\r").decode("utf-8", errors="replace")
    return parse_200(text.replace("\x00", "\ufffd") if "\x00" in text else text)  # as decode_line does


_parse_200_line_remembered = lru_cache(maxsize=1024)(_parse_200_line)


def whole_200_reply(segment: bytes, max_line: int) -> Reply | None:
    """The reply when ``segment``, bytes as one read from the socket gave
    them, is exactly one whole ``200`` line of at most ``max_line`` bytes
    (line ending included), as nearly every segment is; then it is the
    Reply ``ReplyParser.feed`` gives for that line. None for anything else,
    which the caller frames line by line."""
    if segment[:4] != b"200 " or segment.find(b"\n") != len(segment) - 1 or len(segment) > max_line:
        return None
    reply = parse_200_line(segment)
    return None if opens_value(reply) else reply


def opens_value(reply: Reply) -> bool:
    """Whether a ``200`` line only starts its answer: GET VARIABLE, GET FULL
    VARIABLE and DATABASE GET answer ``result=1`` and the value unescaped
    between parentheses, so a value holding line breaks (a caller name a
    lookup answered with a newline) runs on over the next lines, up to the
    one that ends with ``)``."""
    data = reply.data
    return (reply.result == "1" and data is not None and data[:1] == "(" and reply.endpos is None
            and not reply.text.endswith(")"))


class ReplyParser:
    """Turns reply lines into Replies; notes the out-of-band HANGUP line.

    ``feed`` returns a Reply when one is complete, else None. A ``HANGUP``
    line is never a reply: it sets ``hangup_seen`` and the parser keeps
    waiting for the answer to the pending command. ``NNN-`` starts a
    multi-line answer that runs until the ``NNN `` line; ``100`` is the
    interim "Trying..." that precedes the real answer to GOSUB. A
    multi-line answer longer than ``max_lines`` lines or ``max_chars``
    characters raises AnswerTooLong.
    """

    def __init__(self, max_lines: int = MAX_ANSWER_LINES, max_chars: int = MAX_ANSWER_CHARS) -> None:
        self.hangup_seen = False
        self._hangup_unanswered = False  # a HANGUP line since the last answer
        self.max_lines = max_lines
        self.max_chars = max_chars
        self._usage: list[str] | None = None
        self._usage_code = 0
        self._usage_chars = 0
        self._value: list[str] | None = None  # the lines so far of a value holding line breaks

    @property
    def idle(self) -> bool:
        """Not inside a multi-line answer: the next line starts a reply."""
        return self._usage is None and self._value is None

    def feed(self, line: str) -> Reply | None:
        reply = self._feed(line)
        return reply if reply is None else self.answer(reply)

    def answer(self, reply: Reply) -> Reply:
        """``reply``, the answer to the pending command (also one framed
        elsewhere), marked ``after_hangup`` when a HANGUP line came since
        the last answer."""
        if not self._hangup_unanswered:
            return reply
        self._hangup_unanswered = False
        return replace(reply, after_hangup=True)

    def _feed(self, line: str) -> Reply | None:
        if line.endswith("\r"):
            line = line[:-1]
        if self._usage is not None:
            return self._feed_continuation(line)
        if self._value is not None:
            return self._feed_value(line)
        if line.startswith("200 "):  # nearly every reply
            reply = parse_200(line)
            if line[-1] != ")" and opens_value(reply):
                self._value = [line]
                self._usage_chars = len(line)
                return None
            return reply
        if line == HANGUP_LINE:
            self.hangup_seen = self._hangup_unanswered = True
            return None
        code = _code_of(line)
        if code is None:
            return Reply(code=0, text=line)
        if len(line) > 3 and line[3] == "-":
            self._usage = [line[4:]]
            self._usage_code = code
            self._usage_chars = len(line)
            return None
        if code == 100:
            return None
        if code == 200:
            return parse_200(line)
        return Reply(code=code, text=line[4:])

    def _feed_continuation(self, line: str) -> Reply | None:
        """A line of a multi-line answer: the last (``NNN ``) completes it.
        The whole answer, first and last lines included, may have at most
        ``max_lines`` lines and ``max_chars`` characters; a ``HANGUP``
        line inside it is noted, as anywhere else, and is no line of it."""
        assert self._usage is not None
        if line == HANGUP_LINE:  # out of band, never a line of the answer
            self.hangup_seen = self._hangup_unanswered = True
            return None
        last = _code_of(line) == self._usage_code and line[3:4] == " "
        self._usage_chars += len(line)
        if self._usage_chars > self.max_chars or len(self._usage) + (1 if last else 2) > self.max_lines:
            self._usage = None
            raise AnswerTooLong(f"Asterisk sent a multi-line answer longer than {self.max_lines} lines "
                                f"or {self.max_chars} characters")
        if last:
            usage = tuple(self._usage[1:])
            reply = Reply(code=self._usage_code, text=self._usage[0], usage=usage + (line[4:],))
            self._usage = None
            return reply
        self._usage.append(line)
        return None

    def _feed_value(self, line: str) -> Reply | None:
        """A line of a value holding line breaks: the one that ends with
        ``)`` completes it. A HANGUP line is one of its lines: Asterisk
        writes the answer at once, so no HANGUP comes in the middle of it.
        The caps of multi-line answers hold."""
        assert self._value is not None
        self._value.append(line)
        self._usage_chars += len(line)
        if self._usage_chars > self.max_chars or len(self._value) > self.max_lines:
            self._value = None
            raise AnswerTooLong(f"Asterisk sent a multi-line answer longer than {self.max_lines} lines "
                                f"or {self.max_chars} characters")
        if not line.endswith(")"):
            return None
        whole, self._value = "\n".join(self._value), None
        return _parse_200(whole)


def _code_of(line: str) -> int | None:
    head = line[:3]
    if len(head) == 3 and head.isascii() and head.isdigit() and (len(line) == 3 or line[3] in " -"):
        return int(line[:3])
    return None
