"""What a running server counts, as an interface the rest of agi calls.

``Metrics`` is the few events an operator graphs: calls starting and
ending, steps and their outcomes, AGI command turnaround, number-list
checks, compliance refusals and webhooks. ``NO_METRICS`` ignores them all,
so simulations, flow tests and plain AGI mode count nothing. The Prometheus
implementation lives in agi/server/prometheus.py: nothing here imports
prometheus_client or Twisted.

The decorators of agi/metered.py feed it from the seams every call
already goes through (the CDR sink, the command transport, the number
lists, the webhook sender), so the session and the steps need not know
about metrics. Imports nothing from agi, so any layer may use it.

Every label value comes from a fixed set or from the loaded flows, never
from text the network sends: a call to a flow that is not loaded is
counted under ``UNKNOWN_FLOW``, a command that is not a known AGI command
under ``OTHER``, so the number of series stays bounded.
"""
from __future__ import annotations

from typing import Protocol

#: The flow label of a call whose requested flow is not loaded (no flow
#: name can be written so: names are letters, digits, ``_``, ``-`` and ``/``).
UNKNOWN_FLOW = "(unknown)"
#: The label of anything outside a fixed set.
OTHER = "other"

#: Results of one number-list check (``agiflow_list_checks_total{result}``).
LIST_HIT, LIST_MISS, LIST_ERROR, LIST_INVALID_NUMBER = "hit", "miss", "error", "invalid_number"
LIST_RESULTS = (LIST_HIT, LIST_MISS, LIST_ERROR, LIST_INVALID_NUMBER)

#: Kinds of compliance refusal (``agiflow_compliance_refusals_total{kind}``):
#: a call-placing command after a do-not-call hit or failure, a recording
#: command (or code agiflow cannot see) without the caller's consent.
DO_NOT_CALL, NO_CONSENT = "do_not_call", "no_consent"
REFUSAL_KINDS = (DO_NOT_CALL, NO_CONSENT)

#: The AGI commands the command histogram names; any other is ``OTHER``.
AGI_COMMANDS = frozenset({
    "ANSWER", "HANGUP", "NOOP", "EXEC", "VERBOSE", "STREAM FILE", "CONTROL STREAM FILE", "GET DATA",
    "GET OPTION", "WAIT FOR DIGIT", "SAY DIGITS", "SAY NUMBER", "SAY ALPHA", "SAY DATE", "SAY TIME",
    "SAY DATETIME", "SAY PHONETIC", "GET VARIABLE", "GET FULL VARIABLE", "SET VARIABLE", "SET CONTEXT",
    "SET EXTENSION", "SET PRIORITY", "SET CALLERID", "SET MUSIC", "SET AUTOHANGUP", "CHANNEL STATUS",
    "RECORD FILE", "DATABASE GET", "DATABASE PUT", "DATABASE DEL", "DATABASE DELTREE",
})


class Metrics(Protocol):
    """The events a server counts; every method returns at once."""

    def call_started(self, flow: str) -> None:
        """A call began in ``flow`` (a loaded flow's name, or UNKNOWN_FLOW)."""

    def call_ended(self, flow: str, status: str, seconds: float) -> None:
        """The call that began in ``flow`` ended with ``status`` after ``seconds``."""

    def step_finished(self, flow: str, step: str, outcome: str) -> None:
        """A step of a loaded flow ended with ``outcome``."""

    def command_done(self, command: str, seconds: float) -> None:
        """Asterisk answered an AGI command (an AGI_COMMANDS name, or OTHER)."""

    def list_checked(self, list_name: str, result: str) -> None:
        """A number was checked against a list a flow names (a LIST_RESULTS value)."""

    def compliance_refused(self, kind: str) -> None:
        """The compliance guard refused a command (a REFUSAL_KINDS value, or OTHER)."""

    def webhook_done(self, ok: bool, seconds: float) -> None:
        """A webhook got its answer (``ok``: a 2xx status) or failed."""


class NoMetrics:
    """Counts nothing: the default everywhere but ``agiflow serve``."""

    def call_started(self, flow: str) -> None:
        pass

    def call_ended(self, flow: str, status: str, seconds: float) -> None:
        pass

    def step_finished(self, flow: str, step: str, outcome: str) -> None:
        pass

    def command_done(self, command: str, seconds: float) -> None:
        pass

    def list_checked(self, list_name: str, result: str) -> None:
        pass

    def compliance_refused(self, kind: str) -> None:
        pass

    def webhook_done(self, ok: bool, seconds: float) -> None:
        pass


NO_METRICS: Metrics = NoMetrics()


def refusal_kind(reason: str) -> str:
    """A refusal's reason (``do-not-call``, ``no consent``) as a REFUSAL_KINDS label."""
    kind = "_".join(reason.replace("-", " ").split()).lower()
    return kind if kind in REFUSAL_KINDS else OTHER


#: The AGI command names as encoded lines start with them.
_COMMAND_BYTES = {name.encode(): name for name in AGI_COMMANDS}


def command_name(line: bytes) -> str:
    """The AGI command of an encoded command line (``STREAM FILE`` of
    ``STREAM FILE "x" ""``), or OTHER."""
    name = line.split(b' "', 1)[0].strip()
    found = _COMMAND_BYTES.get(name)
    return found if found is not None else _COMMAND_BYTES.get(name.upper(), OTHER)
