"""The end-to-end suite's calls: one private Asterisk 22 and one ``agiflow
serve``, and the scenarios' calls. A story is a sequence of calls and
commands (a caller's three calls in a row, a queue timeout then the
callback dialled for it...); the stories run side by side, so the suite
takes about as long as its longest story.

Run with ``make e2e``; ``make test`` never selects these tests (pytest.ini
deselects the ``e2e`` mark). Without a built Asterisk they skip, saying
where one was looked for.
"""
from __future__ import annotations

import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterator

import pytest

from calls import Lab, Runner, cdr_rows, finished_recording, wait_until
from endpoint import Endpoint
from lab import (HERE, RECORDINGS, REPO, AgiflowServer, AsteriskLab, agiflow_cli, asterisk_binary, asterisk_prefix,
                 write_agiflow_config)
from scenarios import (IDLE_SUPERVISOR, LISTED_LANDLINE, NIGHT_SUPERVISOR, PIN, SCENARIOS, SUPERVISOR,
                       WAITING_CALLER)

#: One call's ending, or a story's step, takes at most this long on a loaded machine.
CALLS_TIMEOUT = 90.0


def single_calls(run: Runner) -> None:
    """The calls that need nothing before or after them, all at once."""
    scripts = ("sales", "hangup-menu", "accept", "decline", "hangup-consent", "listen", "e2e_dial")
    run.place(*scripts)
    run.wait(*scripts)


def steps(run: Runner) -> None:
    """Step types on their own: menu keys, prompts and languages, dial and
    queue statuses, a flow reached through hagi://, an unknown flow sent to
    the fallback context, digits, a missing application, voicemail, a
    queue left by its member (c option), a dial with its own caller ID, a DID of the shipped dialplan, a privacy
    notice, a caller who hangs up while a dial rings, steps on a dead channel, a
    campaign leg whose do-not-call list is missing, a flow run by plain AGI, the
    shipped closed flow, a failed do-not-call check kept out of the fallback,
    direct dialling from a menu, a consent withdrawn after two recordings,
    numbers written with punctuation dialled after a do-not-call check, a
    queue's subroutine run on the member's channel, a mailbox that does not
    exist, a dial to a caller already answered (by the dialplan, by Playback),
    a dial whisper cut short by the caller or by the agent, a withheld caller
    ID said back, a queue whisper whose member presses a key, a queue whose only member is
    unavailable."""
    scripts = ("menu-keys", "prompts", "dial-statuses", "fleet", "fallback", "input-keys", "voicemail-star",
               "continue", "did-sales", "privacy", "cancel", "gone",
               "campaign-leg", "plain", "closed", "dnc-error",
               "direct", "rerecord", "dnc-dots", "member-sub",
               "voicemail-none", "dial-up", "e2e_dial_played", "whisper-gone", "whisper-rejected", "say-back",
               "whisper-skip", "queue-unavail")
    run.cli_asterisk("queue show unavail", "queue show unavail")
    run.place(*scripts)
    run.wait(*scripts)


def hangups_and_keypad(run: Runner) -> None:
    """Hangups at more points of more steps (input, consent's question,
    voicemail's instructions; by plain AGI during a menu and while the
    process starts), consent that records a silent caller by the flow's
    default or is withdrawn, a key pressed during the recording notice, a
    callback request keyed on the phone, and the shipped dialplan with
    agiflow down."""
    scripts = ("callback-keys", "consent-silent", "consent-gone", "consent-empty", "consent-withdrawn", "consent-early",
               "input-gone", "voicemail-gone", "plain-gone", "plain-early", "plain-quiet",
               "down-inbound", "down-campaign")
    run.place(*scripts)
    run.wait(*scripts)


def recordings(run: Runner) -> None:
    """Recordings started and stopped by exec as well as by consent: execs
    of MixMonitor that Asterisk refuses, StopMixMonitor without an id after
    two recordings, a recording paused and resumed by a consent given again
    (also at once); and a wrong key at the last question of a consent that
    records silence."""
    scripts = ("rec-failed", "rec-paused", "rec-resumed", "rec-quick", "consent-wrong-key")
    run.place(*scripts)
    run.wait(*scripts)


def edges(run: Runner) -> None:
    """Less travelled paths: a congested line, the one of two destinations
    that answered, Dial's g option; keys ended by a timeout, a * among
    digits, menus out of retries; callers who hang up while talking, while
    a member hears the announcement, or while a webhook is awaited; a member
    who hangs up during the whisper; a queue left empty when its member is
    paused; a caller's own hangup cause after the member hung up first; a
    recording in wav49; a dial's caller ID, then a queue; by plain AGI, an
    unknown flow sent to the fallback and a flow's own hangup; hangups while
    a callback step says the number back and during its thanks; a caller who
    leaves a queue with a key; a call rejected before anyone answered it; 0
    during VoiceMail(); a queue Asterisk does not have; a caller who leaves
    a ringing Dial() with a key; a hangup step without a cause; a callback
    request whose number is busy when called back.

    The plain AGI calls come once the others have ended: started all at
    once beside the other stories' (a Python process each), they kept the
    machine so busy that SQLite writes held the database long enough for
    a supervisor's PIN check to give up."""
    scripts = ("dial-more", "keys-edge", "queue-talk-gone", "dial-talk-gone", "announce-gone",
               "announce-dumped", "rec-unbridged", "hook-gone", "stale-member", "cause-later",
               "callerid-kept", "after-agent", "callback-digits-gone", "callback-thanks-gone", "queue-key",
               "e2e_reject", "voicemail-zero", "no-queue", "dial-key", "hangup-plain", "leave-empty",
               "name-lines", "name-lines-dial")
    run.place(*scripts)
    wait_until(lambda: any(line[2] == "leaving" and line[4] == "ENTERQUEUE" for line in run.asterisk.queue_log()),
               CALLS_TIMEOUT, "a caller waits in the queue leaving")
    run.cli_asterisk("pause", "queue pause member Local/agent-ring@lab-agents/n queue leaving")
    run.wait(*scripts)
    plain = ("hookstdio-gone", "rec-wav49", "plain-fallback", "plain-hello", "plain-name-lines")
    run.place(*plain)
    posted(run, "hookstdio-gone")
    run.cli_asterisk("hookstdio posted", "dialplan set global HOOKSTDIO_POSTED 1")
    run.wait(*plain)
    dial_later = ("callbacks", "dial", "--spool", str(run.asterisk.spool), "--channel",
                  "Local/{digits}@lab-unreachable", "--queue", "later", "--wait", "5", "--retry-after", "1")
    run.cli("callbacks dial later", *dial_later)
    wait_until(lambda: not run.asterisk.call_files() and "expired without completion" in run.asterisk.log(),
               CALLS_TIMEOUT, "the busy call back was given up")
    run.cli("callbacks dial later again", *dial_later)


def posted(run: Runner, script: str) -> None:
    """Wait until the webhook flow of ``script`` has posted to the endpoint."""
    assert run.endpoint is not None
    requests = run.endpoint.requests
    wait_until(lambda: any(str(body["call"]["channel"]).startswith(f"Local/{script}@") for _, body in list(requests)),
               CALLS_TIMEOUT, f"the webhook of {script} posted")


def queue_full(run: Runner) -> None:
    """A caller waits in a queue with room for one; a second finds it full."""
    run.place("full-1")
    wait_until(lambda: any(line[2] == "tiny" and line[4] == "ENTERQUEUE" for line in run.asterisk.queue_log()),
               CALLS_TIMEOUT, "the first caller entered the queue tiny")
    run.place("full-2")
    run.wait("full-1", "full-2")


def withdrawn(run: Runner) -> None:
    """A caller waiting in a queue is withdrawn through AMI."""
    run.place("withdrawn")
    waiting = wait_until(lambda: re.findall(r"(Local/withdrawn@lab-caller-\S+;1)", run.asterisk.cli("queue show held")),
                         CALLS_TIMEOUT, "the caller waits in the queue held")
    said = run.asterisk.ami({"Action": "QueueWithdrawCaller", "Queue": "held", "Caller": waiting[0],
                             "WithdrawInfo": "e2e"})
    response = said.split("ActionID: lab-action")[0].rsplit("\r\n\r\n", 1)[-1]  # the action's own answer
    assert "Response: Success" in response, said
    run.wait("withdrawn")


def transferred(run: Runner) -> None:
    """A caller talking to a queue member is blind-transferred by the member
    (AMI BlindTransfer on the member's channel, as a phone's transfer key)."""
    run.place("transferred")
    wait_until(lambda: any(line[2] == "handover" and line[4] == "CONNECT" for line in run.asterisk.queue_log()),
               CALLS_TIMEOUT, "the member of the queue handover answered")
    member = wait_until(lambda: re.findall(r"^(Local/agent-handover@lab-agents-\S+;1)!",
                                           run.asterisk.cli("core show channels concise"), re.MULTILINE),
                        CALLS_TIMEOUT, "the member's channel")
    said = run.asterisk.ami({"Action": "BlindTransfer", "Channel": member[0], "Context": "lab-transfer",
                             "Exten": "target"})
    response = said.split("ActionID: lab-action")[0].rsplit("\r\n\r\n", 1)[-1]  # the action's own answer
    assert "Response: Success" in response, said
    run.wait("transferred")


def memory(run: Runner) -> None:
    """One caller's three calls in a row: new, returning, repeat."""
    for script in ("memory-1", "memory-2", "memory-3"):
        run.call(script)


def first_in_line(run: Runner) -> None:
    """A caller hangs up while waiting in a queue; another caller waits in
    it; the first calls again and goes ahead of them."""
    run.call("back-1")
    run.place("back-waiting")
    wait_until(lambda: any(line[2] == "prio" and line[4] == "ENTERQUEUE" and line[6] == WAITING_CALLER
                           for line in run.asterisk.queue_log()), CALLS_TIMEOUT, "a caller waits in the queue prio")
    run.place("back-2")
    run.wait("back-waiting", "back-2")


def missed_then_called_back(run: Runner) -> None:
    """A queue timeout and an abandon make callback requests, a second
    timeout none, a timeout of a number on the do-not-call list one;
    ``agiflow callbacks dial`` writes call files for the first two (not the
    listed number), and Asterisk calls each back into the sales queue."""
    run.place("timeout-1")
    # The calls back go oldest arrival first, ties by request (the abandon's
    # comes first): the abandon arrives later, not in the same millisecond
    # as the burst of calls the other stories place at the start.
    time.sleep(0.3)
    run.place("abandon")
    run.wait("timeout-1", "abandon")
    run.place("timeout-2", "timeout-listed")
    run.wait("timeout-2", "timeout-listed")
    run.cli("callbacks list", "callbacks", "list")
    run.cli("callbacks dial", "callbacks", "dial", "--spool", str(run.asterisk.spool), "--channel",
            "Local/{digits}@lab-customers", "--queue", "sales", "--callerid", '"Lab" <+34910000000>', "--wait", "20")

    def called_back() -> bool:
        legs = cdr_rows(run.database, "SELECT status FROM calls WHERE flow = 'callback_out'")
        return len(legs) == 2 and all(leg["status"] != "in_progress" for leg in legs) \
            and not run.asterisk.call_files()
    wait_until(called_back, CALLS_TIMEOUT, f"both callbacks called back (logs in {run.asterisk.run})")


def supervised(run: Runner) -> None:
    """A caller talks to an agent; a supervisor listens, whispers and barges
    in; another keys an agent on no call; a stranger is refused."""
    run.place("spied")
    wait_until(lambda: any(line[2] == "spied" and line[4] == "CONNECT" for line in run.asterisk.queue_log()),
               CALLS_TIMEOUT, "the spied agent answered")
    run.place("supervisor", "not-on-call", "not-authorised", "supervisor-gone")
    run.wait("spied", "supervisor", "not-on-call", "not-authorised", "supervisor-gone")
    recorded(run, "caller-spied", "agent-spied", "caller-supervisor")
    run.cli("supervisors audit", "supervisors", "audit", "--number", SUPERVISOR)


def whispers(run: Runner) -> None:
    """A queue and a dial whisper to the agent, both sides recorded."""
    run.place("whisper-queue", "whisper-dial")
    run.wait("whisper-queue", "whisper-dial")
    recorded(run, "caller-whisper-queue", "agent-whisper-queue", "caller-whisper-dial", "agent-whisper-dial")


def night_mode(run: Runner) -> None:
    """A supervisor closes the campaign hours by phone; ``agiflow schedule``
    shows it."""
    run.call("night-mode")
    run.cli("schedule show", "schedule", "show", "campaign_hours")
    run.cli("night mode audit", "supervisors", "audit", "--number", NIGHT_SUPERVISOR)


def recorded(run: Runner, *names: str) -> None:
    """Wait for the dialplan's recordings ``names`` to be closed."""
    wait_until(lambda: all(finished_recording(run.asterisk.recordings / f"{name}.wav") for name in names),
               CALLS_TIMEOUT, f"recordings {', '.join(names)} closed")


STORIES: dict[str, Callable[[Runner], None]] = {
    "single calls": single_calls, "steps": steps, "hangups and keypad": hangups_and_keypad, "edges": edges,
    "recordings": recordings, "queue full": queue_full,
    "withdrawn": withdrawn, "transferred": transferred, "memory": memory, "first in line": first_in_line,
    "missed then called back": missed_then_called_back,
    "supervised": supervised, "whispers": whispers, "night mode": night_mode,
}


def drained(run: Runner, server: AgiflowServer) -> None:
    """Once every story has ended: a caller waits in a queue nobody answers
    while agiflow serve stops (SIGTERM); its drain timeout cuts the call
    during Queue()."""
    run.place("drained")
    wait_until(lambda: any(line[2] == "prio" and line[4] == "ENTERQUEUE" and line[6] == SCENARIOS["drained"].caller
                           for line in run.asterisk.queue_log()), CALLS_TIMEOUT, "the drained caller waits in prio")
    server.proc.send_signal(signal.SIGTERM)
    server.proc.wait(CALLS_TIMEOUT)
    run.wait("drained")


def _prepare(config: Path) -> None:
    """What an operator sets up before the calls: customer_care's menu runs
    only in office hours, callbacks dial checks the robinson list,
    supervisors need a place in the list and a PIN. The database exists
    already (``lists import``)."""
    agiflow_cli(config, "schedule", "override", "office_hours", "open", "--until", "2h", "--reason", "e2e")
    agiflow_cli(config, "lists", "import", "supervisors", "-",
                stdin="".join(f"{n}\n" for n in (NIGHT_SUPERVISOR, SUPERVISOR, IDLE_SUPERVISOR)))
    for number in (NIGHT_SUPERVISOR, SUPERVISOR, IDLE_SUPERVISOR):
        agiflow_cli(config, "supervisors", "pin", number, "--stdin", stdin=PIN + "\n")


def _start(folder: Path, endpoint: Endpoint) -> tuple[AgiflowServer, AsteriskLab, Path]:
    """agiflow's database (the first command makes it), then the server and
    Asterisk (its webhook flows posting to ``endpoint``) while the rest is
    set up beside them."""
    binary = asterisk_binary()
    if binary is None:
        pytest.skip(f"no built Asterisk 22 in {asterisk_prefix()} (set AST_PREFIX; docs/e2e.md says how to build it)")
    flows = sorted((REPO / "flows").glob("*.yaml")) + sorted((HERE / "flows").glob("*.yaml"))
    config = write_agiflow_config(folder / "agiflow", flows)
    # the list robinson, with a landline on it
    agiflow_cli(config, "lists", "import", "robinson", "-", stdin=f"{LISTED_LANDLINE}\n")
    with ThreadPoolExecutor(1) as pool:
        prepared = pool.submit(_prepare, config)
        server = AgiflowServer(config)
        asterisk = AsteriskLab(folder / "asterisk", binary, 0, SCENARIOS, agiflow_config=config,
                               webhook_url=endpoint.url)
        try:
            asterisk.agi_port = server.wait_listening()
            asterisk.start()
            prepared.result()
        except BaseException:
            asterisk.stop()
            server.stop()
            raise
    return server, asterisk, config


def _run_stories(run: Runner) -> None:
    """Every story at once; one that fails is kept in ``run.failures``."""
    with ThreadPoolExecutor(len(STORIES)) as pool:
        started = {name: pool.submit(story, run) for name, story in STORIES.items()}
        for name, future in started.items():
            error = future.exception()
            if error is not None:
                run.failures[name] = f"{type(error).__name__}: {error}"


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Asterisk and agiflow, after every story has ended."""
    folder = tmp_path_factory.mktemp("e2e")
    endpoint = Endpoint()
    try:
        server, asterisk, config = _start(folder, endpoint)
    except BaseException:
        endpoint.stop()
        raise
    run = Runner(asterisk, config, SCENARIOS, CALLS_TIMEOUT, endpoint)
    try:
        _run_stories(run)
        try:
            drained(run, server)
        except Exception as error:  # its test says so; the stories' calls are read all the same
            run.failures["drained"] = f"{type(error).__name__}: {error}"
        yield Lab(asterisk, server, config, run.database, config.parent / RECORDINGS, run.calls, run.outputs,
                  endpoint)
    finally:
        asterisk.stop()
        server.stop()
        endpoint.stop()
