"""Phone numbers as steps handle them: E.164 normalisation, withheld caller
IDs, and the digits to say back to a caller. Pure: no Twisted, no I/O."""
from __future__ import annotations

import phonenumbers

#: Caller ID numbers that mean "no number": Asterisk's ``unknown`` and what
#: carriers and phones send for withheld or unavailable numbers.
WITHHELD = frozenset({"", "anonymous", "unknown", "restricted", "private", "withheld", "unavailable",
                      "blocked", "asterisk", "invalid", "none", "null"})


def is_withheld(number: str) -> bool:
    """True for an empty or withheld caller ID (any case, ``sip:`` or not)."""
    text = number.strip().lower()
    if text.startswith(("sip:", "sips:", "tel:")):
        text = text.split(":", 1)[1].split("@", 1)[0]
    return text in WITHHELD


def is_anonymous(caller: str) -> bool:
    """True when a caller ID gives no number to call back: withheld, or no
    digits at all."""
    return is_withheld(caller) or not any(ch.isdigit() for ch in caller)


def parse(raw: str, region: str) -> phonenumbers.PhoneNumber:
    """``raw`` as a valid phone number, national numbers read in ``region``
    (ISO 3166 code such as ES; its international prefix, 00 there, is
    understood). Raises ValueError otherwise."""
    try:
        number = phonenumbers.parse(raw.strip(), region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"{raw!r} is not a phone number: {exc}") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"{raw!r} is not a valid phone number in region {region}")
    return number


def to_e164(raw: str, region: str) -> str:
    """``600 111 222`` in ES -> ``+34600111222``; ValueError if not valid."""
    return phonenumbers.format_number(parse(raw, region), phonenumbers.PhoneNumberFormat.E164)


def spoken_digits(e164: str, region: str) -> str:
    """The digits a caller in ``region`` would dial for ``e164``: the
    national number at home (``600111222``, ``07400123456``), the
    international prefix and country code otherwise (``0033612345678``)."""
    number = parse(e164, region)
    dialled = phonenumbers.format_out_of_country_calling_number(number, region)
    return "".join(ch for ch in dialled if ch.isdigit())


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def spellings(e164: str, region: str) -> tuple[str, ...]:
    """The ways a caller ID may spell the E.164 number ``e164`` when it
    reaches Asterisk through a trunk in ``region``, the E.164 form first:
    ``+34600111222``, ``34600111222``, ``0034600111222`` (the region's
    international prefix) and, for a number of the region's own country,
    the national digits ``600111222`` (``07400123456`` in GB). For a
    number of another country the third form is what a caller in
    ``region`` dials (``0033612345678`` in ES). At most five, no repeats.
    ValueError when ``e164`` is not an E.164 number."""
    if not e164.startswith("+") or not e164[1:].isdigit():
        raise ValueError(f"{e164!r} is not an E.164 number")
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"{e164!r} is not a phone number: {exc}") from None
    found = [e164, e164[1:]]
    if number.country_code == phonenumbers.country_code_for_region(region):
        found.append(_digits(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)))
    found.append(_digits(phonenumbers.format_out_of_country_calling_number(number, region)))
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    prefix = metadata and (metadata.preferred_international_prefix or metadata.international_prefix)
    if prefix and prefix.isdigit():
        found.append(prefix + e164[1:])
    return tuple(dict.fromkeys(spelling for spelling in found if spelling))


def caller_spellings(e164: str, region: str) -> tuple[str, ...]:
    """The ways a caller ID may write the E.164 number or prefix ``e164``
    as its whole text or its start, the E.164 form first: ``+34600``,
    ``34600``, ``0034600`` (the region's international prefix) and, for a
    number of the region's own country, its national digits with and
    without the trunk prefix (``600`` in ES; ``07400`` and ``7400`` in GB):
    each is what agi/lists/numbers.py reads back as ``e164``. No national
    form for the country code alone. At most five, no repeats. ValueError
    when ``e164`` is not ``+`` and digits."""
    if not e164.startswith("+") or not e164[1:].isdigit():
        raise ValueError(f"{e164!r} is not an E.164 number or prefix")
    digits = e164[1:]
    found = [e164, digits]
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if metadata is not None:
        idd = metadata.preferred_international_prefix or metadata.international_prefix
        if idd and idd.isdigit():
            found.append(idd + digits)
        home = str(metadata.country_code)
        national = digits[len(home):]
        if digits.startswith(home) and national:
            found += [(metadata.national_prefix or "") + national, national]
    return tuple(dict.fromkeys(found))
