"""Finding flow files and reading them as YAML documents, without
building anything: light enough for the commands that only glance at the
flows (a report looking for their time zone)."""
from __future__ import annotations

import errno
import os
import stat
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

from agi.loading.versions import content_version
from agi.wording import file_kind
from agi.loading.yamlio import DocumentError, MarkedMap, SourceError, load_yaml

FLOW_SUFFIXES = (".yaml", ".yml")
#: Flow test-case files (``agiflow test``) live beside the flows; never flows.
TEST_FILE_SUFFIXES = (".tests.yaml", ".tests.yml")
#: The largest flow file read: the shipped ones are under 10 KB, and PyYAML
#: reads about 150 KB of steps a second, while the server waits for it.
MAX_FLOW_FILE_BYTES = 256 * 1024
#: The largest config, prompts or flow test file read (PyYAML: about 7 s).
MAX_YAML_FILE_BYTES = 1024 * 1024


class FileTooLarge(ValueError):
    """A file past the size a command reads."""


class NotAFile(OSError):
    """A path that is no file to read: a named pipe, a socket, a device."""


def read_capped(path: str | Path, limit: int, regular_only: bool = False) -> bytes:
    """The bytes of ``path``; FileTooLarge past ``limit`` bytes, without
    reading more than one byte beyond it (``/dev/zero``, a 2 GB file).

    Opening and reading never wait: a named pipe no program writes to is
    NotAFile (opened as a plain file, it held the command, or the server
    reloading its flows, for ever), one a program writes to is read; so is
    a file whose reading would wait for data (``/proc/kmsg``, which passes
    for a regular file: a link to it in the flows folder once held every
    later reload for ever). With ``regular_only`` (the flow files of a
    folder) anything but a regular file is NotAFile."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    mode = os.fstat(fd).st_mode
    if stat.S_ISDIR(mode):  # before open(fd), whose error would name the descriptor, not the file
        os.close(fd)
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    with open(fd, "rb") as stream:
        if regular_only and not stat.S_ISREG(mode):
            raise NotAFile(f"not a file but {file_kind(mode)}")
        if stat.S_ISFIFO(mode):
            head = _pipe_head(fd, limit + 1)
            os.set_blocking(fd, True)
            data = head + stream.read(limit + 1 - len(head))
        else:
            data = _read_without_waiting(fd, limit + 1)
    if len(data) > limit:
        raise FileTooLarge(f"larger than {limit} bytes")
    return data


def _read_without_waiting(fd: int, size: int) -> bytes:
    """Up to ``size`` bytes of the non-blocking ``fd``, to its end; NotAFile
    when a read would wait (a file on a disk never does)."""
    chunks: list[bytes] = []
    while size > 0:
        try:
            chunk = os.read(fd, min(size, 1 << 20))
        except BlockingIOError:
            raise NotAFile("reading it would wait for more data (it is no file on a disk)") from None
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _pipe_head(fd: int, size: int) -> bytes:
    """What a named pipe holds so far (b"" when its writer has written
    nothing yet); NotAFile when no program has it open to write, within
    half a second (a writer waiting in its own open() takes a moment to
    join the reader)."""
    for _ in range(5):
        try:
            head = os.read(fd, size)
        except BlockingIOError:
            return b""
        if head:
            return head
        time.sleep(0.1)
    raise NotAFile("a named pipe that no program writes to")


class NotUtf8(ValueError):
    """A file whose bytes are not UTF-8 text; ``line`` is where the first bad byte is."""

    def __init__(self, data: bytes, exc: UnicodeDecodeError) -> None:
        self.line = data.count(b"\n", 0, exc.start) + 1
        super().__init__(f"not UTF-8 text (byte 0x{data[exc.start]:02x} on this line); save it as UTF-8")


def utf8_text(data: bytes) -> str:
    """``data`` as text with its line ends as ``read_text`` gives them; NotUtf8 if it is not UTF-8."""
    try:
        return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as exc:
        raise NotUtf8(data, exc) from None


def read_capped_text(path: str | Path, limit: int = MAX_YAML_FILE_BYTES) -> str:
    """``read_capped`` as UTF-8 text (``utf8_text``)."""
    return utf8_text(read_capped(path, limit))


def flow_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand folders to the flow files inside them (test-case files
    ``*.tests.yaml`` and hidden entries left out), sorted; each file once."""
    files: dict[Path, Path] = {}
    for path in map(Path, paths):
        found = sorted(p for p in folder_entries(path) if p.suffix in FLOW_SUFFIXES and listed_entry(p, path)
                       and not p.name.endswith(TEST_FILE_SUFFIXES)) if path.is_dir() else [path]
        for file in found:
            files.setdefault(resolved(file), file)
    return list(files.values())


def folder_entries(folder: Path) -> Iterator[Path]:
    """Every entry under ``folder``, as ``rglob("*")`` gives them (links to
    folders not followed, hidden folders not entered), folder by folder
    without recursion: 1,500 nested folders once raised RecursionError,
    which stopped the flow watcher for good."""
    waiting = [folder]
    while waiting:
        with os.scandir(waiting.pop()) as listing:
            for entry in listing:
                path = Path(entry.path)
                yield path
                if entry.is_dir(follow_symlinks=False) and not entry.name.startswith("."):
                    waiting.append(path)


def resolved(path: Path) -> Path:
    """``path`` with its links followed; as it is written for a link that
    leads to itself (then reported when it is read)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symbolic link loop (Python before 3.13)
        return Path(os.path.abspath(path))


def listed_entry(path: Path, folder: Path) -> bool:
    """An entry found in ``folder`` read as a flow (or flow test) file: a
    file, and anything else with such a name that is no folder (a broken
    link, a named pipe), which is then reported, not left out: once, a flow
    whose file became a broken link was dropped at the next reload without
    a word, and its calls ended ``unknown_flow``. Hidden entries, and
    everything in a hidden folder, are left out: an editor's lock
    (``.#support.yaml``), the settings of the tools of a flows folder kept
    in Git (``.gitlab-ci.yml``, ``.github/workflows/``,
    ``.pre-commit-config.yaml``), once read as flows that failed."""
    if any(part.startswith(".") for part in path.relative_to(folder).parts):
        return False
    return path.is_file() or not path.is_dir()


def read_document(path: str | Path) -> tuple[Any, list[SourceError]]:
    """Read and parse one YAML file: its document, or the errors."""
    document, _, errors = read_versioned(path)
    return document, errors


def read_versioned(path: str | Path) -> tuple[Any, str, list[SourceError]]:
    """Read and parse one YAML file: its document and the content version
    of the bytes read (agi/loading/versions.py), or the errors."""
    file = str(path)
    try:
        data = read_capped(path, MAX_FLOW_FILE_BYTES, regular_only=True)
        text = utf8_text(data)
    except FileTooLarge:
        return None, "", [SourceError(file, 1, f"flow file larger than {MAX_FLOW_FILE_BYTES} bytes; "
                                               "split it into several flows (goto)")]
    except NotUtf8 as exc:
        return None, "", [SourceError(file, exc.line, f"cannot read flow file: {exc}")]
    except OSError as exc:  # the file is named once: no errno, no second name
        return None, "", [SourceError(file, 1, f"cannot read flow file: {exc.strerror or exc}")]
    try:
        return load_yaml(text), content_version(data), []
    except DocumentError as exc:
        return None, "", [SourceError(file, exc.line, exc.message)]


def is_schedules_document(document: Any) -> bool:
    """A schedules file: a mapping with ``schedules`` and no ``steps``."""
    return isinstance(document, MarkedMap) and "schedules" in document and "steps" not in document
