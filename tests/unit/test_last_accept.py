"""The listening socket's last connections, on the system's real sockets."""
from __future__ import annotations

import socket
import sys

import pytest

from agi.server.last_accept import refuse_new_handshakes

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="socket filters are Linux's")


def test_a_listener_refusing_new_handshakes_still_hands_over_the_connections_already_made() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(1.0)
    port = listener.getsockname()[1]
    early = socket.create_connection(("127.0.0.1", port), timeout=2)
    late = socket.socket()
    late.settimeout(0.3)
    try:
        assert refuse_new_handshakes(listener)
        with pytest.raises(TimeoutError):
            late.connect(("127.0.0.1", port))  # its SYN is dropped: TCP would retry in a second
        taken, _ = listener.accept()
        with taken:
            early.sendall(b"agi_network: yes\n")
            assert taken.recv(100) == b"agi_network: yes\n"
        listener.settimeout(0.2)
        with pytest.raises(TimeoutError):
            listener.accept()  # the late connect never completed
        listener.close()
        with pytest.raises(ConnectionRefusedError):  # its retry, once the port is closed
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
    finally:
        for sock in (early, late, listener):
            sock.close()
