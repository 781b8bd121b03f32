"""The text of every prompt: from the flows' ``prompts:`` mappings and from
``<sounds>/prompts.yaml`` (prompts the dialplan plays, outside any flow)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from jsonschema import Draft202012Validator

from agi.loading.loader import prompt_texts
from agi.loading.schema_check import each_problem
from agi.engine.model import FlowSet, PromptText
from agi.loading.schema import PROMPTS_SCHEMA
from agi.loading.files import FileTooLarge, NotUtf8, read_capped_text
from agi.loading.yamlio import DocumentError, MarkedMap, SourceError, line_of, load_yaml

#: Prompts the dialplan plays (extensions_agiflow.conf), beside the sound files.
PROMPT_FILE = "prompts.yaml"
_VALIDATOR = Draft202012Validator(PROMPTS_SCHEMA)


@dataclass(frozen=True)
class SourcedPrompt:
    """A prompt text and the file that gives it."""

    prompt: PromptText
    source: str

    @property
    def key(self) -> tuple[str, str]:
        return self.prompt.name, self.prompt.language


def load_prompt_file(path: Path) -> tuple[list[SourcedPrompt], list[SourceError]]:
    """Read ``prompts.yaml``; a missing file gives no prompts and no error
    (a link to a missing file, or to itself, is an error: its prompts would
    be left out without a word)."""
    file = str(path)
    if not path.exists() and not path.is_symlink():
        return [], []
    try:
        document = load_yaml(read_capped_text(path)) or MarkedMap()
    except NotUtf8 as exc:
        return [], [SourceError(file, exc.line, f"cannot read prompts: {exc}")]
    except OSError as exc:
        return [], [SourceError(file, 1, f"cannot read prompts: {exc.strerror or exc}")]
    except FileTooLarge as exc:
        return [], [SourceError(file, 1, f"cannot read prompts: {exc}")]
    except DocumentError as exc:
        return [], [SourceError(file, exc.line, exc.message)]
    errors = [SourceError(file, line_of(document, where), message)
              for e in _VALIDATOR.iter_errors(document) for where, message in each_problem(e, list(e.absolute_path))]
    if errors:
        return [], sorted(errors)
    return [SourcedPrompt(p, file) for p in prompt_texts(document, [], document)], []


def all_prompts(flows: FlowSet, extra: Iterable[SourcedPrompt] = ()) -> tuple[list[SourcedPrompt], list[SourceError]]:
    """Every prompt text once, by (name, language). The same prompt given two
    different texts (in two flows, or a flow and prompts.yaml) is an error:
    one sound file cannot say both."""
    chosen: dict[tuple[str, str], SourcedPrompt] = {}
    errors: list[SourceError] = []
    candidates = [SourcedPrompt(p, flow.source) for flow in flows.flows.values() for p in flow.prompts]
    for item in [*candidates, *extra]:
        first = chosen.setdefault(item.key, item)
        if first.prompt.text != item.prompt.text:
            errors.append(SourceError(item.source, item.prompt.line,
                                      f"prompt '{item.prompt.name}' ({item.prompt.language}) has another text "
                                      f"in {first.source}:{first.prompt.line}; one sound file cannot say both"))
    return sorted(chosen.values(), key=lambda s: s.key), sorted(errors)
