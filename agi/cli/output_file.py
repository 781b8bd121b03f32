"""Where a command writes what it exports (``-o FILE``): a file that takes
FILE's place only once it is whole, so that an export or a report that
fails half-way leaves FILE as it was (a dialer may be reading it)."""
from __future__ import annotations

import os
import stat
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator


@contextmanager
def output_file(path: str | None) -> Iterator[IO[str]]:
    """Standard output, or a new file that replaces ``path`` once the whole
    text is written: a report or export that fails half-way leaves no half
    file. A device or a pipe (/dev/null), and any path under /dev or /proc
    (/dev/stdout, /dev/fd/1: a process's open file, which may be a regular
    file), is written directly. A link to a file is written through: the
    new file replaces the file it leads to, and the link stays."""
    if path is None:
        yield sys.stdout
        return
    target = Path(path)
    if target.exists() and (not target.is_file() or _names_an_open_file(target)):
        with _naming(path), target.open("w", encoding="utf-8", newline="") as direct:
            yield direct
        return
    target = Path(os.path.realpath(target))
    import tempfile
    try:
        handle = tempfile.NamedTemporaryFile("w", encoding="utf-8", newline="", dir=target.parent,
                                             prefix=f".{target.name}.", delete=False)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, path) from None
    try:
        with _naming(path), handle:
            yield handle
        _take_mode_and_owner(handle.name, target)
        os.replace(handle.name, target)
    except BaseException:
        os.unlink(handle.name)
        raise


@contextmanager
def _naming(path: str) -> Iterator[None]:
    """An error of the writes (a full disk) names ``path``: Python's own
    names no file (``No space left on device``)."""
    try:
        yield
    except OSError as exc:
        if exc.filename is not None or not exc.strerror:
            raise
        raise OSError(exc.errno, exc.strerror, path) from None


def _names_an_open_file(path: Path) -> bool:
    """A path under /dev or /proc: a file replaced there is no file the
    user meant (/dev/stdout made a regular file, as root), or cannot be made
    (/proc/self/fd)."""
    return Path(os.path.abspath(path)).parts[1:2] in (("dev",), ("proc",))


def _take_mode_and_owner(made: str, target: Path) -> None:
    """Give the file ``made`` the mode and owner of the file it replaces
    (a report kept private, mode 0600, once became readable by every user
    when written again), or a new file's mode when there is none."""
    try:
        old = os.stat(target)
    except OSError:
        os.chmod(made, 0o666 & ~_umask())
        return
    try:
        os.chown(made, old.st_uid, old.st_gid)
    except OSError:  # only root may give a file away; the mode still applies
        pass
    os.chmod(made, stat.S_IMODE(old.st_mode))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
