"""Pure tones as prompts, and finding them again in a recording.

The whisper and supervisor checks play tones instead of speech: each prompt
is a sine wave at its own frequency (8 kHz, 16-bit mono WAV, as Asterisk
plays and records ``wav``), so who heard what shows in a recording as the
energy at that frequency (Goertzel's algorithm, block by block).
"""
from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

RATE = 8000
#: Prompt name (under the sounds folder) -> (frequency in Hz, seconds).
TONES = {
    "e2e/prompt": (600, 1.0),           # a short prompt for menus (e2e_menu, e2e_hello)
    "e2e/whisper": (1500, 1.5),         # the whisper of a queue or dial step
    "e2e/whisper-more": (3100, 1.5),    # a second whisper prompt (dial: through U())
    "e2e/agent": (700, 2.0),            # an agent speaking once connected
    "e2e/agent-talk": (700, 26.0),      # an agent speaking all call long
    "e2e/spy-listen": (1100, 1.0),      # a supervisor speaking while listening
    "e2e/spy-whisper": (1900, 1.0),     # ... while whispering
    "e2e/spy-barge": (2500, 1.0),       # ... while barging in
    "e2e/empty": (600, 0.0),            # a sound file with no sound in it (a header only)
}
AMPLITUDE = 8000
#: Blocks of 50 ms; a tone is there when it is this loud in at least
#: ``PRESENT_BLOCKS`` blocks (a quarter of a second), and absent when no
#: block reaches ``ABSENT_LEVEL``.
BLOCK = RATE // 20
PRESENT_LEVEL = 1500.0
PRESENT_BLOCKS = 5
ABSENT_LEVEL = 300.0


def write_tone(path: Path, frequency: float, seconds: float) -> None:
    """A sine wave at ``frequency`` for ``seconds`` into the WAV ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = b"".join(struct.pack("<h", round(AMPLITUDE * math.sin(2 * math.pi * frequency * n / RATE)))
                      for n in range(round(seconds * RATE)))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(frames)


def write_tones(sounds: Path) -> None:
    """Every prompt of TONES into the sounds folder ``sounds``."""
    for name, (frequency, seconds) in TONES.items():
        write_tone(sounds / f"{name}.wav", frequency, seconds)


def samples(path: Path) -> list[int]:
    """The 16-bit mono samples of an 8 kHz WAV."""
    with wave.open(str(path), "rb") as source:
        assert (source.getnchannels(), source.getsampwidth(), source.getframerate()) == (1, 2, RATE), path
        data = source.readframes(source.getnframes())
    return list(struct.unpack(f"<{len(data) // 2}h", data))


def levels(values: list[int], frequency: float) -> list[float]:
    """The amplitude of ``frequency`` in each 50 ms block (Goertzel)."""
    coefficient = 2 * math.cos(2 * math.pi * frequency / RATE)
    found = []
    for start in range(0, len(values) - BLOCK + 1, BLOCK):
        before = earlier = 0.0
        for value in values[start:start + BLOCK]:
            before, earlier = value + coefficient * before - earlier, before
        power = before * before + earlier * earlier - coefficient * before * earlier
        found.append(2 * math.sqrt(max(power, 0.0)) / BLOCK)
    return found


def heard(path: Path, prompt: str) -> bool:
    """Whether the recording ``path`` holds the tone of ``prompt``: loud in
    enough blocks. Between present and absent is neither: an AssertionError."""
    block_levels = levels(samples(path), TONES[prompt][0])
    loud = sum(level >= PRESENT_LEVEL for level in block_levels)
    if loud >= PRESENT_BLOCKS:
        return True
    if max(block_levels, default=0.0) < ABSENT_LEVEL:
        return False
    raise AssertionError(f"{path.name}: {prompt} is neither clearly there nor clearly absent "
                         f"(loudest block {max(block_levels):.0f}, {loud} loud blocks)")
