"""Finding flow files and reading them as YAML documents, without
building anything: light enough for the commands that only glance at the
flows (a report looking for their time zone)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from agi.loading.versions import content_version
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


def read_capped(path: str | Path, limit: int) -> bytes:
    """The bytes of ``path``; FileTooLarge past ``limit`` bytes, without
    reading more than one byte beyond it (``/dev/zero``, a 2 GB file)."""
    with open(path, "rb") as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise FileTooLarge(f"larger than {limit} bytes")
    return data


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
    ``*.tests.yaml`` left out), sorted; each file once."""
    files: dict[Path, Path] = {}
    for path in map(Path, paths):
        found = sorted(p for p in path.rglob("*") if p.suffix in FLOW_SUFFIXES and p.is_file()
                       and not p.name.endswith(TEST_FILE_SUFFIXES)) if path.is_dir() else [path]
        for file in found:
            files.setdefault(file.resolve(), file)
    return list(files.values())


def read_document(path: str | Path) -> tuple[Any, list[SourceError]]:
    """Read and parse one YAML file: its document, or the errors."""
    document, _, errors = read_versioned(path)
    return document, errors


def read_versioned(path: str | Path) -> tuple[Any, str, list[SourceError]]:
    """Read and parse one YAML file: its document and the content version
    of the bytes read (agi/loading/versions.py), or the errors."""
    file = str(path)
    try:
        data = read_capped(path, MAX_FLOW_FILE_BYTES)
        text = utf8_text(data)
    except FileTooLarge:
        return None, "", [SourceError(file, 1, f"flow file larger than {MAX_FLOW_FILE_BYTES} bytes; "
                                               "split it into several flows (goto)")]
    except NotUtf8 as exc:
        return None, "", [SourceError(file, exc.line, f"cannot read flow file: {exc}")]
    except OSError as exc:
        return None, "", [SourceError(file, 1, f"cannot read flow file: {exc}")]
    try:
        return load_yaml(text), content_version(data), []
    except DocumentError as exc:
        return None, "", [SourceError(file, exc.line, exc.message)]


def is_schedules_document(document: Any) -> bool:
    """A schedules file: a mapping with ``schedules`` and no ``steps``."""
    return isinstance(document, MarkedMap) and "schedules" in document and "steps" not in document
