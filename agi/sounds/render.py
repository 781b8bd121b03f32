"""Render prompt text to sound files Asterisk plays without surprises.

espeak-ng speaks the text (a voice per language) as WAV on stdout; sox
turns it into 8 kHz, mono, 16-bit signed PCM WAV: Asterisk's ``wav`` format,
which it reads natively (format_wav checks the header and refuses other
rates), the same signed-linear audio a call mixes in, so playing it to a
G.711 caller costs one cheap slin->ulaw/alaw step and no resampling.

A manifest beside the files records a fingerprint of what made each file
(text, voice, settings), so unchanged prompts are never rendered again and
a change of text is never missed.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from agi.engine.model import PromptText
from agi.loading.files import read_capped, utf8_text

SAMPLE_RATE = 8000
EXTENSION = "wav"
#: espeak-ng voice per language; others use the language code itself.
VOICES: Mapping[str, str] = {"en": "en-us", "es": "es"}
#: Words per minute: a little slower than espeak's default, clearer on a phone line.
SPEED = 150
MANIFEST = "manifest.json"
TOOLS = ("espeak-ng", "sox")
#: Changes whenever the commands below change, so every file is made again.
SETTINGS_VERSION = 1


class RenderError(Exception):
    """espeak-ng or sox failed; the message has their error output."""


@dataclass(frozen=True)
class RenderJob:
    prompt: PromptText
    target: Path
    fingerprint: str

    @property
    def key(self) -> str:
        return f"{self.prompt.language}/{self.prompt.name}"


def voice_for(language: str) -> str:
    """``en`` -> ``en-us``; a regional code names espeak-ng's voice (``en_GB`` -> ``en-gb``)."""
    return VOICES.get(language) or language.replace("_", "-").lower()


def espeak_command(language: str) -> list[str]:
    """espeak-ng reading the text from stdin (text never becomes an option)."""
    return ["espeak-ng", "-v", voice_for(language), "-s", str(SPEED), "--stdin", "--stdout"]


def sox_command(target: Path) -> list[str]:
    """sox from WAV on stdin to 8 kHz mono 16-bit WAV, peak-normalised to
    -3 dBFS, without dither (the same text always gives the same bytes)."""
    return ["sox", "-D", "-t", "wav", "-", "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16",
            "-e", "signed-integer", "-t", "wav", str(target), "norm", "-3"]


def fingerprint(prompt: PromptText) -> str:
    recipe = {"text": prompt.text, "voice": voice_for(prompt.language), "speed": SPEED,
              "rate": SAMPLE_RATE, "settings": SETTINGS_VERSION}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode("utf-8")).hexdigest()


def target_path(sounds_dir: Path, prompt: PromptText) -> Path:
    return sounds_dir / prompt.language / f"{prompt.name}.{EXTENSION}"


#: The largest manifest read: a few hundred bytes a prompt.
MAX_MANIFEST_BYTES = 16 << 20


class ManifestError(ValueError):
    """A manifest that is no manifest (cut short by a full disk, edited by hand)."""


def read_manifest(sounds_dir: Path) -> dict[str, dict[str, str]]:
    """The manifest in ``sounds_dir`` ({} when there is none); ManifestError
    when it cannot be read as one (the files it names are then made again)."""
    path = sounds_dir / MANIFEST
    if not path.exists():
        return {}
    try:
        loaded = json.loads(utf8_text(read_capped(path, MAX_MANIFEST_BYTES)))
    except RecursionError:
        raise ManifestError(f"{path}: nested too deeply to be a manifest") from None
    except (OSError, ValueError) as exc:  # NotUtf8, FileTooLarge and bad JSON are ValueErrors
        raise ManifestError(f"{path}: {exc}") from None
    if not isinstance(loaded, dict) or not all(isinstance(entry, dict) for entry in loaded.values()):
        raise ManifestError(f"{path}: not a mapping of prompts to their entries")
    return loaded


def write_manifest(sounds_dir: Path, manifest: Mapping[str, Mapping[str, str]]) -> None:
    sounds_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(dict(sorted(manifest.items())), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    (sounds_dir / MANIFEST).write_text(text, encoding="utf-8")


def plan(prompts: Iterable[PromptText], sounds_dir: Path, manifest: Mapping[str, Mapping[str, str]],
         languages: Iterable[str] = (), force: bool = False) -> tuple[list[RenderJob], list[RenderJob]]:
    """(to render, unchanged): a prompt is unchanged when its file exists and
    the manifest holds the same fingerprint. ``languages`` limits the plan."""
    wanted = set(languages)
    render: list[RenderJob] = []
    unchanged: list[RenderJob] = []
    for prompt in prompts:
        if wanted and prompt.language not in wanted:
            continue
        job = RenderJob(prompt, target_path(sounds_dir, prompt), fingerprint(prompt))
        entry = manifest.get(job.key, {})
        same = entry.get("fingerprint") == job.fingerprint and job.target.exists()
        (unchanged if same and not force else render).append(job)
    return render, unchanged


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def render(job: RenderJob, timeout: float = 60.0) -> None:
    """Make ``job.target``: espeak-ng | sox into a temporary file, then
    rename it into place, so a failure never leaves half a prompt."""
    job.target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(suffix=f".{EXTENSION}", dir=job.target.parent)
    os.close(handle)
    try:
        speech = subprocess.run(espeak_command(job.prompt.language), input=job.prompt.text.encode("utf-8"),
                                capture_output=True, timeout=timeout, check=False)
        if speech.returncode != 0 or not speech.stdout:
            raise RenderError(f"espeak-ng failed for {job.key}: {speech.stderr.decode(errors='replace').strip()}")
        converted = subprocess.run(sox_command(Path(temporary)), input=speech.stdout, capture_output=True,
                                   timeout=timeout, check=False)
        if converted.returncode != 0:
            raise RenderError(f"sox failed for {job.key}: {converted.stderr.decode(errors='replace').strip()}")
        os.replace(temporary, job.target)
        job.target.chmod(0o644)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def manifest_entry(job: RenderJob) -> dict[str, str]:
    return {"fingerprint": job.fingerprint, "text": job.prompt.text, "voice": voice_for(job.prompt.language)}
