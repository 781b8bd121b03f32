"""Who calls in the end-to-end suite: each caller script of
asterisk/extensions.conf ([lab-caller]) with its flow and caller ID, and the
numbers and PIN the stories set up (conftest.py) and the tests look for."""
from __future__ import annotations

from lab import Scenario

#: The caller IDs of the scenarios that must not share the lab's usual one.
MEMORY_CALLER = "+34600222001"
DIAL_CALLER = "+34600222002"
WHISPER_CALLER = "+34600222003"
SPIED_CALLER = "+34600222004"
TIMEOUT_CALLER = "+34600333001"
ABANDON_CALLER = "+34600333002"
CONTINUE_CALLER = "+34600333003"
BACK_CALLER = "+34600333004"
WAITING_CALLER = "+34600333005"
#: The step-type calls (test_steps_on_asterisk.py): each its own caller, so
#: that their hangups never make the shipped flows' callers "abandoned recently".
STEPS_CALLER = "+34600555%03d"
NIGHT_SUPERVISOR = "+34600444001"
SUPERVISOR = "+34600444002"
IDLE_SUPERVISOR = "+34600444003"
STRANGER = "+34600444009"
#: On the do-not-call list robinson (e2e_dnc_dots dials it as 91.123.45.67).
LISTED_LANDLINE = "+34911234567"
#: The supervisors' PIN (the caller scripts key it).
PIN = "2468"

#: Caller script in [lab-caller] of asterisk/extensions.conf -> how it calls.
SCENARIOS = {
    "sales": Scenario("support"),
    "hangup-menu": Scenario("support"),
    "accept": Scenario("customer_care"),
    "decline": Scenario("customer_care"),
    "hangup-consent": Scenario("customer_care"),
    "listen": Scenario("e2e_args"),
    "member-sub": Scenario("e2e_queue_gosub", STEPS_CALLER % 38),
    "voicemail-none": Scenario("e2e_voicemail_none", STEPS_CALLER % 40),
    "dial-up": Scenario("e2e_dial_up", STEPS_CALLER % 41),
    "e2e_dial_played": Scenario("e2e_dial_played", STEPS_CALLER % 42, answered=False),
    "whisper-gone": Scenario("e2e_whisper_cut", STEPS_CALLER % 43),
    "whisper-rejected": Scenario("e2e_whisper_cut", STEPS_CALLER % 44),
    "e2e_dial": Scenario("e2e_dial", DIAL_CALLER, answered=False),
    "memory-1": Scenario("e2e_memory", MEMORY_CALLER),
    "memory-2": Scenario("e2e_memory", MEMORY_CALLER),
    "memory-3": Scenario("e2e_memory", MEMORY_CALLER),
    "timeout-1": Scenario("e2e_missed", TIMEOUT_CALLER),
    "timeout-2": Scenario("e2e_missed", TIMEOUT_CALLER),
    "abandon": Scenario("e2e_missed", ABANDON_CALLER),
    "timeout-listed": Scenario("e2e_missed", LISTED_LANDLINE),
    "whisper-queue": Scenario("e2e_whisper", WHISPER_CALLER),
    "whisper-dial": Scenario("e2e_whisper_dial", WHISPER_CALLER),
    "spied": Scenario("e2e_spied", SPIED_CALLER),
    "supervisor": Scenario("e2e_supervise", SUPERVISOR),
    "not-on-call": Scenario("e2e_supervise", IDLE_SUPERVISOR),
    "supervisor-gone": Scenario("e2e_supervise", IDLE_SUPERVISOR),
    "not-authorised": Scenario("e2e_supervise", STRANGER),
    "night-mode": Scenario("night_mode", NIGHT_SUPERVISOR),
    "menu-keys": Scenario("e2e_menu", STEPS_CALLER % 1),
    "prompts": Scenario("e2e_prompts", STEPS_CALLER % 2),
    "dial-statuses": Scenario("e2e_dial_statuses", STEPS_CALLER % 3),
    "fleet": Scenario("hagi-e2e_hello", STEPS_CALLER % 4),
    "fallback": Scenario("no_such_flow", STEPS_CALLER % 5),
    "input-keys": Scenario("e2e_input", STEPS_CALLER % 6),
    "voicemail-star": Scenario("e2e_voicemail_exit", STEPS_CALLER % 7),
    "continue": Scenario("e2e_continue", CONTINUE_CALLER),
    "did-sales": Scenario("did-900123456", STEPS_CALLER % 8),
    "privacy": Scenario("e2e_privacy", STEPS_CALLER % 9),
    "cancel": Scenario("e2e_dial_cancel", STEPS_CALLER % 10),
    "gone": Scenario("e2e_after_hangup", STEPS_CALLER % 11),
    "campaign-leg": Scenario("camp-600111222", STEPS_CALLER % 12),
    "plain": Scenario("stdio-e2e_plain", STEPS_CALLER % 13),
    "full-1": Scenario("e2e_full", STEPS_CALLER % 14),
    "full-2": Scenario("e2e_full", STEPS_CALLER % 15),
    "withdrawn": Scenario("e2e_withdraw", STEPS_CALLER % 16),
    "transferred": Scenario("e2e_transfer", STEPS_CALLER % 45),
    "closed": Scenario("closed", STEPS_CALLER % 17),
    "dnc-error": Scenario("e2e_dnc_error", STEPS_CALLER % 18),
    "direct": Scenario("e2e_direct", STEPS_CALLER % 19),
    "rerecord": Scenario("e2e_rerecord", STEPS_CALLER % 20),
    "callback-keys": Scenario("e2e_callback", STEPS_CALLER % 32),
    "consent-silent": Scenario("e2e_consent_default", STEPS_CALLER % 21),
    "consent-gone": Scenario("e2e_consent_default", STEPS_CALLER % 22),
    "consent-empty": Scenario("e2e_consent_empty", STEPS_CALLER % 83),
    "consent-withdrawn": Scenario("e2e_consent_withdrawn", STEPS_CALLER % 23),
    "input-gone": Scenario("e2e_input", STEPS_CALLER % 24),
    "voicemail-gone": Scenario("e2e_voicemail_gone", STEPS_CALLER % 25),
    "plain-gone": Scenario("stdio-e2e_after_hangup", STEPS_CALLER % 26),
    "plain-early": Scenario("stdio-e2e_plain", STEPS_CALLER % 27),
    "consent-early": Scenario("e2e_consent_early", STEPS_CALLER % 28),
    "plain-quiet": Scenario("quiet-e2e_after_hangup", STEPS_CALLER % 31),
    "consent-wrong-key": Scenario("e2e_consent_default", STEPS_CALLER % 33),
    "rec-failed": Scenario("e2e_rec_failed", STEPS_CALLER % 34),
    "rec-paused": Scenario("e2e_rec_paused", STEPS_CALLER % 35),
    "rec-resumed": Scenario("e2e_rec_resumed", STEPS_CALLER % 36),
    "rec-quick": Scenario("e2e_rec_quick", STEPS_CALLER % 39),
    "dnc-dots": Scenario("e2e_dnc_dots", STEPS_CALLER % 37),
    "back-1": Scenario("e2e_first_in_line", BACK_CALLER),
    "back-waiting": Scenario("e2e_first_in_line", WAITING_CALLER),
    "back-2": Scenario("e2e_first_in_line", BACK_CALLER),
    "dial-more": Scenario("e2e_dial_more", STEPS_CALLER % 46),
    "leave-empty": Scenario("e2e_leave", STEPS_CALLER % 47),
    "keys-edge": Scenario("e2e_keys_edge", STEPS_CALLER % 48),
    "queue-talk-gone": Scenario("e2e_talk_gone", STEPS_CALLER % 49),
    "dial-talk-gone": Scenario("e2e_talk_gone", STEPS_CALLER % 50),
    "announce-gone": Scenario("e2e_announced", STEPS_CALLER % 51),
    "announce-dumped": Scenario("e2e_announced", STEPS_CALLER % 52),
    "rec-unbridged": Scenario("e2e_rec_unbridged", STEPS_CALLER % 53),
    "hook-gone": Scenario("hook-e2e_webhook", STEPS_CALLER % 54),
    "hookstdio-gone": Scenario("hookstdio-e2e_webhook", STEPS_CALLER % 55),
    "stale-member": Scenario("e2e_stale_member", STEPS_CALLER % 56),
    "cause-later": Scenario("e2e_cause_later", STEPS_CALLER % 57),
    "rec-wav49": Scenario("stdio49-e2e_consent_default", STEPS_CALLER % 58),
    "callerid-kept": Scenario("e2e_callerid_kept", STEPS_CALLER % 59),
    "plain-fallback": Scenario("stdio-no_such_flow", STEPS_CALLER % 60),
    "plain-hello": Scenario("stdio-e2e_hello", STEPS_CALLER % 61),
    "name-lines": Scenario("wrapped-e2e_hello", STEPS_CALLER % 80),
    "plain-name-lines": Scenario("stdiowrapped-e2e_hello", STEPS_CALLER % 81),
    "name-lines-dial": Scenario("wrapped-e2e_callerid_kept", STEPS_CALLER % 82),
    "after-agent": Scenario("e2e_after_agent", STEPS_CALLER % 62),
    "callback-digits-gone": Scenario("e2e_callback_gone", STEPS_CALLER % 63),
    "callback-thanks-gone": Scenario("e2e_callback_gone", STEPS_CALLER % 64),
    "queue-key": Scenario("e2e_queue_key", STEPS_CALLER % 65),
    "e2e_reject": Scenario("e2e_reject", STEPS_CALLER % 67, answered=False),
    "voicemail-zero": Scenario("e2e_voicemail_exit", STEPS_CALLER % 68),
    "no-queue": Scenario("e2e_no_queue", STEPS_CALLER % 69),
    "dial-key": Scenario("e2e_dial_key", STEPS_CALLER % 70),
    "hangup-plain": Scenario("e2e_hangup_plain", STEPS_CALLER % 71),
    "say-back": Scenario("e2e_say_back", "anonymous"),
    "whisper-skip": Scenario("e2e_whisper_skip", STEPS_CALLER % 72),
    "queue-unavail": Scenario("e2e_queue_unavail", STEPS_CALLER % 73),
    "drained": Scenario("e2e_drained", STEPS_CALLER % 84),
    "down-inbound": Scenario("off-did-900123456", STEPS_CALLER % 29, reaches_agiflow=False),
    "down-campaign": Scenario("off-camp-600111222", STEPS_CALLER % 30, reaches_agiflow=False),
}
