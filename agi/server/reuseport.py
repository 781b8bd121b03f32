"""One port for several processes: listening sockets with ``SO_REUSEPORT``.

Each worker of ``agiflow serve --workers N`` listens on its own socket bound
to the same address; the kernel spreads new connections over the sockets
that listen, so a worker that stops or dies takes no new calls while the
others go on. The supervisor holds one more socket on the address, bound
but never listening: it learns the port the system picked for port 0 and
keeps the address for the workers while one restarts. A socket that does
not listen never receives a connection.

All sockets on the address must set ``SO_REUSEPORT`` and belong to the same
user, so another server (any program that binds the port without the
option) makes the bind fail, as a single process's does.
"""
from __future__ import annotations

import socket
from typing import Any

#: The listen backlog Twisted's listenTCP uses.
BACKLOG = 50


def family_of(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def shared_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` with SO_REUSEPORT (and
    SO_REUSEADDR, as Twisted sets for every listening port), not listening.
    OSError when the address cannot be bound."""
    if not hasattr(socket, "SO_REUSEPORT"):
        raise OSError("this system has no SO_REUSEPORT: run one worker (server.workers: 1)")
    sock = socket.socket(family_of(host), socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def reserve(host: str, port: int) -> socket.socket:
    """The supervisor's socket on ``host:port``: first a plain bind, which
    fails when anything already uses the address (another agiflow too),
    then the shared one. Its ``getsockname()`` gives the port."""
    return shared_socket(host, probe_address(host, port))


def probe_address(host: str, port: int) -> int:
    """The port of a plain bind to ``host:port``, let go at once: OSError
    when anything already uses the address (another agiflow started on the
    same config too), checked before a start touches the database."""
    probe = socket.socket(family_of(host), socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
        return int(probe.getsockname()[1])
    finally:
        probe.close()


def listen_shared(reactor: Any, host: str, port: int, factory: Any, backlog: int = BACKLOG) -> Any:
    """Listen on ``host:port`` beside the other workers; the IListeningPort."""
    sock = shared_socket(host, port)
    try:
        sock.listen(backlog)
        sock.setblocking(False)
        return reactor.adoptStreamPort(sock.fileno(), sock.family, factory)
    finally:
        sock.close()  # the reactor keeps its own copy of the descriptor
