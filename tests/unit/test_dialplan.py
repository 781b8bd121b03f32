"""dialplan/extensions_agiflow.conf: every AGI() reaches a shipped flow,
every entry point has a safe way out whatever agiflow does, and every
target and prompt it names exists. Calls are followed through the file with
the channel variables Asterisk and agiflow would leave behind."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from agi.loading.loader import load_flows
from agi.engine.model import Flow
from agi.protocol.environment import split_script
from agi.sounds.catalog import prompt_available
from support.dialplan_conf import Context, evaluate, find, parse, substitute, walk

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / "dialplan" / "extensions_agiflow.conf"
CONTEXTS = parse(CONF)
FLOWS, FLOW_ERRORS = load_flows([REPO / "flows"])
#: Applications a caller hears something from.
AUDIBLE = {"Queue", "Dial", "Playback", "Background", "VoiceMail", "Read", "SayDigits"}
_AGI_URL = re.compile(r"^h?agi://[^/,]+/(?P<script>[^,]*)")

ENTRIES = [(c.name, exten) for c in CONTEXTS.values() for exten, prios in c.extensions.items()
           if any(p.app == "AGI" for p in prios)]


def agi_flow(args: str) -> str:
    """The flow an AGI() asks for: agi://host/<flow>?..., or agiflow-agi,<flow>."""
    match = _AGI_URL.match(args)
    if match:
        return split_script(match.group("script"))[0]
    script, _, rest = args.partition(",")
    assert script == "agiflow-agi", f"AGI({args}) is neither agi:// nor agiflow-agi"
    return split_script(rest.split(",")[0])[0]


def flow_of(context: str, exten: str) -> Flow:
    [agi] = [p for p in CONTEXTS[context].extensions[exten] if p.app == "AGI"]
    flow = FLOWS.get(agi_flow(agi.args))
    assert flow is not None
    return flow


def is_outbound(flow: Flow) -> bool:
    """A campaign flow: it checks the dialled number against do-not-call lists."""
    return any(step.type_name == "robinson" for step in flow.steps.values())


def test_the_file_has_entry_points_for_inbound_and_plain_agi_and_a_fallback() -> None:
    assert FLOW_ERRORS == []
    assert {"agiflow-inbound", "agiflow-fallback", "agiflow-plain-agi"} <= set(CONTEXTS)
    assert len(ENTRIES) >= 3
    assert any(p.app == "AGI" and p.args.startswith("agiflow-agi,")
               for p in CONTEXTS["agiflow-plain-agi"].extensions["900123458"])


def test_each_example_did_leads_to_one_line_whatever_contexts_a_trunk_includes() -> None:
    """A DID in two contexts would reach whichever the trunk's context includes first."""
    seen: dict[str, list[str]] = {}
    for context in CONTEXTS.values():
        for exten in context.extensions:
            if exten.isdigit():
                seen.setdefault(exten, []).append(context.name)
    assert {exten: names for exten, names in seen.items() if len(names) > 1} == {}


@pytest.mark.parametrize("context, exten", ENTRIES)
def test_every_agi_names_a_shipped_flow(context: str, exten: str) -> None:
    for priority in CONTEXTS[context].extensions[exten]:
        if priority.app == "AGI":
            name = agi_flow(priority.args)
            assert FLOWS.get(name) is not None, (
                f"{CONF.name}:{priority.line}: AGI() asks for flow {name!r}, not in flows/ ({', '.join(FLOWS.flows)})")


@pytest.mark.parametrize("context, exten", ENTRIES)
def test_every_entry_point_checks_agistatus_right_after_agi(context: str, exten: str) -> None:
    priorities = CONTEXTS[context].extensions[exten]
    after = priorities[[p.app for p in priorities].index("AGI") + 1:][:4]
    assert any("${AGISTATUS}" in p.args for p in after if p.app == "GotoIf")
    assert any("${AGIFLOW_STATUS}" in p.args for p in after if p.app == "GotoIf")


@pytest.mark.parametrize("status", ["FAILURE", "NOTFOUND", "SUCCESS"])
@pytest.mark.parametrize("context, exten", ENTRIES)
def test_when_agiflow_runs_no_flow_inbound_callers_hear_a_queue_or_message(context: str, exten: str,
                                                                           status: str) -> None:
    """Not reached (FAILURE), agiflow-agi not installed (NOTFOUND), or the
    connection refused by the server (SUCCESS with no AGIFLOW_STATUS)."""
    flow = flow_of(context, exten)
    call = walk(CONTEXTS, context, exten, "AGI", {"AGISTATUS": status})
    if is_outbound(flow):
        assert not call.ran("Dial", "Queue"), "a number whose do-not-call check did not run must not be dialled"
        logged = " ".join(args for app, args in call.apps if app == "Log")
        assert call.hung_up and "not dialled" in logged, call.apps
    else:
        audible = [app for app in call.names() if app in AUDIBLE]
        assert audible and audible[0] in ("Playback", "Queue"), f"{context},{exten} leaves the caller in silence"
        logged = " ".join(args for app, args in call.apps if app == "Log")
        assert ("refused" if status == "SUCCESS" else "not reached") in logged, logged


@pytest.mark.parametrize("context, exten", ENTRIES)
def test_a_completed_flow_is_never_sent_round_again_even_with_a_missing_prompt(context: str, exten: str) -> None:
    flow = flow_of(context, exten)
    for agistatus in ("SUCCESS", "FAILURE"):
        call = walk(CONTEXTS, context, exten, "AGI", {"AGISTATUS": agistatus, "AGIFLOW_STATUS": "completed",
                                                      "ROBINSON": "listed"})
        assert call.hung_up and not call.ran("Queue", "Playback", "Dial"), (agistatus, call.apps)
    if is_outbound(flow):
        dialling = [p for p in CONTEXTS[context].extensions[exten] if p.app in ("Dial", "Queue", "Originate")]
        assert dialling == [], "a campaign context never dials: the flow dials after its do-not-call check"


@pytest.mark.parametrize("flow_status", ["error", "unknown_flow"])
@pytest.mark.parametrize("context, exten", ENTRIES)
def test_a_failed_flow_reaches_the_fallback_or_is_never_dialled(context: str, exten: str, flow_status: str) -> None:
    call = walk(CONTEXTS, context, exten, "AGI", {"AGISTATUS": "SUCCESS", "AGIFLOW_STATUS": flow_status,
                                                  "ROBINSON": "error"})
    if is_outbound(flow_of(context, exten)):
        assert not call.ran("Dial") and call.hung_up
    else:
        assert call.ran("Queue") and call.ran("Playback")


def test_the_fallback_context_of_config_yaml_starts_at_s_1_with_a_queue_then_a_message() -> None:
    config = (REPO / "config.yaml").read_text(encoding="utf-8")
    assert "fallback: {context: agiflow-fallback, extension: s, priority: 1}" in config
    fallback = CONTEXTS["agiflow-fallback"]
    assert fallback.extensions["s"][0].number == 1
    call = walk(CONTEXTS, "agiflow-fallback", "s", "Log", {"AGIFLOW_QUEUE": "sales"})
    assert call.names()[:3] == ["Answer", "Playback", "Queue"] and ("Queue", "sales,t,,,300") not in call.apps
    assert call.apps[2][1].startswith("${IF(")  # the queue comes from AGIFLOW_QUEUE, default support
    assert call.names()[-2:] == ["Playback", "Hangup"]


def test_every_goto_target_exists() -> None:
    for context in CONTEXTS.values():
        for exten, priorities in context.extensions.items():
            for priority in priorities:
                targets = []
                if priority.app == "Goto":
                    targets = [priority.args]
                elif priority.app == "GotoIf":
                    yes, _, no = priority.args.rpartition("?")[2].partition(":")
                    targets = [t for t in (yes, no) if t.strip()]
                for target in targets:
                    find(CONTEXTS, context.name, exten, target.strip())  # raises when missing


def test_every_context_is_commented_and_every_agi_context_logs_in_h() -> None:
    for context in CONTEXTS.values():
        assert context.comment, f"{CONF.name}:{context.line}: [{context.name}] has no comment"
        if any(p.app == "AGI" for prios in context.extensions.values() for p in prios):
            assert "h" in context.extensions, f"[{context.name}] has no h extension"
            assert "AGIFLOW_STATUS" in context.extensions["h"][0].args or context.name == "agiflow-campaign"


def test_every_prompt_the_dialplan_plays_is_shipped_in_english_and_spanish() -> None:
    played = {p.args.split(",")[0] for c in CONTEXTS.values() for prios in c.extensions.values()
              for p in prios if p.app in ("Playback", "Background")} - {"${ARG1}"}  # agiflow-whisper's argument
    assert played
    for language in ("en", "es"):
        assert [s for s in played if not prompt_available(REPO / "sounds", language, s)] == []


def test_hagi_for_several_servers_is_documented_in_the_file() -> None:
    text = CONF.read_text(encoding="utf-8")
    assert "AGI(hagi://agiflow.example.com/support)" in text and "_agi._tcp.agiflow.example.com" in text


# -- the reader itself --------------------------------------------------------------------------------

def test_conditions_evaluate_like_asterisk_expressions() -> None:
    variables = {"AGISTATUS": "FAILURE", "AGIFLOW_STATUS": ""}
    text = '("${AGISTATUS}" = "FAILURE" | "${AGISTATUS}" = "NOTFOUND") & "${AGIFLOW_STATUS}" = ""'
    assert evaluate(substitute(text, variables))
    assert not evaluate(substitute(text, {**variables, "AGIFLOW_STATUS": "error"}))
    assert not evaluate(substitute(text, {"AGISTATUS": "SUCCESS"}))
    assert evaluate('"a" != "b"') and not evaluate('"a" = "b" | "c" = "d"')


def test_the_reader_numbers_priorities_and_rejects_what_it_cannot_read(tmp_path: Path) -> None:
    conf = tmp_path / "x.conf"
    conf.write_text("[a]\n; comment\nexten => s,1,NoOp(x\\; y) ; the rest is a comment\n same => n(end),Hangup()\n",
                    encoding="utf-8")
    [context] = parse(conf).values()
    assert [(p.number, p.label, p.app, p.args) for p in context.extensions["s"]] == [
        (1, None, "NoOp", "x\\; y"), (2, "end", "Hangup", "")]
    assert isinstance(context, Context) and context.comment
    conf.write_text("[a]\nexten => s,n,NoOp()\n", encoding="utf-8")
    with pytest.raises(ValueError):
        parse(conf)
    conf.write_text("[a]\nexten => s,1,Log(ERROR,down (AGISTATUS=${AGISTATUS}); is it running?)\n", encoding="utf-8")
    with pytest.raises(ValueError, match="cannot read"):
        parse(conf)  # the ; cut the line: Asterisk would log half a message
