"""Phone numbers and list entries in E.164 form.

``Normaliser(region).number(text)`` turns what people write (``+34 600 11
12 22``, ``0034600111222``, ``600111222`` in Spain) into E.164
(``+34600111222``) with ``phonenumbers``. Parsing with ``phonenumbers``
costs about 20 microseconds a number, too slow for lists of millions, so
the common shapes (E.164, the region's international prefix, national
digits) take a fast path that reproduces its rules from the same metadata:
country code extraction, the national (trunk) prefix, the region's number
pattern and possible lengths. Anything the fast path is not sure of goes to
``phonenumbers``; a property test checks the two always agree.

``Normaliser(region).entry(text)`` reads a list entry: a number, or a prefix
written with a trailing ``*`` (``+3490*``, ``0034 90*``, ``90*``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumberFormat
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE, region_code_for_country_code

PREFIX_MARK = "*"
#: The longest E.164 number has 15 digits after the ``+``.
MAX_DIGITS = 15
#: Separators people write inside numbers; the fast path drops them.
_SEPARATORS = str.maketrans("", "", " -.\t")
_PLAIN = re.compile(r"\+?[0-9]+")
_LITERAL = re.compile(r"[0-9]+")
#: An extension this long is another phone number (phonenumbers reads what
#: follows ``,``, ``;``, ``#`` or ``x`` as an extension): 7 digits, as the
#: do-not-call guard counts a phone number (agi/call_guard.py).
LONGEST_EXTENSION = 6


@dataclass(frozen=True)
class Entry:
    """One list entry: an E.164 number, or a prefix of numbers."""

    number: str
    prefix: bool = False

    @property
    def key(self) -> str:
        """How the entry is stored: the number, with ``*`` after a prefix."""
        return self.number + PREFIX_MARK if self.prefix else self.number

    @classmethod
    def from_key(cls, key: str) -> "Entry":
        if key.endswith(PREFIX_MARK):
            return cls(key[:-1], True)
        return cls(key)


@dataclass(frozen=True)
class _Country:
    """What the fast path needs of one country's numbering plan."""

    code: str
    pattern: re.Pattern[str]
    lengths: frozenset[int]
    #: The national prefix to strip when parsing, when it is plain digits.
    trunk: str | None
    #: False when phonenumbers applies rules the fast path does not copy.
    simple: bool

    def national(self, digits: str) -> str | None:
        """The national significant number phonenumbers keeps for
        ``digits`` (written after the country code or nationally), or None
        when only phonenumbers can tell."""
        if not self.simple:
            return None
        if self.trunk and digits.startswith(self.trunk):
            digits = digits[len(self.trunk):]
        if len(digits) in self.lengths and self.pattern.fullmatch(digits):
            return digits
        return None


@lru_cache(maxsize=None)
def _country(region: str) -> _Country | None:
    if region == "001":
        return None
    metadata = PhoneMetadata.metadata_for_region(region)
    general = metadata.general_desc if metadata is not None else None
    if metadata is None or general is None or general.national_number_pattern is None:
        return None
    trunk = metadata.national_prefix_for_parsing
    simple = trunk is None or (_LITERAL.fullmatch(trunk) is not None and not metadata.national_prefix_transform_rule)
    return _Country(str(metadata.country_code), re.compile(general.national_number_pattern),
                    frozenset(general.possible_length), trunk, simple)


#: Every country calling code, as text.
_CODES = frozenset(str(code) for code in COUNTRY_CODE_TO_REGION_CODE)


@lru_cache(maxsize=None)
def _country_of_code(code: str) -> _Country | None:
    """The plan of the code's main region; None for the non-geographic
    codes (800, 808...). Metadata loads on first use, region by region."""
    return _country(region_code_for_country_code(int(code)))


def _code_in(head: str) -> tuple[str, _Country | None]:
    """The country code among the first three digits (as phonenumbers:
    the first 1, 2 or 3 digits that form one) and its plan, if simple."""
    for size in (1, 2, 3):
        if head[:size] in _CODES:
            return head[:size], _country_of_code(head[:size])
    return "", None


class Normaliser:
    """Numbers and entries to E.164, reading national forms as ``region``
    (an ISO 3166 code such as ES) would dial them."""

    def __init__(self, region: str) -> None:
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown region {region!r}: use an ISO 3166 code such as ES")
        self.region = region
        metadata = PhoneMetadata.metadata_for_region(region)
        assert metadata is not None  # a supported region has metadata
        self._home = _country(region)
        #: The first three digits after ``+`` decide the country code.
        self._heads: dict[str, tuple[str, _Country | None]] = {}
        idd = metadata.international_prefix or ""
        self._idd_literal = idd if _LITERAL.fullmatch(idd) else None
        self._idd = re.compile(idd) if idd else None
        self._trunk = metadata.national_prefix or ""

    def number(self, text: str) -> str:
        """``text`` in E.164; ValueError when it is not a phone number."""
        return self.fast(text) or self.slow(text)

    def fast(self, text: str) -> str | None:
        """E.164 for the plain shapes, or None to ask phonenumbers."""
        plain = text
        if not _PLAIN.fullmatch(plain):
            plain = text.translate(_SEPARATORS)
            if not _PLAIN.fullmatch(plain):
                return None
        if plain[0] == "+":
            return self._international(plain[1:])
        idd = self._idd_literal
        if idd is not None:
            if plain.startswith(idd):
                rest = plain[len(idd):]
                return None if rest[:1] in ("", "0") else self._international(rest)
        elif self._idd is not None and self._idd.match(plain):
            return None
        home = self._home
        if home is None or plain.startswith(home.code):
            return None
        national = home.national(plain)
        return None if national is None else f"+{home.code}{national}"

    def _international(self, digits: str) -> str | None:
        """Like phonenumbers: the country code is the first 1 to 3 digits
        that form one."""
        head = digits[:3]
        found = self._heads.get(head)
        if found is None:
            found = self._heads[head] = _code_in(head)
        code, country = found
        national = country.national(digits[len(code):]) if country else None
        return None if national is None else f"+{code}{national}"

    def slow(self, text: str) -> str:
        """E.164 by phonenumbers itself; the possible lengths are checked. An
        extension is dropped, but one of a phone number's length is a second
        number (``600111222;611222333``, a CRM cell of two phones): refused,
        never read as the first number alone."""
        try:
            parsed = phonenumbers.parse(text, self.region)
        except NumberParseException as exc:
            raise ValueError(f"{text!r} is not a phone number: {exc._msg}") from None
        if not phonenumbers.is_possible_number(parsed):
            raise ValueError(f"{text!r} is not a possible phone number (wrong length)")
        if len(parsed.extension or "") > LONGEST_EXTENSION:
            raise ValueError(f"{text!r} holds more than one phone number: give one number a line")
        return phonenumbers.format_number(parsed, PhoneNumberFormat.E164)

    def key(self, text: str) -> str:
        """What ``entry(text).key`` is, faster: the form stored in a list."""
        if PREFIX_MARK in text and text.rstrip().endswith(PREFIX_MARK):
            return self.prefix(text.rstrip()[:-1]) + PREFIX_MARK
        return self.fast(text) or self.slow(text)

    def entry(self, text: str, prefix: bool = False) -> Entry:
        """A list entry: a number, or a prefix when ``text`` ends with
        ``*`` or ``prefix`` is true."""
        text = text.strip()
        if text.endswith(PREFIX_MARK):
            return Entry(self.prefix(text[:-1]), True)
        if prefix:
            return Entry(self.prefix(text), True)
        return Entry(self.number(text))

    def prefix(self, text: str) -> str:
        """A prefix in E.164 form: ``+3490`` from ``+34 90``, ``003490``
        or (in Spain) ``90``. A national prefix loses its trunk prefix
        (the 0 of France or Germany)."""
        plain = text.translate(_SEPARATORS)
        if not plain.strip("+"):
            raise ValueError(f"{text + PREFIX_MARK!r} is not a number prefix: no digits before *")
        if plain.startswith("+"):
            digits = plain[1:]
        elif self._idd_literal and plain.startswith(self._idd_literal) and len(plain) > len(self._idd_literal):
            digits = plain[len(self._idd_literal):]
        else:
            national = plain[len(self._trunk):] if self._trunk and plain.startswith(self._trunk) else plain
            digits = (self._home.code if self._home else "") + national if national.isascii() else "x"
        if not _LITERAL.fullmatch(digits) or len(digits) > MAX_DIGITS or digits.startswith("0"):
            raise ValueError(f"{text + PREFIX_MARK!r} is not a number prefix "
                             f"(write digits then *, e.g. +3490*)")
        return "+" + digits


@lru_cache(maxsize=8)
def normaliser(region: str) -> Normaliser:
    """The normaliser of ``region`` (Services.default_region), built once:
    what steps and flow tests use on every call."""
    return Normaliser(region)


#: A ``prefix_lengths`` mask with every length: probe every prefix.
ALL_LENGTHS = -1


def length_bit(key: str) -> int:
    """The bit of a stored key's length in a ``prefix_lengths`` mask."""
    return 1 << len(key)


def probe_keys(number: str, prefix_lengths: int = ALL_LENGTHS) -> list[str]:
    """The stored keys that can match the E.164 ``number``: the number
    itself, then its prefixes with ``*`` (longest first) whose key length
    is in the ``prefix_lengths`` mask."""
    return [number] + [number[:end] + PREFIX_MARK for end in range(len(number), 1, -1)
                       if prefix_lengths >> (end + 1) & 1]
