"""Keepalive on the connections a listening socket accepts, on the system's real sockets."""
from __future__ import annotations

import socket
import sys

import pytest

from agi.server.dead_peers import IDLE, INTERVAL, USER_TIMEOUT, watch_for_dead_peers


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the timings are Linux's options")
def test_connections_accepted_by_a_watched_listener_inherit_keepalive_and_its_timings() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        watch_for_dead_peers(listener)
        with socket.create_connection(listener.getsockname(), timeout=2) as client:
            accepted, _ = listener.accept()
            with accepted:
                assert accepted.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == IDLE
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == INTERVAL
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == USER_TIMEOUT * 1000
                assert client.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 0, "only the server's side"
