"""``agiflow sounds build``."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from agi.cli.common import FileName, config_option, get_config, load_flow_set
from agi.engine.model import PromptText
from agi.sounds import render as rendering
from agi.sounds.prompts import PROMPT_FILE, all_prompts, load_prompt_file


@click.group()
def sounds() -> None:
    """Prompt sound files: render them from the text the flows give."""


@sounds.command()
@click.argument("paths", nargs=-1, type=FileName(readable=False))  # file:1: reason, exit 1
@click.option("--lang", "languages", multiple=True,
              help="Only this language (repeat for several; default: every language with text).")
@click.option("--force", is_flag=True, help="Render every prompt again, changed or not.")
@config_option
def build(paths: tuple[str, ...], languages: tuple[str, ...], force: bool, config_path: str | None) -> None:
    """Render the prompts of the flows (and of sounds/prompts.yaml) to WAV.

    Each prompt's text is spoken by espeak-ng and converted by sox to 8 kHz
    mono 16-bit WAV in <sounds>/<language>/<name>.wav. Prompts whose text,
    voice and settings are unchanged since the last build are skipped.
    """
    config = get_config(config_path)
    flows = load_flow_set(list(paths) or [str(config.flows)])
    extra, errors = load_prompt_file(config.sounds / PROMPT_FILE)
    prompts, conflicts = all_prompts(flows, extra)
    for error in [*errors, *conflicts]:
        click.echo(str(error), err=True)
    if errors or conflicts:
        sys.exit(1)
    spoken = sorted({p.prompt.language for p in prompts})
    for language in languages:  # a misspelt --lang (ES) would build nothing, and say so as a success
        if language not in spoken:
            raise click.BadParameter(f"no prompt has text in {language!r} (the flows' prompts are in "
                                     f"{', '.join(spoken) or 'no language'})", param_hint="'--lang'")
    missing = rendering.missing_tools()
    if missing:
        click.echo(f"{' and '.join(missing)} not found: install them (apt-get install espeak-ng sox, "
                   f"or `make setup`)", err=True)
        sys.exit(1)
    _build(config.sounds, [p.prompt for p in prompts], languages, force)


def _build(sounds_dir: Path, prompts: list[PromptText], languages: tuple[str, ...], force: bool) -> None:
    try:
        manifest = rendering.read_manifest(sounds_dir)
    except rendering.ManifestError as exc:
        click.echo(f"warning: {exc}: every prompt is rendered again", err=True)
        manifest = {}
    todo, unchanged = rendering.plan(prompts, sounds_dir, manifest, languages, force)
    failed = 0
    for job in todo:
        try:
            rendering.render(job)
        except (rendering.RenderError, OSError) as exc:
            failed += 1
            click.echo(f"failed: {job.target}: {exc}", err=True)
            continue
        manifest[job.key] = rendering.manifest_entry(job)
        rendering.write_manifest(sounds_dir, manifest)
        click.echo(f"rendered {job.target}")
    click.echo(f"{len(todo) - failed} rendered, {len(unchanged)} unchanged, {failed} failed")
    if failed:
        sys.exit(1)
