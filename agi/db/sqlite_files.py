"""What the server's SQLite connections need to survive a hostile disk.

A database in WAL mode is three files: the database, its ``-wal`` and its
``-shm``. SQLite maps the ``-shm`` file into memory and writes to it on every
transaction, readers included. When that file is made immutable (``chattr
+i``) while it is mapped, the next write to a page the kernel has written
back raises SIGBUS, which kills a Python process at once, with no log line.
So every connection of the server checks the files' attributes before it
uses the database (``attribute_problem``) and leaves it alone while one of
them is immutable or append-only. A file made immutable between that check
and the write still faults: ``guard_against_sigbus`` installs a SIGBUS
handler that, when a database file is immutable, logs it and lets the
faulting thread wait and retry until the file is writable again, instead of
dying; any other SIGBUS kills the process as before. Permissions (``chmod``)
need no check: they do not change what an open file lets a process do.

A small disk is the other danger: a WAL that is only checkpointed every 1000
pages (4 MB) can fill it alone, and then it can neither be checkpointed (the
database file cannot grow) nor written. The writer keeps its WAL small
(``WRITER_PRAGMAS``) and, after a disk-full error, checkpoints it and
truncates it (``give_back_space``), which works as soon as there is room for
the database file to grow.
"""
from __future__ import annotations

import ctypes
import logging
import os
import signal
import sqlite3
import struct
import sys
import time
from typing import Any

log = logging.getLogger("agiflow.cdr")

#: The attributes that make a file unwritable whatever its permissions say
#: (STATX_ATTR_IMMUTABLE, STATX_ATTR_APPEND: the same bits as chattr's i and a).
_FLAGS = {0x10: "immutable", 0x20: "append-only"}
_AT_FDCWD, _AT_SYMLINK_NOFOLLOW = -100, 0x100

#: Checkpoint the WAL at 128 pages (512 KB with 4 KB pages), and truncate its
#: file back to 512 KB after each checkpoint; never map the database file.
WAL_PAGES = 128
WAL_BYTES = 512 * 1024
WRITER_PRAGMAS = (
    "PRAGMA synchronous = NORMAL",  # WAL: no fsync per batch
    f"PRAGMA wal_autocheckpoint = {WAL_PAGES}",
    f"PRAGMA journal_size_limit = {WAL_BYTES}",
    "PRAGMA mmap_size = 0",
)


def file_identity(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """Which file is at ``path`` (device and inode), None when none is: a
    connection opened on it keeps writing or reading that file even once it
    is removed, or another is put in its place."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


def attribute_problem(path: str, *, database_file: bool = True) -> str | None:
    """Why the database at ``path`` must not be touched now (one of its
    files is immutable or append-only), or None. Linux only; elsewhere and
    on file systems without attributes, always None. A connection opened
    read-only never writes the database file itself (nor maps it), so it
    may leave that one out (not ``database_file``): only the -wal and -shm
    files matter to it."""
    if not sys.platform.startswith("linux"):
        return None
    for name in ((path,) if database_file else ()) + (f"{path}-wal", f"{path}-shm"):
        flags = _flags(name)
        for flag, word in _FLAGS.items():
            if flags & flag:
                return f"{name} is {word} (chattr +{'i' if flag == 0x10 else 'a'})"
    return None


def _flags(name: str) -> int:
    """The file's immutable and append-only attributes, read with statx(2).
    Never by opening the file: closing any descriptor of a database file
    drops every POSIX lock the process holds on it, SQLite's included."""
    statx = _libc("statx")
    if statx is None:
        return 0
    buffer = ctypes.create_string_buffer(256)  # struct statx
    if statx(_AT_FDCWD, os.fsencode(name), _AT_SYMLINK_NOFOLLOW, 0, buffer):
        return 0  # missing (no WAL yet): SQLite will say what is wrong
    attributes, known = struct.unpack_from("Q", buffer, 0x08)[0], struct.unpack_from("Q", buffer, 0x38)[0]
    return int(attributes & known)


_functions: dict[str, Any] = {}


def _libc(name: str) -> Any:
    """A function of the C library, or None where it has none."""
    if name not in _functions:
        try:
            function = getattr(ctypes.CDLL(None, use_errno=True), name)
            function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint, ctypes.c_char_p]
            _functions[name] = function
        except (OSError, AttributeError):
            _functions[name] = None
    return _functions[name]


def is_disk_full(error: sqlite3.Error) -> bool:
    return getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "full" in str(error)


def give_back_space(conn: sqlite3.Connection) -> None:
    """After a disk-full error: copy the WAL into the database and truncate
    it to nothing. Fails quietly while the disk has no room for that yet."""
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    except sqlite3.Error:
        pass


#: Seconds a thread that hit an immutable database file waits before it retries.
SIGBUS_RETRY = 0.25
_guarded: list[str] = []
_sigbus: dict[str, Any] = {}  # the libc, the C handler (kept alive), when it last logged


def guard_against_sigbus(path: str) -> bool:
    """Make a SIGBUS from a mapped file of the database at ``path`` (made
    immutable) wait for the file instead of killing the process. Linux
    only; False where it cannot be installed."""
    if not sys.platform.startswith("linux"):
        return False
    if path not in _guarded:
        _guarded.append(path)
    if "handler" in _sigbus:
        return True
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.signal.restype = ctypes.c_void_p
        libc.signal.argtypes = [ctypes.c_int, ctypes.c_void_p]
        handler = ctypes.CFUNCTYPE(None, ctypes.c_int)(_on_sigbus)
        libc.signal(signal.SIGBUS, ctypes.cast(handler, ctypes.c_void_p))
    except (OSError, AttributeError):
        return False
    _sigbus.update(libc=libc, handler=handler, logged=float("-inf"))
    return True


def _on_sigbus(signum: int) -> None:
    """Runs on the thread whose memory access faulted, then the access is
    tried again. Waits while a guarded database file is immutable; for any
    other cause, puts the default action back, so the retry kills the
    process as it would have without this handler."""
    problem = next(filter(None, map(attribute_problem, _guarded)), None)
    if problem is None:
        _sigbus["libc"].signal(signal.SIGBUS, None)  # SIG_DFL
        return
    now = time.monotonic()
    if now - _sigbus["logged"] >= 60:
        _sigbus["logged"] = now
        log.error("SIGBUS: %s; the thread that was using it waits until it is writable again", problem)
    time.sleep(SIGBUS_RETRY)
