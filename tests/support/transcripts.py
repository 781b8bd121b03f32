"""Read the recorded Asterisk 22 transcripts in ``tests/data/asterisk``.

Not a test module: a helper the protocol tests import. The project carries
its own byte-for-byte copy of the recordings (the folder's README says how
they were made); the ``AGIFLOW_TRANSCRIPTS`` environment variable points
elsewhere. A missing folder is an error, never a reason to skip.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

#: The transcripts the README describes; tests insist on all of them.
EXPECTED = (
    "args.agi", "basic.agi", "dtmf.agi", "exit.agi", "hangup-exec.agi",
    "hangup-getdata.agi", "hangup.agi", "queue.agi", "record.agi",
)


@dataclass
class Exchange:
    """A line the server sent and the lines Asterisk wrote after it,
    up to the server's next line."""

    command: str
    replies: list[str] = field(default_factory=list)


@dataclass
class Transcript:
    """One recorded session."""

    name: str
    env_lines: list[str]
    exchanges: list[Exchange]
    notes: list[str]

    @property
    def environment(self) -> dict[str, str]:
        """The agi_* values, keys as sent (``agi_callerid``)."""
        values = {}
        for line in self.env_lines[:-1]:
            key, _, value = line.partition(": ")
            values[key] = value
        return values


def transcripts_dir() -> Path:
    """Where the transcripts are; raises FileNotFoundError when absent."""
    override = os.environ.get("AGIFLOW_TRANSCRIPTS")
    folder = Path(override) if override else (
        Path(__file__).resolve().parents[1] / "data" / "asterisk")
    if not folder.is_dir():
        raise FileNotFoundError(
            f"Asterisk transcripts not found at {folder}: the protocol tests need "
            "tests/data/asterisk (or AGIFLOW_TRANSCRIPTS)")
    return folder


def transcript_files() -> list[Path]:
    return sorted(transcripts_dir().glob("*.agi"))


def _split(raw: str) -> tuple[str, str]:
    """``<< text`` -> ("<<", "text"); a marker alone means an empty line."""
    marker, text = raw[:2], raw[3:]
    if marker not in ("<<", ">>", "##") or raw[2:3] not in ("", " "):
        raise ValueError(f"not a transcript line: {raw!r}")
    return marker, text


def parse_transcript(text: str, name: str = "") -> Transcript:
    """Split a transcript into environment, exchanges and notes."""
    env: list[str] = []
    exchanges: list[Exchange] = []
    notes: list[str] = []
    for raw in text.split("\n"):
        if raw == "":
            continue
        marker, line = _split(raw)
        if marker == "##":
            notes.append(line)
        elif marker == ">>":
            exchanges.append(Exchange(line))
        elif exchanges:
            exchanges[-1].replies.append(line)
        else:
            env.append(line)
    if not env or env[-1] != "":
        raise ValueError(f"{name}: the environment block does not end with an empty line")
    return Transcript(name, env, exchanges, notes)


def load(path: Path) -> Transcript:
    return parse_transcript(path.read_text(encoding="utf-8"), path.name)
