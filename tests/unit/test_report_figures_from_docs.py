"""Every figure of the aggregate and per-caller reports, worked out here in
Python from the rows alone with the words of docs/reports.md#definitions,
over a few hundred random calls made of the edge values the definitions
name (queue exits that never queued, dials that never rang, waits on the
thresholds, unknown waits and talks, running and interrupted calls, campaign
legs, callers spelt every way), across the night the clocks go back in
Madrid: on both backends, from the calls and from the rollups. Then the
same for compliance, ivr, campaign and callbacks."""
from __future__ import annotations

import math
import random
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from typing import Any, Callable, Iterable

import pytest
from support.cdr_builder import CdrBuilder
from support.table_rows import execute, insert

from agi.db.location import Database
from agi.phone import is_withheld, to_e164
from agi.reports import run_report
from agi.reports.model import Filters
from agi.reports.timerange import zone
from agi.storage.call_measures import Thresholds
from agi.storage.rollups import roll_database

NOW = datetime(2025, 11, 1, tzinfo=timezone.utc)
MADRID, MADRID_NAME = zone("Europe/Madrid")
THRESHOLDS = Thresholds(short_abandon=5.0, service_level=20.0)
QUEUE_EXITS = [None, "ANSWERED", "ABANDONED", "TIMEOUT", "FULL", "JOINEMPTY", "JOINUNAVAIL", "UNKNOWN",
               "LEAVEEMPTY", "WITHDRAW"]
DIAL_STATUSES = [None, None, "ANSWER", "NOANSWER", "CANCEL", "BUSY", "CONGESTION", "CHANUNAVAIL"]
WAITS = [None, 0, 4.9994, 5, 5.0004, 12.3456, 19.999, 20, 20.0006, 45.5, 300.25]
CALLERS = [("+34600111222", "+34600111222"), ("600111222", None), ("0034600111222", None), ("34600111222", None),
           ("+34611000111", "+34611000111"), ("611000111", None), ("anonymous", None), ("", None),
           ("alice", None), ("+442071234567", "+442071234567"), ("00442071234567", None)]
STATUSES = ["completed"] * 4 + ["caller_hangup"] * 3 + ["error", "unknown_flow", "interrupted", "in_progress"]


def random_calls(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """``count`` calls from 20:00 UTC on 25 October 2025, over 30 hours."""
    start = datetime(2025, 10, 25, 20, tzinfo=timezone.utc)
    calls = []
    for _ in range(count):
        moment = start + timedelta(seconds=rng.randrange(30 * 3600), milliseconds=rng.randrange(1000))
        status = rng.choice(STATUSES)
        flow = None if status == "unknown_flow" else rng.choice(["sales", "support", "campaign"])
        caller, e164 = rng.choice(CALLERS)
        call: dict[str, Any] = {
            "start": moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3], "status": status, "flow": flow,
            "caller": caller, "caller_e164": e164, "agent": rng.choice([None, "Ana", "Ben", "PJSIP/100"]),
            "direction": "outbound" if flow == "campaign" else (rng.choice(["inbound", None]) if flow else None),
            "duration": None if status == "in_progress" else rng.choice([0, 4.0004, 60.0, 3600.5]),
            "talk_time": rng.choice([None, 0, 33.3333, 100.25]),
            "callback": "+34600111222" if rng.random() < 0.1 else None,
            "blocked": "block" if rng.random() < 0.05 else None,
            "robinson": rng.choice([None] * 6 + ["clear", "listed"])}
        if rng.random() < 0.6:
            call.update(queue=rng.choice(["sales", "support"]), queue_status=rng.choice(QUEUE_EXITS),
                        queue_wait=rng.choice(WAITS))
        if (dial := rng.choice(DIAL_STATUSES)) is not None:
            call.update(dialled="+34911", dial_status=dial, ring_time=rng.choice(WAITS))
        calls.append(call)
    return calls


@pytest.fixture(scope="module")
def calls() -> list[dict[str, Any]]:
    return random_calls(random.Random(20251026), 260)


@pytest.fixture
def filled(database: Database, calls: list[dict[str, Any]]) -> Database:
    cdr = CdrBuilder(database)
    for call in calls:
        columns = {k: v for k, v in call.items() if k not in ("start", "status", "flow", "caller", "duration")}
        cdr.add(call["start"], caller=call["caller"], flow=call["flow"], status=call["status"],
                      duration=call["duration"], **columns)
    cdr.close()
    return database


# -- the definitions, in words turned into Python ------------------------------------------

def measures(c: dict[str, Any]) -> dict[str, Any]:
    """What docs/reports.md#definitions says of one call."""
    qs, ds = c.get("queue_status") or "", c.get("dial_status") or ""
    queued = c.get("queue") is not None and qs not in ("FULL", "JOINEMPTY", "JOINUNAVAIL", "UNKNOWN")
    rang = ds in ("ANSWER", "NOANSWER", "CANCEL")
    connected = qs == "ANSWERED" or ds == "ANSWER"
    gave_up = (qs == "ABANDONED" and queued) or ds == "CANCEL"
    inbound = (c.get("direction") or "inbound") == "inbound"
    offered = inbound and c["status"] != "in_progress" and (queued or rang)
    answered = offered and connected
    abandoned = offered and not connected and gave_up
    wait = c.get("queue_wait") if queued else c.get("ring_time")
    return {"inbound": inbound, "ended": c["status"] != "in_progress", "offered": offered, "answered": answered,
            "abandoned": abandoned, "wait": wait, "talk": c.get("talk_time") if answered else None,
            "short": abandoned and (wait or 0) <= THRESHOLDS.short_abandon,
            "in_sl": answered and wait is not None and wait <= THRESHOLDS.service_level,
            "outcome": outcome(c, queued or rang, connected, gave_up)}


def outcome(c: dict[str, Any], waited: bool, connected: bool, gave_up: bool) -> str:
    """The first row of the outcomes' table that applies."""
    rows: list[tuple[bool, str]] = [
        (c["status"] == "in_progress", "in_progress"), (waited and connected, "answered"),
        (waited and gave_up, "abandoned"), (c["status"] == "interrupted", "interrupted"),
        (c["status"] in ("error", "unknown_flow"), "failed"), (c.get("callback") is not None, "callback"),
        (c.get("queue") is not None or c.get("dial_status") is not None, "not_answered"),
        (c.get("blocked") is not None, "blocked"), (c.get("robinson") == "listed", "do_not_call"),
        (c["status"] == "caller_hangup", "ivr_hangup")]
    return next((word for applies, word in rows if applies), "self_service")


def ms(seconds: float) -> int:
    """Seconds rounded to the whole millisecond (no half milliseconds here)."""
    return round(seconds * 1000)


def pct(part: int, whole: int) -> float | None:
    """In percent to one decimal, halves up; None over nothing."""
    return None if whole <= 0 else math.floor(Fraction(part * 1000, whole) + Fraction(1, 2)) / 10


def ratio(total_ms: int, count: int) -> float | None:
    return None if count == 0 else total_ms / 1000 / count


def sums(group: Iterable[dict[str, Any]]) -> dict[str, Any]:
    s: dict[str, Any] = dict.fromkeys(("calls", "offered", "answered", "abandoned", "short", "in_sl", "wait_ms",
                                       "waits", "talk_ms", "talked", "duration_ms", "timed"), 0)
    for c in group:
        m = measures(c)
        s["calls"] += 1
        for name in ("offered", "answered", "abandoned", "short", "in_sl"):
            s[name] += m[name]
        if m["answered"] and m["wait"] is not None:
            s["wait_ms"] += ms(m["wait"])
            s["waits"] += 1
        if m["talk"] is not None:
            s["talk_ms"] += ms(m["talk"])
            s["talked"] += 1
        if c["duration"] is not None:
            s["duration_ms"] += ms(c["duration"])
            s["timed"] += 1
    return s


def inbound_figures(s: dict[str, Any]) -> dict[str, Any]:
    return {"offered": s["offered"], "answered": s["answered"], "abandoned": s["abandoned"],
            "short_abandoned": s["short"], "asr_pct": pct(s["answered"], s["offered"]),
            "abandon_pct": pct(s["abandoned"] - s["short"], s["offered"] - s["short"]),
            "sl_pct": pct(s["in_sl"], s["offered"] - s["short"]), "dur_s": s["talk_ms"] / 1000,
            "acd_s": ratio(s["talk_ms"], s["talked"]), "asa_s": ratio(s["wait_ms"], s["waits"]),
            "aht_s": ratio(s["talk_ms"], s["talked"])}


def summary_figures(group: list[dict[str, Any]]) -> dict[str, Any]:
    s = sums(group)
    durations = [c["duration"] for c in group if c["duration"] is not None]
    return {"calls": s["calls"], "offered": s["offered"], "answered": s["answered"], "abandoned": s["abandoned"],
            "hung_up": sum(c["status"] == "caller_hangup" for c in group),
            "failed": sum(c["status"] in ("error", "unknown_flow", "interrupted") for c in group),
            "total_s": s["duration_ms"] / 1000, "avg_s": ratio(s["duration_ms"], s["timed"]),
            "max_s": max(durations, default=None), "asa_s": ratio(s["wait_ms"], s["waits"])}


def local(c: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(c["start"]).replace(tzinfo=timezone.utc).astimezone(MADRID)


KEYS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "flow": lambda c: c["flow"], "queue": lambda c: c.get("queue"), "agent": lambda c: c["agent"],
    "status": lambda c: c["status"], "outcome": lambda c: measures(c)["outcome"],
    "direction": lambda c: c["direction"] or "inbound", "day": lambda c: local(c).strftime("%Y-%m-%d"),
    "hour": lambda c: local(c).strftime("%H"),
    "interval30": lambda c: local(c).replace(minute=local(c).minute // 30 * 30, second=0, microsecond=0).isoformat(),
}


def grouped(calls: Iterable[dict[str, Any]], key: Callable[[dict[str, Any]], Any]) -> dict[Any, list[dict[str, Any]]]:
    groups: dict[Any, list[dict[str, Any]]] = {}
    for c in calls:
        groups.setdefault(key(c), []).append(c)
    return groups


def same(got: dict[Any, dict[str, Any]], want: dict[Any, dict[str, Any]]) -> None:
    assert set(got) == set(want)
    for key, figures in want.items():
        for name, value in figures.items():
            if isinstance(value, float):
                assert got[key][name] == pytest.approx(value, abs=1e-9), (key, name)
            else:
                assert got[key][name] == value, (key, name)


def plain(key: Any) -> Any:
    return key.isoformat() if isinstance(key, datetime) else key


def report(database: Database, kind: str, rolled: bool, **options: Any) -> Any:
    return run_report(database, kind, Filters(tz=MADRID, tz_name=MADRID_NAME), NOW, rollups=rolled, **options)


@pytest.mark.parametrize("rolled", [False, True], ids=["calls", "rollups"])
def test_summary_inbound_consolidated_and_agents_follow_the_definitions(filled: Database, calls: list[dict[str, Any]],
                                                                       rolled: bool) -> None:
    if rolled:
        roll_database(filled, THRESHOLDS, now=NOW)
    ended_inbound = [c for c in calls if measures(c)["inbound"] and measures(c)["ended"]]
    for by, key in KEYS.items():
        got = report(filled, "summary", rolled, by=by, thresholds=THRESHOLDS)
        same({plain(r["key"]): r for r in got.all_rows()},
             {k: summary_figures(g) for k, g in grouped(calls, key).items()})
        same({"total": got.totals}, {"total": summary_figures(calls)})
        if by in ("status", "outcome", "direction"):
            continue
        got = report(filled, "inbound", rolled, by=by, thresholds=THRESHOLDS)
        same({plain(r["key"]): r for r in got.all_rows()},
             {k: inbound_figures(sums(g)) for k, g in grouped(ended_inbound, key).items()})
        same({"total": got.totals}, {"total": inbound_figures(sums(ended_inbound))})
    got = report(filled, "consolidated", rolled, by=("outcome", "interval30"), thresholds=THRESHOLDS)
    want = {k: {**inbound_figures(sums(g)), "calls": len(g)}
            for k, g in grouped(calls, lambda c: (KEYS["outcome"](c), KEYS["interval30"](c))).items()}
    same({(r["outcome"], plain(r["interval30"])): r for r in got.all_rows()}, want)
    answered = [c for c in calls if measures(c)["answered"]]
    per_queue = {q: len(g) for q, g in grouped(answered, KEYS["queue"]).items()}
    want = {}
    for (agent, queue), group in grouped(answered, lambda c: (c["agent"], c.get("queue"))).items():
        s = sums(group)
        want[(agent, queue)] = {"answered": s["answered"], "share_pct": pct(s["answered"], per_queue[queue]),
                                "talk_s": s["talk_ms"] / 1000, "acd_s": ratio(s["talk_ms"], s["talked"]),
                                "asa_s": ratio(s["wait_ms"], s["waits"])}
    same({(r["agent"], r["queue"]): r for r in report(filled, "agents", rolled, thresholds=THRESHOLDS).all_rows()},
         want)


def caller_of(c: dict[str, Any]) -> str | None:
    """The caller as docs/reports.md#definitions tells callers apart."""
    if c["caller_e164"]:
        return str(c["caller_e164"])
    if is_withheld(c["caller"]):
        return None
    try:
        return to_e164(c["caller"], "ES")
    except ValueError:
        return str(c["caller"])


def test_tracking_and_fcr_follow_the_definitions(filled: Database, calls: list[dict[str, Any]]) -> None:
    ordered = sorted((c for c in calls if measures(c)["inbound"] and caller_of(c)),
                     key=lambda c: str(c["start"]))  # no two calls start in the same millisecond
    by_caller = grouped(ordered, caller_of)
    rows = {r["caller"]: r for r in report(filled, "tracking", False).all_rows()}
    want = {}
    for who, group in by_caller.items():
        waits = [measures(c)["wait"] for c in group if measures(c)["wait"] is not None]
        want[who] = {"calls": len(group), "answered": sum(measures(c)["answered"] for c in group),
                     "wait_s": sum(map(ms, waits)) / 1000 if waits else None, "max_wait_s": max(waits, default=None),
                     "talk_s": sums(group)["talk_ms"] / 1000, "last_outcome": measures(group[-1])["outcome"],
                     "last_flow": group[-1]["flow"], "returning": False}
    same(rows, want)
    window = timedelta(hours=6)
    now = datetime(2025, 10, 26, 20, tzinfo=timezone.utc)  # the windows of the day's last callers are open
    for by, key in (("flow", KEYS["flow"]), ("outcome", KEYS["outcome"]), ("day", KEYS["day"])):
        figures: dict[Any, dict[str, Any]] = {}
        for group in by_caller.values():
            first, started = group[0], datetime.fromisoformat(group[0]["start"]).replace(tzinfo=timezone.utc)
            again = [c for c in group[1:]
                     if datetime.fromisoformat(c["start"]).replace(tzinfo=timezone.utc) <= started + window]
            row = figures.setdefault(key(first), dict.fromkeys(
                ("callers", "answered", "resolved", "repeated", "open", "unreached", "repeat_calls"), 0))
            row["callers"] += 1
            if not measures(first)["answered"]:
                row["unreached"] += 1
                continue
            row["answered"] += 1
            row["repeat_calls"] += len(again)
            row["repeated" if again else "resolved" if started + window <= now else "open"] += 1
        for row in figures.values():
            row["fcr_pct"] = pct(row["resolved"], row["resolved"] + row["repeated"])
        got = run_report(filled, "fcr", Filters(tz=MADRID, tz_name=MADRID_NAME), now, window_hours=6.0, by=by)
        same({r["key"]: r for r in got.all_rows()}, figures)


# -- compliance, ivr, campaign and callbacks ----------------------------------------------

LISTS = [None] * 5 + [("clear", None), ("listed", "robinson"), ("listed", "internal-dnc"), ("error", "robinson"),
                      ("unchecked", None), ("unchecked", "robinson")]
CHOICES = ["1", "2", "12", "direct", "timeout", "invalid", "hangup", "error"]


def random_legs(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """Calls of every direction with what compliance, ivr and campaign read:
    do-not-call results, consent, recordings (counted or, in old rows, by
    file), refusals, blocks, menus (some in a flow reached by goto) and the
    hours of the legs."""
    calls = random_calls(rng, count)
    for call in calls:
        robinson = rng.choice(LISTS)
        call.update(robinson=robinson and robinson[0], robinson_list=robinson and robinson[1],
                    consent=rng.choice([None, None, "accepted", "declined", "no_answer", "notified", "never"]),
                    recording_commands=rng.choice([None, 0, 0, 1, 3]),
                    recording=rng.choice([None, None, "/var/spool/asterisk/monitor/x.wav"]),
                    refused_commands=rng.choice([None] * 5 + ["Dial (do-not-call)", "MixMonitor (no consent)",
                                                              "Dial (do-not-call), MixMonitor (no consent)"]),
                    blocked=rng.choice([None] * 8 + ["vip-block", "anonymous"]))
        steps = [(rng.choice(["main", "main", "sub"]), "menu", choice,
                  {"timeouts": rng.choice([0, 0, 1, 3]), "invalid": rng.choice([0, 2]), "choice": choice})
                 for choice in rng.sample(CHOICES, rng.choice([0, 0, 1, 2]))]
        if rng.random() < 0.4:
            steps.append(("hours", "schedule", rng.choice(["open", "closed", "holiday", "christmas", "error", "hangup"]),
                          {}))
        call["steps"] = steps
    return calls


@pytest.fixture(scope="module")
def legs() -> list[dict[str, Any]]:
    return random_legs(random.Random(20251102), 220)


def recorded(c: dict[str, Any]) -> bool:
    """A recording command was sent; a row from before the count, by its file."""
    return c["recording"] is not None if c["recording_commands"] is None else c["recording_commands"] > 0


def compliance_rows(calls: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """docs/reports.md#compliance: (section, item, list, calls, share_pct) in the report's order."""
    total, checked = len(calls), [c for c in calls if c["robinson"]]
    rows = [("calls", "all calls", None, total, pct(total, total)),
            ("robinson", "checked", None, len(checked), pct(len(checked), total))]
    results: dict[tuple[str, str | None], int] = {("clear", None): 0}
    for c in checked:
        key = (c["robinson"], None if c["robinson"] == "clear" else c["robinson_list"])
        results[key] = results.get(key, 0) + 1
    if not any(result == "listed" for result, _ in results):
        results[("listed", None)] = 0
    order = ["clear", "listed", "error", "unchecked"]
    rows += [("robinson", result, name, n, pct(n, len(checked)))
             for (result, name), n in sorted(results.items(), key=lambda i: (order.index(i[0][0]), i[0][1] or ""))]
    asked = [c["consent"] for c in calls if c["consent"]]
    rows += [("consent", name, None, asked.count(name), pct(asked.count(name), len(asked)))
             for name in ("accepted", "declined", "no_answer", "notified", "never")
             if name in asked or name in ("accepted", "declined", "no_answer")]
    made = [c for c in calls if recorded(c)]
    unconsented = [c for c in made if c["consent"] not in ("accepted", "notified")]
    rows += [("recording", "recorded", None, len(made), pct(len(made), total)),
             ("recording", "without consent", None, len(unconsented), pct(len(unconsented), len(made)))]
    for item, reason in (("do-not-call", "(do-not-call)"), ("no consent", "(no consent)")):
        n = sum(reason in (c["refused_commands"] or "") for c in calls)
        rows.append(("refused", item, None, n, pct(n, total)))
    blocks = [c["blocked"] for c in calls if c["blocked"]]
    return rows + [("blocked", "blocked", name, blocks.count(name), pct(blocks.count(name), total))
                   for name in sorted(set(blocks))]


def menu_flow(c: dict[str, Any], step: str) -> str | None:
    return "other" if step == "sub" else c["flow"]


def ivr_rows(calls: list[dict[str, Any]], flows: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """docs/reports.md#ivr: per menu and choice, keys first (shorter first), then the other outcomes."""
    found: dict[tuple[Any, ...], list[int]] = {}
    for c in calls:
        for step, kind, choice, details in c["steps"]:
            if kind == "menu" and (not flows or menu_flow(c, step) in flows):
                counts = found.setdefault((menu_flow(c, step), step, choice), [0, 0, 0, 0])
                for i, n in enumerate((1, details["timeouts"], details["invalid"],
                                       details["timeouts"] > 0 or details["invalid"] > 0)):
                    counts[i] += n
    runs: dict[tuple[Any, ...], int] = {}
    for (flow, step, _), counts in found.items():
        runs[(flow, step)] = runs.get((flow, step), 0) + counts[0]
    others = ["direct", "timeout", "invalid", "hangup", "error"]
    keys = sorted(found, key=lambda k: (k[0] or "", k[1], (others.index(k[2]) + 1, "") if k[2] in others
                                        else (0, k[2].rjust(10))))
    return [{"flow": k[0], "menu": k[1], "choice": k[2], "times": found[k][0],
             "share_pct": pct(found[k][0], runs[k[:2]]), "timeouts": found[k][1], "invalid": found[k][2],
             "retried": found[k][3]} for k in keys]


def campaign_figures(group: list[dict[str, Any]]) -> dict[str, Any]:
    """docs/reports.md#campaign over the legs of one group."""
    f = dict.fromkeys(("attempts", "blocked_list", "blocked_hours", "dialled", "answered", "busy", "no_answer",
                       "failed"), 0)
    talk = talked = 0
    for c in group:
        status, f["attempts"] = c.get("dial_status"), f["attempts"] + 1
        if status is None and (c["robinson"] in ("listed", "error") or c["blocked"]):
            f["blocked_list"] += 1
        elif status is None and any(kind == "schedule" and outcome not in ("open", "error", "hangup")
                                    for _, kind, outcome, _ in c["steps"]):
            f["blocked_hours"] += 1
        elif status is not None:
            f["dialled"] += 1
            name = {"ANSWER": "answered", "BUSY": "busy", "NOANSWER": "no_answer"}.get(status, "failed")
            f[name] += 1
            if status == "ANSWER" and c["talk_time"] is not None:
                talk, talked = talk + ms(c["talk_time"]), talked + 1
    return {**f, "asr_pct": pct(f["answered"], f["dialled"]), "talk_s": talk / 1000, "acd_s": ratio(talk, talked)}


@pytest.mark.parametrize("rolled", [False, True], ids=["calls", "rollups"])
def test_compliance_ivr_and_campaign_follow_the_definitions(database: Database, legs: list[dict[str, Any]],
                                                            rolled: bool) -> None:
    cdr = CdrBuilder(database)
    for call in legs:
        columns = {k: v for k, v in call.items() if k not in ("start", "status", "flow", "caller", "duration", "steps")}
        cdr.add(call["start"], caller=call["caller"], flow=call["flow"], status=call["status"],
                duration=call["duration"], steps=call["steps"], **columns)
    cdr.close()
    execute(database, "UPDATE call_steps SET flow = 'other' WHERE step = 'sub'")  # a menu reached by goto
    if rolled:
        roll_database(database, THRESHOLDS, now=NOW)
    got = report(database, "compliance", rolled)
    assert [(r["section"], r["item"], r["list"], r["calls"], r["share_pct"]) for r in got.all_rows()] \
        == compliance_rows(legs)
    for flows in ((), ("other",), ("sales", "campaign")):
        filters = Filters(flows=flows, tz=MADRID, tz_name=MADRID_NAME)
        assert run_report(database, "ivr", filters, NOW, rollups=rolled).all_rows() == ivr_rows(legs, flows)
    ended = [c for c in legs if c["direction"] == "outbound" and c["status"] != "in_progress"]
    for by, key in (("flow", KEYS["flow"]), ("day", KEYS["day"]), ("hour", KEYS["hour"])):
        got = report(database, "campaign", rolled, by=by)
        same({r["key"]: r for r in got.all_rows()}, {k: campaign_figures(g) for k, g in grouped(ended, key).items()})
        same({"total": got.totals}, {"total": campaign_figures(ended)})


def test_callbacks_follow_the_definitions(database: Database, legs: list[dict[str, Any]]) -> None:
    """Requested, done, cancelled, pending, attempts and the time to callback
    of the requests made in the range, per queue, source, flow and day."""
    rng = random.Random(7)
    requests = []
    for n in range(90):
        made = datetime(2025, 10, 25, 21, tzinfo=timezone.utc) + timedelta(minutes=rng.randrange(8 * 60),
                                                                            milliseconds=rng.randrange(1000))
        status = rng.choice(["pending", "done", "done", "cancelled"])
        done = made + timedelta(seconds=rng.choice([0, 61.5, 3600.25, 90000.001])) if status != "pending" else None
        requests.append({"requested_at": made.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                         "number": "+34600111222", "status": status, "request_key": f"k{n}",
                         "done_at": done and done.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                         "queue": rng.choice(["sales", "support", None]), "source": rng.choice(["keypad", "missed"]),
                         "flow": rng.choice(["sales", "support", None]), "attempts": rng.choice([0, 1, 3])})
    insert(database, "callbacks", requests)
    since, until = datetime(2025, 10, 25, 22, tzinfo=timezone.utc), datetime(2025, 10, 26, 3, tzinfo=timezone.utc)
    chosen = [r for r in requests if since <= datetime.fromisoformat(r["requested_at"]) < until]
    for by in ("queue", "source", "flow", "day"):
        want: dict[Any, dict[str, Any]] = {}
        for r in chosen:
            made = datetime.fromisoformat(r["requested_at"])
            row = want.setdefault(made.astimezone(MADRID).strftime("%Y-%m-%d") if by == "day" else r[by],
                                  {"requested": 0, "done": 0, "cancelled": 0, "pending": 0, "attempts": 0, "took": []})
            row["requested"] += 1
            row[r["status"]] += 1
            row["attempts"] += r["attempts"]
            if r["status"] == "done":
                row["took"].append((datetime.fromisoformat(r["done_at"]) - made).total_seconds())
            if r["status"] == "pending":
                row["oldest_pending_s"] = max(row.get("oldest_pending_s", 0), (NOW - made).total_seconds())
        for row in want.values():
            took = row.pop("took")
            row.update(done_pct=pct(row["done"], row["requested"]), max_to_callback_s=max(took, default=None),
                       avg_to_callback_s=sum(took) / len(took) if took else None)
            row.setdefault("oldest_pending_s", None)
        filters = Filters(since, until, tz=MADRID, tz_name=MADRID_NAME)
        got = run_report(database, "callbacks", filters, NOW, by=by)
        same({r["key"]: r for r in got.all_rows()}, want)
