"""Asterisk hosts that vanish: TCP keepalive on every AGI connection.

A host that powers off or drops off the network sends no FIN or RST: without
keepalive, its calls would hold a ``max_calls`` place and an ``in_progress``
CDR row until the server stops. With it, the system probes a connection idle
for ``IDLE`` seconds every ``INTERVAL`` seconds and gives up when
``USER_TIMEOUT`` seconds pass unanswered (data sent and never acknowledged
too). A live Asterisk's kernel answers the probes, however long a Dial lasts.
Set on the listening socket: the connections it accepts inherit the options,
at no cost to a call.
"""
from __future__ import annotations

import socket

IDLE = 60
INTERVAL = 10
#: Seconds without an answer after which a connection is dropped.
USER_TIMEOUT = 120


def watch_for_dead_peers(listener: socket.socket) -> None:
    """Keepalive on ``listener``'s future connections, with the timings
    above where the system takes them (Linux does; elsewhere its defaults)."""
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (("TCP_KEEPIDLE", IDLE), ("TCP_KEEPINTVL", INTERVAL),
                        ("TCP_KEEPCNT", USER_TIMEOUT // INTERVAL), ("TCP_USER_TIMEOUT", USER_TIMEOUT * 1000)):
        option = getattr(socket, name, None)
        if option is not None:
            listener.setsockopt(socket.IPPROTO_TCP, option, value)
