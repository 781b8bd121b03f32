"""Prompts: their text in flows, rendering with espeak-ng and sox, the
shipped sound files, and `agiflow validate`'s warnings for missing prompts."""
from __future__ import annotations

import json
import wave
from pathlib import Path

import pytest
from click.testing import CliRunner

from agi.cli.main import cli
from agi.loading.loader import load_flow_file, load_flows
from agi.engine.model import FlowSet, PromptText
from agi.sounds import render as rendering
from agi.sounds.catalog import core_sounds, prompt_available
from agi.sounds.check import missing_prompts
from agi.loading.yamlio import SourceError
from agi.sounds.prompts import PROMPT_FILE, all_prompts, load_prompt_file

REPO = Path(__file__).resolve().parents[2]
SOUNDS = REPO / "sounds"
needs_tools = pytest.mark.skipif(bool(rendering.missing_tools()),
                                 reason="espeak-ng and sox are installed by `make setup`")

FLOW = """\
version: 1
name: greeter
language: es
start: greet
steps:
  greet:
    play: [agiflow/hello, beep, "{{ vars.custom }}"]
    next: ask
  ask:
    menu: {prompt: agiflow/choose, choices: {"1": bye}, invalid_prompt: agiflow/hello, variable: custom}
  bye:
    hangup:
prompts:
  agiflow/hello:
    en: Hello.
    es: |
      Hola,
      buenos días.
  agiflow/choose:
    es: Pulse uno.
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def wav_format(path: Path) -> tuple[int, int, int]:
    with wave.open(str(path)) as audio:
        return audio.getframerate(), audio.getnchannels(), audio.getsampwidth()


# -- prompt text in flows ----------------------------------------------------------

def test_flow_prompts_load_with_their_lines_and_folded_whitespace(tmp_path: Path) -> None:
    flow, errors = load_flow_file(write(tmp_path / "greeter.yaml", FLOW))
    assert errors == [] and flow is not None
    assert flow.prompts == (PromptText("agiflow/hello", "en", "Hello.", 15),
                            PromptText("agiflow/hello", "es", "Hola, buenos días.", 16),
                            PromptText("agiflow/choose", "es", "Pulse uno.", 20))


@pytest.mark.parametrize("bad, line, message", [
    ("  ../etc/passwd: {en: x}\n", 8, "'../etc/passwd' does not match"),  # the key's own line
    ("  agiflow/x: {english: x}\n", 8, "'english' does not match"),
    ("  agiflow/x: {en: ''}\n", 8, "should be non-empty"),
    ("  agiflow/x: {}\n", 8, "should be non-empty"),
])
def test_bad_prompt_names_languages_and_texts_are_errors_with_their_line(tmp_path: Path, bad: str, line: int,
                                                                         message: str) -> None:
    text = "version: 1\nname: x\nstart: a\nsteps:\n  a:\n    hangup:\nprompts:\n" + bad
    _, errors = load_flow_file(write(tmp_path / "x.yaml", text))
    assert len(errors) == 1 and errors[0].line == line and message in errors[0].message, errors


def test_steps_list_the_sounds_they_play() -> None:
    flows, _ = load_flows([REPO / "flows"])
    support = flows.get("support")
    assert support is not None
    menu = support.steps["menu"].node
    assert menu.prompts() == ["agiflow/main-menu", "agiflow/no-input", "agiflow/invalid-option"]
    assert support.steps["account"].node.prompts() == ["agiflow/enter-account", "agiflow/invalid-account"]
    assert support.steps["welcome"].node.prompts() == ["agiflow/welcome"]
    assert support.steps["answer"].node.prompts() == []
    closed = flows.get("closed")
    assert closed is not None
    assert closed.steps["message"].node.prompts() == ["agiflow/office-closed", "agiflow/call-us-at"]
    care = flows.get("customer_care")
    assert care is not None
    by_type = {step.type_name: set(step.node.prompts()) for step in care.steps.values()}
    assert {"agiflow/callback-offer", "agiflow/callback-confirm", "agiflow/callback-thanks"} <= by_type["callback"]
    assert {"agiflow/recording-notice", "agiflow/recording-ask", "agiflow/privacy-policy"} <= by_type["consent"]


def test_one_prompt_with_two_different_texts_is_an_error_naming_both_files(tmp_path: Path) -> None:
    write(tmp_path / "flows/a.yaml", FLOW)
    write(tmp_path / "flows/b.yaml", FLOW.replace("name: greeter", "name: other").replace("Pulse uno.", "Marque 1."))
    flows, errors = load_flows([tmp_path / "flows"])
    assert errors == []
    prompts, conflicts = all_prompts(flows)
    assert len(conflicts) == 1
    assert conflicts[0].file.endswith("b.yaml") and conflicts[0].line == 20
    assert "a.yaml:20" in conflicts[0].message
    assert len(prompts) == 3


def test_dialplan_prompts_come_from_prompts_yaml(tmp_path: Path) -> None:
    found, errors = load_prompt_file(write(tmp_path / PROMPT_FILE, "agiflow/x:\n  en: Hi.\n  es: Hola.\n"))
    assert errors == [] and [(p.prompt.name, p.prompt.language, p.prompt.line) for p in found] == [
        ("agiflow/x", "en", 2), ("agiflow/x", "es", 3)]
    _, errors = load_prompt_file(write(tmp_path / "bad.yaml", "agiflow/x:\n  en: 3\n"))
    assert errors and errors[0].line == 2
    assert load_prompt_file(tmp_path / "missing.yaml") == ([], [])
    (tmp_path / "linked.yaml").symlink_to(tmp_path / "removed.yaml")  # once no prompts, without a word
    (tmp_path / "loop.yaml").symlink_to("loop.yaml")
    for name in ("linked.yaml", "loop.yaml"):
        [error] = load_prompt_file(tmp_path / name)[1]
        assert error.file == str(tmp_path / name) and error.message.startswith("cannot read prompts: ")


def test_a_prompts_file_that_is_a_folder_says_so_in_words(tmp_path: Path) -> None:
    """It said 'cannot read prompts: [Errno 21] Is a directory: 3' (the
    number of the file descriptor where its name belongs)."""
    (tmp_path / PROMPT_FILE).mkdir()
    assert load_prompt_file(tmp_path / PROMPT_FILE) == (
        [], [SourceError(str(tmp_path / PROMPT_FILE), 1, "cannot read prompts: Is a directory")])


def test_a_prompts_file_that_is_not_utf8_is_reported_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / PROMPT_FILE
    path.write_bytes("agiflow/x:\n  en: Hi.\n  es: Adi\xf3s.\n".encode("latin-1"))
    assert load_prompt_file(path) == ([], [SourceError(str(path), 3, "cannot read prompts: not UTF-8 text "
                                                                     "(byte 0xf3 on this line); save it as UTF-8")])


def test_a_prompts_file_over_1_mb_is_refused_without_being_read_whole(tmp_path: Path) -> None:
    path = write(tmp_path / PROMPT_FILE, "agiflow/x:\n  en: Hi.\n" + "# a comment\n" * (1024 * 1024 // 12))
    assert load_prompt_file(path) == ([], [SourceError(str(path), 1, "cannot read prompts: larger than 1048576 bytes")])


# -- planning and rendering --------------------------------------------------------

def test_unchanged_prompts_are_skipped_and_a_changed_text_is_rendered_again(tmp_path: Path) -> None:
    hello = PromptText("agiflow/hello", "es", "Hola.")
    bye = PromptText("agiflow/bye", "en", "Bye.")
    todo, unchanged = rendering.plan([hello, bye], tmp_path, {})
    assert [j.key for j in todo] == ["es/agiflow/hello", "en/agiflow/bye"] and unchanged == []
    assert todo[0].target == tmp_path / "es/agiflow/hello.wav"
    manifest = {job.key: rendering.manifest_entry(job) for job in todo}
    for job in todo:
        write(job.target, "audio")
    todo, unchanged = rendering.plan([hello, bye], tmp_path, manifest)
    assert todo == [] and len(unchanged) == 2
    todo, _ = rendering.plan([PromptText("agiflow/hello", "es", "Hola otra vez."), bye], tmp_path, manifest)
    assert [j.key for j in todo] == ["es/agiflow/hello"]
    assert [j.key for j in rendering.plan([hello, bye], tmp_path, manifest, force=True)[0]] == [
        "es/agiflow/hello", "en/agiflow/bye"]
    assert [j.key for j in rendering.plan([hello, bye], tmp_path, {}, languages=["en"])[0]] == ["en/agiflow/bye"]
    (tmp_path / "en/agiflow/bye.wav").unlink()
    assert [j.key for j in rendering.plan([hello, bye], tmp_path, manifest)[0]] == ["en/agiflow/bye"]


def test_the_commands_read_text_from_stdin_and_write_8khz_mono_16_bit_wav(tmp_path: Path) -> None:
    assert rendering.espeak_command("es") == ["espeak-ng", "-v", "es", "-s", "150", "--stdin", "--stdout"]
    assert rendering.espeak_command("en")[2] == "en-us" and rendering.espeak_command("en_GB")[2] == "en-gb"
    sox = rendering.sox_command(tmp_path / "x.wav")
    assert sox[:2] == ["sox", "-D"] and ["-r", "8000", "-c", "1", "-b", "16"] == sox[5:11]


@needs_tools
def test_rendering_writes_an_asterisk_wav_the_same_bytes_every_time(tmp_path: Path) -> None:
    job = rendering.plan([PromptText("agiflow/hola", "es", "-v en Hola, ¿qué tal?")], tmp_path, {})[0][0]
    rendering.render(job)
    first = job.target.read_bytes()
    assert wav_format(job.target) == (8000, 1, 2)
    assert len(first) > 8000  # well over half a second of speech
    rendering.render(job)
    assert job.target.read_bytes() == first
    assert [p.name for p in job.target.parent.iterdir()] == ["hola.wav"]  # no temporary left


# -- the command ---------------------------------------------------------------------

def project(tmp_path: Path, flow: str = FLOW) -> Path:
    write(tmp_path / "flows/greeter.yaml", flow)
    return write(tmp_path / "config.yaml", "flows: flows\nsounds: sounds\ndatabase: cdr.db\n")


@needs_tools
def test_sounds_build_renders_then_skips_until_a_text_changes(tmp_path: Path) -> None:
    config = project(tmp_path)
    runner = CliRunner()
    first = runner.invoke(cli, ["sounds", "build", "-c", str(config)])
    assert first.exit_code == 0, first.output
    assert first.output.splitlines()[-1] == "3 rendered, 0 unchanged, 0 failed"
    assert wav_format(tmp_path / "sounds/es/agiflow/hello.wav") == (8000, 1, 2)
    manifest = json.loads((tmp_path / "sounds/manifest.json").read_text(encoding="utf-8"))
    assert manifest["es/agiflow/hello"]["text"] == "Hola, buenos días."
    again = runner.invoke(cli, ["sounds", "build", "-c", str(config)])
    assert again.output.splitlines()[-1] == "0 rendered, 3 unchanged, 0 failed"
    project(tmp_path, FLOW.replace("Pulse uno.", "Pulse el uno."))
    changed = runner.invoke(cli, ["sounds", "build", "-c", str(config), "--lang", "es"])
    assert changed.output.splitlines() == [f"rendered {tmp_path / 'sounds/es/agiflow/choose.wav'}",
                                           "1 rendered, 1 unchanged, 0 failed"]


@needs_tools
@pytest.mark.parametrize("content", [b'{"es/agiflow/hello": {"fingerprint": "ab"', b"\xff\xfe{}", b"[1, 2]",
                                     b'{"es/agiflow/hello": 5, "en/agiflow/hello": ["x"]}', b"[" * 100_000,
                                     b"x" * (17 << 20)])
def test_a_damaged_manifest_is_a_warning_and_every_prompt_is_rendered_again(tmp_path: Path, content: bytes) -> None:
    """A manifest cut short by a full disk or edited by hand was a traceback
    (JSONDecodeError, AttributeError, RecursionError) and nothing was built."""
    config = project(tmp_path)
    write(tmp_path / "sounds/manifest.json", "").write_bytes(content)
    result = CliRunner().invoke(cli, ["sounds", "build", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert f"warning: {tmp_path / 'sounds/manifest.json'}: " in result.output
    assert "every prompt is rendered again" in result.output
    assert result.output.splitlines()[-1] == "3 rendered, 0 unchanged, 0 failed"
    manifest = json.loads((tmp_path / "sounds/manifest.json").read_text(encoding="utf-8"))
    assert sorted(manifest) == ["en/agiflow/hello", "es/agiflow/choose", "es/agiflow/hello"]


@pytest.mark.parametrize("lang", ["xx", "ES", "", "es-ES"])
def test_a_lang_no_prompt_has_text_in_is_a_usage_error_naming_the_languages(tmp_path: Path, lang: str) -> None:
    """``--lang ES`` (or a language no flow speaks) once built nothing,
    said '0 rendered, 0 unchanged, 0 failed' and exited 0."""
    config = project(tmp_path)
    result = CliRunner().invoke(cli, ["sounds", "build", "-c", str(config), "--lang", "es", "--lang", lang])
    assert result.exit_code == 2, result.output
    assert (f"Invalid value for '--lang': no prompt has text in {lang!r} (the flows' prompts are in en, es)"
            in result.output)
    assert not (tmp_path / "sounds").exists()


def test_sounds_build_without_espeak_or_sox_says_how_to_install_them(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    config = project(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = CliRunner().invoke(cli, ["sounds", "build", "-c", str(config)])
    assert result.exit_code == 1
    assert "espeak-ng and sox not found" in result.output and "apt-get install espeak-ng sox" in result.output


def test_sounds_build_refuses_conflicting_texts(tmp_path: Path) -> None:
    config = project(tmp_path)
    write(tmp_path / "sounds" / PROMPT_FILE, "agiflow/hello:\n  en: Hi there.\n")
    result = CliRunner().invoke(cli, ["sounds", "build", "-c", str(config)])
    assert result.exit_code == 1 and "prompt 'agiflow/hello' (en) has another text" in result.output


# -- validate's warnings -------------------------------------------------------------------

def test_validate_warns_about_prompts_neither_recorded_nor_core_and_still_exits_0(tmp_path: Path) -> None:
    config = project(tmp_path)
    write(tmp_path / "sounds/es/agiflow/choose.gsm", "recorded")
    result = CliRunner().invoke(cli, ["validate", "-c", str(config)])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if ": warning: " in line]
    file = tmp_path / "flows/greeter.yaml"
    sounds = tmp_path / "sounds"
    assert warnings == [
        f"{file}:{line}: warning: step '{step}': prompt 'agiflow/hello' ({lang}) is not in {sounds}/{lang}/ "
        "nor an Asterisk core sound; run `agiflow sounds build`"
        for line, step in ((7, "greet"), (10, "ask")) for lang in ("en", "es")
    ]  # beep is a core sound, the template is skipped, choose.gsm is recorded
    assert result.output.splitlines()[-1] == "ok: 1 flow valid (greeter), 4 warnings"


def test_a_prompt_without_text_gets_a_hint_to_record_it(tmp_path: Path) -> None:
    config = project(tmp_path, FLOW.replace("agiflow/choose", "agiflow/unrecorded", 1))
    result = CliRunner().invoke(cli, ["validate", "-c", str(config)])
    assert "prompt 'agiflow/unrecorded' (es)" in result.output and "or record it" in result.output


def test_core_sounds_are_known_per_language_with_english_as_the_fallback() -> None:
    assert {"beep", "vm-goodbye", "digits/1", "silence/1", "hello-world"} <= core_sounds("en")
    assert "queue-thankyou" in core_sounds("es") and "digits/21" in core_sounds("es_MX")
    assert "digits/21" not in core_sounds("en") and core_sounds("fr") == core_sounds("en")
    assert len(core_sounds("en")) > 500


# -- the shipped prompts -------------------------------------------------------------------

def shipped() -> tuple[FlowSet, list[PromptText]]:
    flows, errors = load_flows([REPO / "flows"])
    assert errors == []
    extra, errors = load_prompt_file(SOUNDS / PROMPT_FILE)
    prompts, conflicts = all_prompts(flows, extra)
    assert errors == [] and conflicts == []
    return flows, [p.prompt for p in prompts]


def test_every_prompt_the_shipped_flows_play_exists_in_english_and_spanish() -> None:
    flows, _ = shipped()
    assert missing_prompts(flows, SOUNDS) == []
    played = {name for flow in flows.flows.values() for step in flow.steps.values() for name in step.node.prompts()
              if "{" not in name}
    for language in ("en", "es"):
        absent = sorted(name for name in played if not prompt_available(SOUNDS, language, name))
        assert absent == [], f"sounds/{language} lacks {absent}"


def test_the_shipped_sound_files_are_rendered_from_the_current_texts() -> None:
    _, prompts = shipped()
    manifest = rendering.read_manifest(SOUNDS)
    todo, unchanged = rendering.plan(prompts, SOUNDS, manifest)
    assert todo == [], f"run `agiflow sounds build`: {[job.key for job in todo]} are out of date"
    assert {p.language for p in prompts} == {"en", "es"}
    for job in unchanged:
        assert wav_format(job.target) == (8000, 1, 2), job.target


def test_no_stray_files_in_the_shipped_sounds() -> None:
    _, prompts = shipped()
    expected = {rendering.target_path(SOUNDS, p) for p in prompts}
    present = {p for p in SOUNDS.rglob("*.wav")}
    assert present == expected


def test_without_a_config_validate_finds_the_sounds_beside_the_flows(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "project/flows/greeter.yaml", FLOW.replace("agiflow/choose", "beep"))
    for language in ("en", "es"):
        write(tmp_path / f"project/sounds/{language}/agiflow/hello.wav", "audio")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # no config.yaml, no ./sounds here
    result = CliRunner().invoke(cli, ["validate", str(tmp_path / "project/flows")])
    assert result.exit_code == 0 and "warning" not in result.output, result.output


def test_validate_warns_about_a_prompt_two_flows_give_different_texts(tmp_path: Path) -> None:
    """flows.md: two flows may give the same prompt only with the same
    text; validate says so before `agiflow sounds build` refuses it."""
    config = project(tmp_path)
    other = FLOW.replace("name: greeter", "name: other")
    other = other.replace(other[other.index("  agiflow/hello:"):], "  agiflow/hello:\n    es: Buenas tardes.\n")
    write(tmp_path / "flows/other.yaml", other)
    result = CliRunner().invoke(cli, ["validate", "-c", str(config)])
    assert result.exit_code == 0, result.output
    conflicts = [line for line in result.output.splitlines() if "has another text" in line]
    first, second = sorted([tmp_path / "flows/greeter.yaml", tmp_path / "flows/other.yaml"])
    assert len(conflicts) == 1 and conflicts[0].startswith(f"{second}:")
    assert ": warning: prompt 'agiflow/hello' (es) has another text in " f"{first}:" in conflicts[0]
    assert conflicts[0].endswith("`agiflow sounds build` refuses it")
