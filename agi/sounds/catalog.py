"""Which sounds Asterisk can play: Asterisk's core prompts (shipped lists)
and the files in the project's sounds folder."""
from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

#: Languages whose core prompt names are shipped (agi/data/core_sounds_<lang>.txt).
CORE_LANGUAGES = ("en", "es")
#: Asterisk's default language: it falls back to it when a prompt is missing.
DEFAULT_LANGUAGE = "en"


def base_language(language: str) -> str:
    """``es_MX`` / ``es-ES`` -> ``es``."""
    return language.replace("-", "_").split("_", 1)[0].lower()


def is_templated(name: str) -> bool:
    """A name built at call time (``{{ vars.x }}``) cannot be checked beforehand."""
    return "{{" in name or "{%" in name


@lru_cache(maxsize=None)
def core_sounds(language: str) -> frozenset[str]:
    """Names of the core prompts of ``language`` (en for languages without a list)."""
    base = base_language(language)
    lang = base if base in CORE_LANGUAGES else DEFAULT_LANGUAGE
    text = resources.files("agi.data").joinpath(f"core_sounds_{lang}.txt").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def sound_file(sounds_dir: Path, language: str, name: str) -> Path | None:
    """The file of prompt ``name`` in ``sounds_dir/<language>/``, any format."""
    folder = sounds_dir / language / Path(name).parent
    stem = Path(name).name
    if not folder.is_dir():
        return None
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.stem == stem and p.suffix)
    return found[0] if found else None


def prompt_available(sounds_dir: Path, language: str, name: str) -> bool:
    """True when Asterisk will find ``name`` for a caller of ``language``."""
    return sound_file(sounds_dir, language, name) is not None or name in core_sounds(language)
