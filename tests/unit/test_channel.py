"""The Channel facade driven against the simulated Asterisk, no socket."""
from __future__ import annotations

import asyncio

import pytest

from agi.channel import Channel, ChannelHungUp, DigitsResult, UnknownApplication
from agi.sim import CallerScript, DtmfEntry, SimTransport, SimulatedAsterisk, run_sync


def _channel(script: CallerScript | None = None, **options: object) -> tuple[Channel, SimTransport]:
    sim = SimulatedAsterisk(script=script, **options)  # type: ignore[arg-type]
    transport = SimTransport(sim)
    return Channel(transport), transport


def _commands(transport: SimTransport) -> list[str]:
    return [e.command for e in transport.exchanges]


def test_missing_sound_is_a_plain_failure_once_the_noop_probe_shows_no_hangup() -> None:
    channel, transport = _channel()
    assert run_sync(channel.stream("no-such-prompt")) is None
    assert channel.sound_failures == ["no-such-prompt"] and not channel.hung_up
    assert _commands(transport) == ['STREAM FILE "no-such-prompt" ""', "NOOP"]
    assert transport.exchanges[0].lines == ("200 result=-1 endpos=0",)
    assert transport.sim.agistatus == "FAILURE"


def test_caller_hanging_up_during_a_prompt_raises_hangup_after_the_probe() -> None:
    channel, transport = _channel(CallerScript(hangup_during=2, hangup_endpos=16160))
    run_sync(channel.answer())
    with pytest.raises(ChannelHungUp):
        run_sync(channel.stream("demo-congrats"))
    assert channel.hung_up and channel.sound_failures == []
    assert [e.lines for e in transport.exchanges[1:]] == [
        ("200 result=-1 endpos=16160",), ("HANGUP", "200 result=0")]


def test_after_hangup_media_commands_are_not_even_sent() -> None:
    channel, transport = _channel(CallerScript(hangup_during=1))
    with pytest.raises(ChannelHungUp):
        run_sync(channel.get_data("beep", 3000, 2))
    sent = len(transport.exchanges)
    with pytest.raises(ChannelHungUp):
        run_sync(channel.stream("beep"))
    assert len(transport.exchanges) == sent


def test_variables_still_work_on_a_dead_channel() -> None:
    channel, transport = _channel(CallerScript(hangup_during=1))
    with pytest.raises(ChannelHungUp):
        run_sync(channel.exec_app("Wait", "10"))
    run_sync(channel.set_variable("CDR_DONE", "1"))
    assert run_sync(channel.get_variable("CDR_DONE")) == "1"
    assert transport.sim.variables["CDR_DONE"] == "1"


def test_without_hangup_lines_the_511_on_the_next_media_command_ends_the_call() -> None:
    channel, transport = _channel(CallerScript(hangup_during=1), variables={"AGISIGHUP": "no"})
    run_sync(channel.stream("beep"))  # -1, and no HANGUP line ever comes
    with pytest.raises(ChannelHungUp):
        run_sync(channel.stream("beep"))
    assert transport.exchanges[-1].reply is not None
    assert transport.exchanges[-1].reply.code == 511
    assert channel.hung_up


def test_caller_keys_come_back_as_digits() -> None:
    script = CallerScript(dtmf=["12#", "2", "5", DtmfEntry("9", endpos=4000), "7"])
    channel, transport = _channel(script)
    assert run_sync(channel.get_data("beep", 5000, 4)) == DigitsResult("12", timed_out=False)
    assert run_sync(channel.stream("beep", "123")) == "2"
    assert run_sync(channel.wait_for_digit(5000)).key == "5"
    assert run_sync(channel.stream("demo-congrats", "0123456789")) == "9"
    assert transport.exchanges[-1].reply is not None and transport.exchanges[-1].reply.endpos == 4000
    assert run_sync(channel.say_digits("123", "7")) == "7"


def test_prompt_without_escape_digits_leaves_the_caller_keys_for_later() -> None:
    channel, _ = _channel(CallerScript(dtmf=["3"]))
    assert run_sync(channel.stream("beep")) is None
    assert run_sync(channel.wait_for_digit(1000)).key == "3"


def test_get_data_timeout_partial_entry_and_hash_alone() -> None:
    channel, _ = _channel(CallerScript(dtmf=[None, "4", "#", "123456"]))
    assert run_sync(channel.get_data("beep", 3000, 4)) == DigitsResult("", timed_out=True)
    assert run_sync(channel.get_data("beep", 3000, 4)) == DigitsResult("4", timed_out=True)
    assert run_sync(channel.get_data("beep", 3000, 4)) == DigitsResult("", timed_out=False)
    assert run_sync(channel.get_data("beep", 3000, 4)) == DigitsResult("1234", timed_out=False)


def test_get_data_with_missing_prompt_is_a_failed_entry_not_a_hangup() -> None:
    channel, _ = _channel(CallerScript(dtmf=["1"]))
    result = run_sync(channel.get_data("no-such-menu", 3000, 1))
    assert result.failed and not channel.hung_up
    assert channel.sound_failures == ["no-such-menu"]


def test_exec_of_an_application_asterisk_lacks_raises_unknown_application() -> None:
    channel, _ = _channel()
    with pytest.raises(UnknownApplication) as caught:
        run_sync(channel.exec_app("NoSuchApp", "x"))
    assert caught.value.reply is not None and caught.value.reply.result == "-2"


def test_queue_and_dial_outcomes_come_from_the_caller_script() -> None:
    channel, transport = _channel(CallerScript(queue_statuses=["FULL"], dial_statuses=["BUSY"]))
    assert run_sync(channel.exec_app("Queue", "support,n,,,300")) == 0
    assert run_sync(channel.get_variable("QUEUESTATUS")) == "FULL"
    run_sync(channel.exec_app("Dial", "PJSIP/100,20"))
    assert run_sync(channel.get_variable("DIALSTATUS")) == "BUSY"
    run_sync(channel.exec_app("Queue", "support"))
    assert transport.sim.variables["QUEUESTATUS"] == "TIMEOUT"


def test_values_with_quotes_and_expressions_round_trip() -> None:
    channel, _ = _channel()
    run_sync(channel.set_variable("QUOTED", 'he said "hi" \\ bye'))
    assert run_sync(channel.get_variable("QUOTED")) == 'he said "hi" \\ bye'
    assert run_sync(channel.get_variable("NOT_SET")) is None
    assert run_sync(channel.get_full_variable("${EXTEN}@${CONTEXT}")) == "s@default"


def test_continue_at_sets_where_the_dialplan_goes_on() -> None:
    channel, transport = _channel()
    run_sync(channel.continue_at("after-agi", "s", "1"))
    assert transport.sim.continue_at == ("after-agi", "s", 1)


def test_hangup_from_the_flow_marks_the_channel_and_the_simulator() -> None:
    channel, transport = _channel()
    run_sync(channel.answer())
    run_sync(channel.hangup())
    assert channel.hung_up and transport.sim.hung_up_by == "agi"
    assert transport.exchanges[-1].lines == ("200 result=1", "HANGUP")


def test_session_ended_by_asterisk_fails_the_pending_command_as_hangup() -> None:
    channel, transport = _channel(CallerScript(hangup_during=1), variables={"AGIEXITONHANGUP": "yes"})
    with pytest.raises(ChannelHungUp):
        run_sync(channel.stream("beep"))  # -1, then the probe finds the session closed
    assert transport.closed
    assert transport.exchanges[-1].lines == ("HANGUP", "HANGUP")


def test_transport_records_every_exchange_in_order_and_refuses_two_lines() -> None:
    channel, transport = _channel()
    run_sync(channel.answer())
    run_sync(channel.verbose("hello"))
    assert [(e.command, e.lines) for e in transport.exchanges] == [
        ("ANSWER", ("200 result=0",)), ('VERBOSE "hello" "1"', ("200 result=1",))]
    with pytest.raises(ValueError):
        run_sync(transport.send(b"NOOP\nNOOP\n"))
    assert transport.environment().get("network") == "yes"


def test_run_sync_refuses_a_coroutine_that_really_waits() -> None:
    async def sleeps() -> None:
        await asyncio.sleep(0)

    with pytest.raises(RuntimeError, match="suspended"):
        run_sync(sleeps())
