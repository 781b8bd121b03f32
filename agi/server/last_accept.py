"""A listening socket's last connections.

Closing a listening socket resets the connections the system has already
accepted on it but the server has not taken yet, and Asterisk, once
connected, tries no other server (``hagi://``). So a stopping listener first
makes the system drop every new handshake on its socket (each caller's first
packet, a SYN), lets the handshakes already under way end for a moment, then
takes every connection accepted as a call, then closes. A caller whose SYN
was dropped sends it again a second later (TCP's retransmission), finds the
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
#: Seconds the handshakes under way get to end once new ones are dropped.
HANDSHAKE_GRACE = 0.05
#: A classic BPF program (code, jump if true, jump if false, k) run on each
#: packet that reaches the listening socket, whose data starts at the TCP
#: header: drop a SYN without ACK (a new handshake), keep everything else.
_DROP_SYN = b"".join(struct.pack("HBBI", *instruction) for instruction in (
    (0x30, 0, 0, 13),          # ldb [13]: the TCP flags
    (0x54, 0, 0, 0x12),        # and #(SYN | ACK)
    (0x15, 0, 1, 0x02),        # jeq #SYN: drop, else keep
    (0x06, 0, 0, 0),           # ret #0: drop
    (0x06, 0, 0, 0xFFFFFFFF),  # ret #-1: keep the whole packet
))


def refuse_new_handshakes(sock: socket.socket) -> bool:
    """Drop every new handshake that reaches the listening ``sock`` from
    now on; those under way end, and the connections the system accepts wait
    to be taken. False where the system cannot (not Linux): a connection that
    arrives just before the close is then reset."""
    if not sys.platform.startswith("linux"):
        return False
    program = ctypes.create_string_buffer(_DROP_SYN, len(_DROP_SYN))
    # struct sock_fprog { unsigned short len; struct sock_filter *filter; }
    fprog = struct.pack("HP", len(_DROP_SYN) // 8, ctypes.addressof(program))
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
    except OSError:
        return False
    return True
