"""A listening socket's last connections.

Closing a listening socket resets the connections the system has already
accepted on it but the server has not taken yet, and Asterisk, once
connected, tries no other server (``hagi://``). So a stopping listener first
makes the system drop every new handshake on its socket, then takes every
connection already accepted as a call, then closes. A caller whose handshake
was dropped tries again a second later (TCP's retransmission), finds the
port closed, is refused, and Asterisk goes to the next server within its 2 s
connect timeout.
"""
from __future__ import annotations

import ctypes
import socket
import struct
import sys

#: Linux's option to attach a classic BPF program to a socket (asm-generic/socket.h).
SO_ATTACH_FILTER = 26
#: A one-instruction program, ``ret #0``: keep nothing of any packet.
_DROP_EVERY_PACKET = struct.pack("HBBI", 0x06, 0, 0, 0)


def refuse_new_handshakes(sock: socket.socket) -> bool:
    """Drop every packet that reaches the listening ``sock`` from now on,
    so that no new connection completes on it, while those already accepted
    by the system wait to be taken. False where the system cannot (not
    Linux): a connection that arrives just before the close is then reset."""
    if not sys.platform.startswith("linux"):
        return False
    program = ctypes.create_string_buffer(_DROP_EVERY_PACKET, len(_DROP_EVERY_PACKET))
    # struct sock_fprog { unsigned short len; struct sock_filter *filter; }
    fprog = struct.pack("HP", 1, ctypes.addressof(program))
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
    except OSError:
        return False
    return True
