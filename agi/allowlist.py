"""``server.allow``: which peer addresses may connect.

Entries are IP addresses or networks in CIDR notation (``10.0.0.5``,
``10.0.0.0/24``, ``2001:db8::/32``). A server listening on ``::`` takes
IPv4 connections too, and sees their peers as IPv4-mapped IPv6 addresses
(``::ffff:10.0.0.5``): those are matched as the IPv4 address they carry,
so ``10.0.0.5`` allows them. Pure: no sockets, no Twisted.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Union

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]


class AllowEntryError(ValueError):
    """An allow entry that is not an address or network, or can never match."""


def _unmapped(address: Address) -> Address:
    """An IPv4-mapped IPv6 address as the IPv4 address it carries."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_entry(entry: str) -> Network:
    """One allow entry as a network (an address is a network of one).
    IPv4-mapped IPv6 entries (``::ffff:10.0.0.0/120``) become IPv4 networks."""
    text = entry.strip()
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        try:
            loose = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise AllowEntryError(f"'{entry}' is not an IP address or network "
                                  "(such as 10.0.0.5, 10.0.0.0/24 or 2001:db8::/32)") from None
        raise AllowEntryError(f"'{entry}' has bits set after its /{loose.prefixlen} prefix; "
                              f"did you mean {loose}? ({exc})") from None
    mapped = network.network_address
    if isinstance(mapped, ipaddress.IPv6Address) and mapped.ipv4_mapped is not None and network.prefixlen >= 96:
        return ipaddress.IPv4Network(f"{mapped.ipv4_mapped}/{network.prefixlen - 96}")
    return network


def listening_versions(host: str) -> frozenset[int]:
    """The IP versions of the peers a server listening on ``host`` can see:
    ``::`` takes IPv4 (mapped) and IPv6; another IPv6 address only IPv6
    (IPv4 when it is itself IPv4-mapped); an IPv4 address or a host name
    (the server binds it as IPv4) only IPv4."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return frozenset({4})
    if isinstance(address, ipaddress.IPv6Address) and address.is_unspecified:
        return frozenset({4, 6})
    return frozenset({_unmapped(address).version})


@dataclass(frozen=True)
class AllowList:
    """The parsed ``server.allow``; empty allows every address."""

    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> "AllowList":
        """Raises AllowEntryError for the first entry that is not an address or network."""
        return cls(tuple(parse_entry(entry) for entry in entries))

    def allows(self, host: str) -> bool:
        """True when ``host`` (a peer address as the socket reports it) may connect."""
        return not self.networks or _allowed(self.networks, host)


@lru_cache(maxsize=4096)  # the same few Asterisk hosts connect all day
def _allowed(networks: tuple[Network, ...], host: str) -> bool:
    try:
        address = _unmapped(ipaddress.ip_address(host.split("%", 1)[0]))
    except ValueError:
        return False
    return any(address.version == network.version and address in network for network in networks)


def check_entries(entries: Iterable[str], host: str) -> list[tuple[int, str]]:
    """``(index, message)`` for every entry that is malformed or that no
    peer of a server listening on ``host`` can ever match."""
    versions = listening_versions(host)
    problems = []
    for index, entry in enumerate(entries):
        try:
            network = parse_entry(entry)
        except AllowEntryError as exc:
            problems.append((index, str(exc)))
            continue
        if network.version not in versions:
            problems.append((index, f"'{entry}' is an IPv{network.version} entry, but a server listening on "
                                    f"'{host}' only sees IPv{min(versions)} peers: it can never match"))
    return problems
