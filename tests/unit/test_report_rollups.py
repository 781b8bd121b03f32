"""The rollups (agi/storage/rollups.py) give every aggregate report the
same groups and sums as the calls table, on both backends, whatever is
pending, whatever the range, zone and grouping."""
from __future__ import annotations

import random
import re
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Sequence

import pytest
from click.testing import CliRunner
from support import table_rows
from support.cdr_builder import CdrBuilder, random_starts, menu, utc

from agi.cli.main import cli
from agi.db.location import Database, PostgresUrl
from agi.reports import run_report
from agi.reports.aggregate import DIMENSIONS, Group, Thresholds, aggregate
from agi.reports.db import CdrReader
from agi.safe_text import isolated
from agi.reports.model import Filters
from agi.reports.render import render
from agi.reports.rollup_plan import Plan, plan
from agi.reports.timerange import zone
from agi.storage.call_measures import DEFAULT_THRESHOLDS
from agi.storage.cdr_writer import CdrStore
from agi.storage.migrations import upgrade
from agi.storage.rollups import roll_database

MADRID = zone("Europe/Madrid")
#: After every call of the data: every quarter hour has ended.
LATER = datetime(2025, 11, 1, tzinfo=timezone.utc)
FATES: list[dict[str, Any]] = [
    {"queue": "sales", "queue_status": "ANSWERED", "talk_time": 61.2345},
    {"queue": "support", "queue_status": "ABANDONED"},
    {"queue": "support", "queue_status": "TIMEOUT"},
    {"queue": "sales", "queue_status": "FULL"},
    {"dial_status": "ANSWER", "talk_time": 30.5, "ring_time": 4.25},
    {"dial_status": "CANCEL", "ring_time": 2.0},
    {"robinson": "listed"},
    {"status": "caller_hangup"},
    {"status": "in_progress", "duration": None},
    {"direction": "outbound", "dial_status": "BUSY"},
    {"status": "error"},
]


COMPLIANCE: list[dict[str, Any]] = [
    {}, {"robinson": "clear", "robinson_list": "robinson"}, {"robinson": "error", "robinson_list": "robinson"},
    {"consent": "accepted", "recording_commands": 1}, {"consent": "declined", "recording_commands": 1},
    {"consent": "never", "recording": "/tmp/x.wav"}, {"blocked": "vip-blocklist"},
    {"refused_commands": "EXEC Dial (do-not-call)"}, {"refused_commands": "EXEC MixMonitor (no consent)"},
]


def fill(cdr: CdrBuilder, day: str, count: int, seed: int) -> None:
    """``count`` varied calls over the UTC day ``day`` and the next."""
    rng = random.Random(seed)
    for started in random_starts(rng, day, count):
        columns = dict(rng.choice(FATES))
        if "queue" in columns:
            columns["queue_wait"] = rng.choice([None, 1.5, 4.999, 5.0, 19.75, 20.0, 95.125])
        if columns.get("queue_status") == "ANSWERED" or columns.get("dial_status") == "ANSWER":
            columns["agent"] = rng.choice(["Ana", "Luis", "Eva"])
        columns.setdefault("duration", rng.choice([12.0, 60.125, 333.333]))
        columns.update(rng.choice(COMPLIANCE))
        columns["steps"] = [menu(rng.choice(["main", "billing"]), rng.choice(["1", "2", "timeout", "hangup"]),
                                 timeouts=rng.choice([0, 0, 1]), invalid=rng.choice([0, 0, 2]))
                            for _ in range(rng.choice([0, 1, 1, 2]))]
        cdr.add(started, caller=f"+3460011{rng.randrange(100):04d}",
                flow=rng.choice(["support", "sales", None]), flow_version=rng.choice(["a1b2c3d4e5f6", "0f0f0f0f0f0f"]),
                **columns)


def groups(database: Database, filters: Filters, by: Sequence[str], rollups: bool,
           thresholds: Thresholds = DEFAULT_THRESHOLDS, direction: str | None = None) -> list[Group]:
    with CdrReader(database, rollups=rollups) as reader, reader.snapshot():
        return aggregate(reader, filters, by, thresholds, direction)


def route(database: Database, filters: Filters, by: Sequence[str] = ("flow",),
          thresholds: Thresholds = DEFAULT_THRESHOLDS, hourly: bool = False) -> Plan:
    with CdrReader(database) as reader, reader.snapshot():
        return plan(reader, filters, thresholds, by, hourly)


def same_both_ways(database: Database, filters: Filters, by: Sequence[str], **options: Any) -> list[Group]:
    from_calls = groups(database, filters, by, rollups=False, **options)
    assert groups(database, filters, by, rollups=True, **options) == from_calls
    return from_calls


@pytest.fixture
def rolled(database: Database) -> Database:
    """Four days of calls around the night the clocks go forward, rolled up."""
    cdr = CdrBuilder(database)
    cdr.add("2025-03-29 00:05:00", queue="sales", queue_status="ABANDONED", queue_wait=2.5)
    fill(cdr, "2025-03-29", 400, seed=1)
    fill(cdr, "2025-03-31", 150, seed=2)
    cdr.close()
    upgrade(database)  # as the server's start does: a later upgrade would forget the rollups' counts
    rolled, pending = roll_database(database, DEFAULT_THRESHOLDS, now=LATER)
    assert rolled > 200 and pending == 0
    return database


RANGES = {
    "everything": {},
    "unaligned": {"since": datetime(2025, 3, 29, 7, 7, 7, tzinfo=timezone.utc),
                  "until": datetime(2025, 3, 31, 16, 52, 1, 500000, tzinfo=timezone.utc)},
    "one quarter hour": {"since": datetime(2025, 3, 30, 9, 0, tzinfo=timezone.utc),
                         "until": datetime(2025, 3, 30, 9, 15, tzinfo=timezone.utc)},
    "within a quarter hour": {"since": datetime(2025, 3, 30, 9, 1, tzinfo=timezone.utc),
                              "until": datetime(2025, 3, 30, 9, 14, tzinfo=timezone.utc)},
}


GROUPINGS = [(), *((name,) for name in DIMENSIONS), ("agent", "queue"), ("queue", "interval15"), ("outcome", "day"),
             ("weekday", "hour")]


def test_every_grouping_gives_the_same_groups_from_the_rollups(rolled: Database) -> None:
    tz, name = MADRID
    for by in GROUPINGS:
        for bounds in RANGES.values():
            filters = Filters(tz=tz, tz_name=name, **bounds)
            assert route(rolled, filters, by).rolled is not None or bounds == RANGES["within a quarter hour"]
            same_both_ways(rolled, filters, by)
        assert same_both_ways(rolled, Filters(tz=tz, tz_name=name), by, direction="inbound")


def test_the_whole_range_is_read_from_the_rollups_when_nothing_is_pending(rolled: Database) -> None:
    found = route(rolled, Filters(tz=MADRID[0]), ("interval15",))
    assert found.raw == () and found.rolled is not None
    unaligned = route(rolled, Filters(**RANGES["unaligned"]))
    assert [(part.since, part.until) for part in unaligned.raw] == [
        (RANGES["unaligned"]["since"], datetime(2025, 3, 29, 7, 15, tzinfo=timezone.utc)),
        (datetime(2025, 3, 31, 16, 45, tzinfo=timezone.utc), RANGES["unaligned"]["until"])]


def test_whole_hours_are_read_from_the_hourly_rollups_when_the_count_needs_no_agent_status_or_quarter(
        rolled: Database) -> None:
    madrid, india = MADRID[0], zone("Asia/Kolkata")[0]
    hourly = route(rolled, Filters(tz=madrid, **RANGES["unaligned"]), ("day",), hourly=True).hours
    assert hourly is not None and (hourly.since, hourly.until) == (utc("2025-03-29 08:00:00"), utc("2025-03-31 16:00:00"))
    assert route(rolled, Filters(tz=india), ("hour",), hourly=True).hours is None  # +05:30: whole quarter hours only
    assert route(rolled, Filters(tz=india), ("queue",), hourly=True).hours is not None
    for by in (("day",), ("hour", "outcome"), ("version",), ("interval60", "queue")):
        same_both_ways(rolled, Filters(tz=india), by)
        same_both_ways(rolled, Filters(tz=madrid, **RANGES["unaligned"]), by, direction="inbound")


def test_flows_versions_and_directions_filter_the_rollups_as_the_calls(rolled: Database) -> None:
    for filters in (Filters(flows=("sales",)), Filters(flows=("support", "sales")),
                    Filters(flow_versions=("a1b2",)), Filters(flows=("sales",), flow_versions=("0f0f0f0f0f0f",))):
        assert route(rolled, filters).rolled is not None
        same_both_ways(rolled, filters, ("queue",))
        same_both_ways(rolled, filters, ("outcome",), direction="outbound")


def test_calls_written_after_the_roll_are_counted_from_the_calls_until_rolled_again(rolled: Database) -> None:
    before = same_both_ways(rolled, Filters(), ())
    cdr = CdrBuilder(rolled)
    cdr.add("2025-03-30 09:20:00", queue="sales", queue_status="ANSWERED", talk_time=10, agent="Ana")
    table_rows.execute(rolled, "UPDATE calls SET status = 'interrupted' WHERE started_at < '2025-03-29T00:15:00'")
    cdr.close()
    pending = route(rolled, Filters())
    assert {(part.since, part.until) for part in pending.raw} == {
        (utc("2025-03-29 00:00:00"), utc("2025-03-29 00:15:00")), (utc("2025-03-30 09:15:00"), utc("2025-03-30 09:30:00"))}
    by_hours = route(rolled, Filters(), ("queue",), hourly=True)
    assert by_hours.hours is not None and by_hours.hours.until is not None
    assert [(part.since, part.until) for part in by_hours.quarter_parts()] == [  # hours with a pending quarter
        (utc("2025-03-29 00:00:00"), utc("2025-03-29 01:00:00")), (utc("2025-03-30 09:00:00"), utc("2025-03-30 10:00:00")),
        *([(by_hours.hours.until, by_hours.rolled.until)] if by_hours.rolled and by_hours.rolled.until
          and by_hours.hours.until < by_hours.rolled.until else [])]
    for by in (("queue",), ("day", "outcome"), ("interval60",)):
        same_both_ways(rolled, Filters(tz=MADRID[0]), by)
    after = same_both_ways(rolled, Filters(), ())
    assert after[0].sums["calls"] == before[0].sums["calls"] + 1
    assert roll_database(rolled, DEFAULT_THRESHOLDS, now=LATER) == (2, 0)
    assert route(rolled, Filters()).raw == ()
    assert same_both_ways(rolled, Filters(), ()) == after


def test_other_thresholds_read_the_calls_until_the_rollups_are_counted_again(rolled: Database) -> None:
    strict = Thresholds(short_abandon=2.0, service_level=5.0)
    assert route(rolled, Filters(), thresholds=strict) == Plan(None, (Filters(),))
    same_both_ways(rolled, Filters(), ("queue",), thresholds=strict)
    assert roll_database(rolled, strict, now=LATER)[1] == 0
    assert route(rolled, Filters(), thresholds=strict).rolled is not None
    same_both_ways(rolled, Filters(), ("queue",), thresholds=strict)
    assert route(rolled, Filters()).rolled is None  # counted with the defaults no more


def _watched_plans(monkeypatch: pytest.MonkeyPatch) -> list[Plan]:
    """The plans the reports make from now on (until ``monkeypatch.undo()``)."""
    from agi.reports import aggregate as counting
    routes: list[Plan] = []

    def watched(*args: Any, **kwargs: Any) -> Plan:
        routes.append(plan(*args, **kwargs))
        return routes[-1]
    monkeypatch.setattr(counting, "plan", watched)
    return routes


def test_the_charts_read_the_rollups_counted_with_other_thresholds_than_the_defaults(
        rolled: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """A center that sets its own service level (30 s) has its rollups
    counted with it; the charts of every page (calls over time, per hour,
    per outcome) need no threshold, so they read those rollups too, as the
    page's table does, instead of every call of the range."""
    ours = Thresholds(short_abandon=5.0, service_level=30.0)
    roll_database(rolled, ours, now=LATER)
    routes = _watched_plans(monkeypatch)
    tz, name = MADRID
    filters = Filters(tz=tz, tz_name=name)
    for kind, options in (("calls", {}), ("summary", {"thresholds": ours}), ("inbound", {"thresholds": ours})):
        routes.clear()
        run_report(rolled, kind, filters, LATER, charts=True, **options)
        assert routes and all(route.rolled is not None for route in routes), kind
    monkeypatch.undo()
    for kind, options in (("summary", {"thresholds": ours}), ("inbound", {"by": "day", "thresholds": ours})):
        pages = [render(run_report(rolled, kind, filters, LATER, charts=True, rollups=rollups, **options), "html")
                 for rollups in (True, False)]
        assert pages[0] == pages[1], kind


def test_agents_reads_the_rollups_whatever_thresholds_the_report_is_given(
        rolled: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """No figure of ``agents`` depends on a threshold: given others than
    the rollups were counted with, it still reads them, not every call."""
    roll_database(rolled, Thresholds(short_abandon=5.0, service_level=30.0), now=LATER)
    routes = _watched_plans(monkeypatch)
    tz, name = MADRID
    filters = Filters(tz=tz, tz_name=name)
    run_report(rolled, "agents", filters, LATER, thresholds=Thresholds(short_abandon=10.0, service_level=15.0))
    assert routes and all(route.rolled is not None for route in routes)
    monkeypatch.undo()
    texts = [render(run_report(rolled, "agents", filters, LATER, rollups=rollups), "csv") for rollups in (True, False)]
    assert texts[0] == texts[1]


def test_a_zone_off_the_quarter_hours_reads_times_from_the_calls(rolled: Database) -> None:
    odd = timezone(timedelta(minutes=20))
    assert route(rolled, Filters(tz=odd), ("hour",)).rolled is None
    assert route(rolled, Filters(tz=odd), ("queue",)).rolled is not None
    same_both_ways(rolled, Filters(tz=odd), ("interval15",))
    india = zone("Asia/Kolkata")[0]  # +05:30, whole quarter hours
    assert route(rolled, Filters(tz=india), ("interval30",)).rolled is not None
    same_both_ways(rolled, Filters(tz=india), ("interval30",))


def test_intervals_read_from_the_rollups_by_their_start_keep_both_hours_of_the_night_the_clocks_go_back(
        database: Database) -> None:
    """Rollup rows grouped by their UTC start (interval15 from the quarter
    hours, interval60 from the hourly rollups) give the intervals SQL gives
    the calls, each with its offset: the repeated 02:00 is two intervals."""
    cdr = CdrBuilder(database)
    fill(cdr, "2025-10-25", 400, seed=7)
    cdr.close()
    upgrade(database)
    roll_database(database, DEFAULT_THRESHOLDS, now=LATER)
    madrid, name = MADRID
    for tz in (madrid, zone("Asia/Kathmandu")[0], zone("America/St_Johns")[0], timezone.utc):
        for by in (("interval15",), ("agent", "interval15"), ("interval60",), ("interval60", "outcome")):
            filters = Filters(tz=tz, since=datetime(2025, 10, 25, 3, 7, tzinfo=timezone.utc),
                              until=datetime(2025, 10, 27, 0, 0, tzinfo=timezone.utc))
            assert route(database, filters, by, hourly=True).rolled is not None
            same_both_ways(database, filters, by)
    found = same_both_ways(database, Filters(tz=madrid, tz_name=name), ("interval60",))
    repeated = [group.key[0] for group in found if group.key[0].strftime("%Y-%m-%d %H") == "2025-10-26 02"]
    assert sorted(key.utcoffset() for key in repeated) == [timedelta(hours=1), timedelta(hours=2)]


def test_compliance_counts_the_same_from_the_rollups(rolled: Database) -> None:
    for filters in (Filters(), Filters(**RANGES["unaligned"]), Filters(flows=("sales",), flow_versions=("0f0f",))):
        reports = [run_report(rolled, "compliance", filters, LATER, rollups=rollups).rows for rollups in (True, False)]
        assert reports[0] == reports[1]
        assert any(row["calls"] for row in reports[0] if row["section"] == "refused")
    strict = Thresholds(short_abandon=1.0, service_level=2.0)
    roll_database(rolled, strict, now=LATER)  # compliance counts with no thresholds: its rollups still serve
    with CdrReader(rolled) as reader, reader.snapshot():
        assert plan(reader, Filters(), None, ()).rolled is not None


def test_ivr_counts_the_same_from_the_rollups_and_a_late_menu_step_is_pending(rolled: Database) -> None:
    def both(filters: Filters) -> list[Any]:
        reports = [run_report(rolled, "ivr", filters, LATER, rollups=rollups) for rollups in (True, False)]
        assert reports[0].rows == reports[1].rows and reports[0].totals == reports[1].totals
        return list(reports[0].rows)

    assert both(Filters(flows=("support",), flow_versions=("a1b2",))) != []
    both(Filters(**RANGES["unaligned"]))
    before = sum(row["times"] for row in both(Filters()))
    [call] = table_rows.select(rolled, "SELECT id FROM calls WHERE started_at = '2025-03-29T00:05:00.000Z'")
    step = {"call": call["id"], "seq": 9, "flow": "support", "step": "main", "type": "menu", "outcome": "1",
            "details": "{}"}
    table_rows.insert(rolled, "call_steps", [step])
    assert {(p.since, p.until) for p in route(rolled, Filters()).raw} == {(utc("2025-03-29 00:00:00"),
                                                                         utc("2025-03-29 00:15:00"))}
    assert sum(row["times"] for row in both(Filters())) == before + 1
    [hours] = [route(rolled, Filters(), hourly=True).hours]
    assert hours is not None and hours.since == utc("2025-03-29 00:00:00")  # the pending hour: left to the query


def test_the_ivr_page_charts_menus_that_ran_as_often_in_the_order_of_its_table(database: Database) -> None:
    """Menus that ran as often are charted as the table lists them, by flow
    and menu, whatever order the database gave them in: the page from the
    rollups (a menu's last run still pending) is the page from the calls."""
    cdr = CdrBuilder(database)
    for start, name in (("2025-03-10 09:00:00", "beta"), ("2025-03-10 09:01:00", "alpha"),
                        ("2025-03-10 09:02:00", "alpha")):
        cdr.add(start, steps=[menu(name, "1")])
    cdr.close()
    upgrade(database)
    roll_database(database, DEFAULT_THRESHOLDS, now=LATER)
    cdr = CdrBuilder(database)
    cdr.add("2025-03-10 10:00:00", steps=[menu("beta", "2")])  # pending: read from the calls
    cdr.close()
    for rollups in (True, False):
        page = run_report(database, "ivr", Filters(), LATER, charts=True, rollups=rollups)
        assert [chart.title for chart in page.charts] == [f"Menu {isolated('alpha')} ({isolated('support')}): 2 times",
                                                          f"Menu {isolated('beta')} ({isolated('support')}): 2 times"], \
            rollups


def test_a_step_changed_by_hand_is_counted_once_the_rollups_are_rebuilt(rolled: Database) -> None:
    """agiflow never updates a step, so an UPDATE of call_steps is not watched
    (docs/database.md#rollups): the ivr report counts the menu as it was until
    ``db rollups --rebuild``, then as it is, as the calls say."""
    def ivr(rollups: bool) -> list[Any]:
        return list(run_report(rolled, "ivr", Filters(), LATER, rollups=rollups).rows)

    before = ivr(True)
    table_rows.execute(rolled, "UPDATE call_steps SET flow = 'shared' WHERE type = 'menu'")
    assert ivr(True) == before and ivr(False) != before
    result = CliRunner().invoke(cli, ["db", "rollups", "--database", str(rolled), "--rebuild"])
    assert result.exit_code == 0, result.output
    assert ivr(True) == ivr(False) and {row["flow"] for row in ivr(True)} == {"shared"}


def test_one_caller_is_always_read_from_the_calls(rolled: Database) -> None:
    assert route(rolled, Filters(caller="+34600110001")).rolled is None


def test_a_database_never_rolled_up_is_read_from_the_calls(database: Database) -> None:
    cdr = CdrBuilder(database)
    fill(cdr, "2025-03-29", 50, seed=3)
    cdr.close()
    assert route(database, Filters()) == Plan(None, (Filters(),))


def test_every_report_and_format_is_the_same_with_and_without_rollups(rolled: Database) -> None:
    tz, name = MADRID
    filters = Filters(datetime(2025, 3, 29, 5, 3, tzinfo=timezone.utc), datetime(2025, 4, 2, tzinfo=timezone.utc),
                      tz=tz, tz_name=name)
    now = LATER
    for kind, options in (("ivr", {}), ("compliance", {}), ("summary", {"by": "flow"}), ("summary", {"by": "interval60"}), ("inbound", {"by": "queue"}),
                          ("agents", {}), ("consolidated", {"by": ("queue", "day")})):
        for fmt in ("csv", "json", "html"):
            outputs = [render(run_report(rolled, kind, filters, now, charts=fmt == "html", rollups=rollups,
                                         **options), fmt)
                       for rollups in (True, False)]
            assert outputs[0] == outputs[1], (kind, fmt)


def test_the_server_rolls_up_as_calls_end(database: Database) -> None:
    later = LATER.timestamp()
    store = CdrStore(database, rollups=DEFAULT_THRESHOLDS, roll_every=0.05, clock=lambda: later)
    store.open()
    store.start()
    for n in range(20):
        started = utc("2025-03-10 09:00:00") + timedelta(minutes=7 * n)
        key = f"call{n:04d}"
        store.call_started({"id": key, "call_id": f"{n}.1", "started_at": started.isoformat()[:19] + ".000Z",
                            "status": "in_progress", "flow": "support", "caller": "600111222"})
        store.call_ended(key, {"status": "completed", "queue": "sales", "queue_status": "ANSWERED",
                               "queue_wait": 3.5, "talk_time": 42.0, "duration": 50.0})
    deadline = time.monotonic() + 10
    # every call written (no pending quarter before the writer has written any), then every quarter rolled
    while table_rows.select(database, "SELECT count(*) AS n FROM calls WHERE status = 'completed'") != [{"n": 20}] \
            or table_rows.select(database, "SELECT count(*) AS n FROM rollups_pending") != [{"n": 0}]:
        assert time.monotonic() < deadline, "the writer did not roll up"
        time.sleep(0.05)
    assert store.close()
    assert route(database, Filters()).raw == ()
    [total] = same_both_ways(database, Filters(), ())
    assert (total.sums["calls"], total.sums["answered"], total.sums["talk_s"]) == (20, 20, 840.0)


def test_db_rollups_command(database: Database) -> None:
    upgrade(database)
    cdr = CdrBuilder(database)
    fill(cdr, "2025-03-29", 60, seed=4)
    cdr.close()
    target = database.url if isinstance(database, PostgresUrl) else str(database)
    first = CliRunner().invoke(cli, ["db", "rollups", "--database", target])
    assert first.exit_code == 0, first.output
    assert "quarter hours rolled up (0 pending), counted with a short abandon of 5 s and a service level of 20 s" \
        in first.output
    again = CliRunner().invoke(cli, ["db", "rollups", "--database", target])
    assert ": 0 quarter hours rolled up (0 pending)" in again.output
    rebuilt = CliRunner().invoke(cli, ["db", "rollups", "--rebuild", "--database", target])
    assert re.findall(r"(\d+) quarter hours", rebuilt.output) == re.findall(r"(\d+) quarter hours", first.output)
    args = ["report", "inbound", "--by", "agent", "--format", "csv", "--db", target]
    assert CliRunner().invoke(cli, args).output == CliRunner().invoke(cli, [*args, "--no-rollups"]).output


def test_postgresql_rolls_wait_for_call_writes_in_flight_and_for_each_other(postgres_url: PostgresUrl) -> None:
    import threading

    from agi.db import postgres as pg
    from agi.storage import rollups

    cdr = CdrBuilder(postgres_url)
    fill(cdr, "2025-03-29", 200, seed=5)
    cdr.close()
    roll_database(postgres_url, DEFAULT_THRESHOLDS, now=LATER)
    writer = pg.Connection(pg.connect(postgres_url))
    writer.execute("BEGIN")  # a call written in a rolled quarter hour, not committed yet
    writer.execute("UPDATE calls SET status = 'interrupted' WHERE started_at < '2025-03-29T06:00:00'")
    roller = pg.Connection(pg.connect(postgres_url))
    with pytest.raises(Exception, match="lock"):
        rollups.roll(roller, DEFAULT_THRESHOLDS, postgres=True, before=LATER)
    writer.execute("COMMIT")
    results: list[tuple[int, int]] = []
    threads = [threading.Thread(target=lambda: results.append(
        roll_database(postgres_url, DEFAULT_THRESHOLDS, now=LATER, rebuild=True))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2 and results[0][1] == results[1][1] == 0
    assert route(postgres_url, Filters()).raw == ()
    same_both_ways(postgres_url, Filters(), ("outcome", "queue"))
    writer.close()
    roller.close()


#: ``started_at`` as a hand-written row may hold it (docs/cdr.md gives the one form agiflow writes).
HAND_WRITTEN = ("2025-03-10 09:37:12", "2025-03-10T09:52:00", "2025-02-30T10:00:00.000Z", "garbage", "")


def test_hand_written_start_times_never_stop_the_rollups_or_the_cdr_writer(database: Database) -> None:
    upgrade(database)
    cdr = CdrBuilder(database)
    fill(cdr, "2025-03-10", 40, seed=5)
    cdr.close()
    table_rows.insert(database, "calls", [
        {"id": f"hand{n}", "call_id": f"hand{n}", "flow": "support", "caller": "600111222", "started_at": text,
         "status": "completed", "direction": "inbound"} for n, text in enumerate(HAND_WRITTEN)])
    rolled, pending = roll_database(database, DEFAULT_THRESHOLDS, now=LATER)  # returns: no endless roll
    assert rolled > 0
    left = {row["bucket"] for row in table_rows.select(database, "SELECT bucket FROM rollups_pending")}
    assert pending == len(left) and left == {"garbage00:00.000Z"}  # sorts after every time: never due
    later = LATER.timestamp()
    store = CdrStore(database, rollups=DEFAULT_THRESHOLDS, roll_every=0.05, clock=lambda: later)
    store.open()
    store.start()
    table_rows.insert(database, "calls", [{"id": "hand-late", "call_id": "hand-late", "flow": "support",
                                           "caller": "600111222", "started_at": "2025-03-11 10:00:00",
                                           "status": "completed", "direction": "inbound"}])
    time.sleep(0.3)  # the writer rolls meanwhile
    store.call_started({"id": "after", "call_id": "after.1", "started_at": "2025-03-11T11:00:00.000Z",
                        "status": "in_progress", "flow": "support", "caller": "600111222"})
    store.call_ended("after", {"status": "completed", "duration": 5.0})
    assert store.close()
    assert table_rows.select(database, "SELECT status FROM calls WHERE id = 'after'") == [{"status": "completed"}]


def test_a_start_written_by_hand_with_its_utc_offset_is_counted_at_that_moment_on_both_backends(
        database: Database) -> None:
    """SQLite reads ``2025-03-10T10:00:00+01:00`` as 09:00 UTC, as the call log
    shows it; PostgreSQL counted it at 10:00 (the offset dropped), so the same
    calls, copied from one to the other, gave other figures per hour."""
    upgrade(database)
    table_rows.insert(database, "calls", [
        {"id": f"hand{n}", "call_id": f"hand{n}", "flow": "support", "caller": "600111222", "started_at": text,
         "status": "completed", "direction": "inbound"}
        for n, text in enumerate(("2025-03-10T10:00:00+01:00", "2025-03-10T07:40:00.000-01:30",
                                  "2025-03-10T09:20:00.000Z"))])
    target = database.url if isinstance(database, PostgresUrl) else str(database)
    result = CliRunner().invoke(cli, ["report", "summary", "--by", "interval15", "--no-rollups", "--tz", "UTC",
                                      "--since", "2025-03-10", "--until", "2025-03-10", "--format", "csv",
                                      "--db", target])
    assert result.exit_code == 0, result.output
    counted = {line.split(",")[0][11:16]: line.split(",")[1] for line in result.output.splitlines()[1:]
               if line.startswith("2025")}
    assert counted == {"09:00": "2", "09:15": "1"}


def test_a_report_on_a_time_written_by_hand_says_which_value_in_one_line(database: Database) -> None:
    upgrade(database)
    table_rows.insert(database, "calls", [{"id": "hand", "call_id": "hand", "flow": "support", "caller": "600",
                                           "started_at": "garbage", "status": "completed",
                                           "direction": "inbound"}])
    target = database.url if isinstance(database, PostgresUrl) else str(database)
    for args in (["calls", "--limit", "3"], ["summary", "--by", "day"], ["calls", "--format", "csv"]):
        result = CliRunner().invoke(cli, ["report", *args, "--db", target])
        assert result.exit_code != 0 and result.exception is None or isinstance(result.exception, SystemExit)
        assert "holds 'garbage' where a time belongs" in result.output, result.output
        assert "Traceback" not in result.output


def test_fcr_on_a_date_the_calendar_has_not_says_which_value_in_one_line(database: Database) -> None:
    """A first call written by hand on 30 February, in the CDR's own form:
    fcr works out its window from it, and says which value it cannot read."""
    upgrade(database)
    table_rows.insert(database, "calls", [
        {"id": f"hand{n}", "call_id": f"hand.{n}", "flow": "support", "caller": "600111222",
         "caller_e164": "+34600111222", "started_at": start, "status": "completed", "direction": "inbound",
         "queue": "support", "queue_status": "ANSWERED"}
        for n, start in enumerate(("2025-02-30T10:00:00.000Z", "2025-03-01T10:00:00.000Z"))])
    target = database.url if isinstance(database, PostgresUrl) else str(database)
    result = CliRunner().invoke(cli, ["report", "fcr", "--db", target])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "holds '2025-02-30T10:00:00.000Z' where a time belongs" in result.output, result.output


def test_a_report_on_a_time_past_the_years_times_go_to_says_which_value_in_one_line(database: Database) -> None:
    """A start written by hand in the year 9999, past the 9998-12-31 every
    command's times go to: the zone's offsets after it are no dates Python
    holds, so it is a value the reports cannot read, in one line."""
    upgrade(database)
    table_rows.insert(database, "calls", [{"id": "hand", "call_id": "hand", "flow": "support", "caller": "600",
                                           "started_at": "9999-12-31T23:30:00.000Z", "status": "completed",
                                           "direction": "inbound"}])
    target = database.url if isinstance(database, PostgresUrl) else str(database)
    for args in (["summary", "--by", "day", "--tz", "Europe/Madrid"], ["inbound"], ["campaign"]):
        result = CliRunner().invoke(cli, ["report", *args, "--db", target])
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
        assert "holds '9999-12-31T23:30:00.000Z' where a time belongs" in result.output, result.output


def test_upgrading_to_version_6_has_the_rollups_counted_again(rolled: Database) -> None:
    """Version 6 corrected a wait the rollups hold: what they were counted
    with is forgotten, reports read the calls, the next roll counts them all."""
    with CdrReader(rolled) as reader:
        assert reader.rollup_thresholds() == DEFAULT_THRESHOLDS
    table_rows.execute(rolled, "DELETE FROM agiflow_schema WHERE version >= 6")  # as a version 5 database
    assert [m.version for m in upgrade(rolled)] == [6, 7]
    with CdrReader(rolled) as reader, reader.snapshot():
        assert reader.rollup_thresholds() is None
        assert plan(reader, Filters(), None, ()).rolled is None
    rolled_again, pending = roll_database(rolled, DEFAULT_THRESHOLDS, now=LATER)
    assert rolled_again > 200 and pending == 0
    with CdrReader(rolled) as reader:
        assert reader.rollup_thresholds() == DEFAULT_THRESHOLDS


def test_a_range_of_thousands_of_years_looks_at_the_zone_only_where_calls_are(
        rolled: Database, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import agi.reports.localtime as localtime
    import agi.reports.rollup_plan as rollup_plan
    walked: list[timedelta] = []

    def offsets(tz: Any, low: datetime, high: datetime) -> Any:
        walked.append(high - low)
        assert high - low < timedelta(days=10), "the zone's offsets walked hour by hour over centuries"
        return real(tz, low, high)

    real = localtime.offsets
    monkeypatch.setattr(localtime, "offsets", offsets)
    monkeypatch.setattr(rollup_plan, "offsets", offsets)
    tz, name = MADRID
    widest = Filters(tz=tz, tz_name=name, since=datetime(2, 1, 1, tzinfo=timezone.utc),
                     until=datetime(9998, 12, 31, tzinfo=timezone.utc))
    for by in (("day",), ("hour",), ("interval15",)):
        assert route(rolled, widest, by, hourly=True).rolled is not None
        same_both_ways(rolled, widest, by)
    empty = tmp_path / "empty.db"
    upgrade(empty)
    assert groups(empty, widest, ("day",), rollups=False) == []
    assert walked


@pytest.mark.parametrize("column", ["caller", "caller_e164", "path", "flow", "outcome", "queue", "agent", "called",
                                    "consent", "robinson_list"])
def test_every_report_reads_a_blob_another_tool_wrote_in_a_text_column_as_text(tmp_path: Any, column: str) -> None:
    """SQLite keeps a BLOB in a TEXT column as it is: every report reads it
    as text (UTF-8), as the same text written as text, and never stops on
    it; the call log shows a byte that is no UTF-8 as U+FFFD."""
    database = tmp_path / "cdr.sqlite"
    row = {"call_id": "other.1", "flow": "support", "caller": "600111222", "caller_e164": "+34600111222",
           "started_at": "2025-03-10T10:00:00.000Z", "status": "completed", "direction": "inbound",
           "path": "menu:1", "outcome": "queued", "queue": "sales", "queue_status": "ANSWERED", "agent": "Ana",
           "called": "900", "consent": "accepted", "robinson": "clear", "robinson_list": "robinson"}
    blob = {**row, "id": "blob", "call_id": "other.2", "started_at": "2025-03-10T11:00:00.000Z",
            column: row[column].encode()}
    if column == "caller":
        blob["caller_e164"] = ""
    leg = {**blob, "id": "leg", "call_id": "other.3", "direction": "outbound", "dial_status": "ANSWER"}
    table_rows.insert(database, "calls", [{**row, "id": "text"}, blob, leg])
    table_rows.insert(database, "call_steps", [{"call": "blob", "seq": 1, "step": "main", "type": "menu",
                                                "flow": blob["flow"], "outcome": "1",
                                                "started_at": blob["started_at"]}])
    for kind in ("calls", "summary", "inbound", "fcr", "tracking", "ivr", "compliance", "agents", "consolidated",
                 "callbacks", "campaign"):
        for output in ("table", "json", "html"):
            result = CliRunner().invoke(cli, ["report", kind, "--format", output, "--db", str(database),
                                              "--since", "2025-03-01", "--until", "2025-04-01"])
            assert result.exit_code == 0, (kind, result.output, result.exception)
            assert "b'" not in result.output, (kind, result.output)
    if column not in ("outcome", "caller_e164", "robinson_list"):  # the call log shows no such column as it is
        table_rows.execute(database, f"UPDATE calls SET {column} = ? WHERE id = 'blob'",
                           (row[column].encode() + b"\xff",))
        result = CliRunner().invoke(cli, ["report", "calls", "--format", "csv", "--db", str(database)])
        assert row[column] + "\ufffd" in result.output, result.output


@pytest.mark.parametrize("by", ["queue", "flow", "source"])
def test_the_callbacks_report_reads_a_blob_another_tool_wrote_as_text(tmp_path: Any, by: str) -> None:
    """A request with its queue, flow or source a BLOB counts with the
    requests whose value is the same text."""
    database = tmp_path / "cdr.sqlite"
    request = {"requested_at": "2025-03-10T10:00:00.000Z", "number": "+34600111222", "status": "pending",
               "queue": "sales", "flow": "support", "source": "ivr"}
    table_rows.insert(database, "callbacks", [request, {**request, by: request[by].encode()}])
    for output in ("table", "json", "html"):
        result = CliRunner().invoke(cli, ["report", "callbacks", "--by", by, "--format", output, "--db", str(database),
                                          "--since", "2025-03-01", "--until", "2025-04-01"])
        assert result.exit_code == 0 and "b'" not in result.output, (result.output, result.exception)
    result = CliRunner().invoke(cli, ["report", "callbacks", "--by", by, "--format", "csv", "--db", str(database)])
    assert f"\n{request[by]},2," in result.output, result.output


@pytest.mark.parametrize(("column", "kinds"), [("caller", ["calls", "fcr", "tracking"]),
                                               ("flow", ["calls", "summary", "tracking"])])
def test_text_that_is_no_utf8_written_by_another_tool_stops_a_report_with_one_clear_line(
        tmp_path: Any, column: str, kinds: list[str]) -> None:
    """SQLite hands such text to no program: the report says what the
    database holds, not the driver's words about a column of its query."""
    database = tmp_path / "cdr.sqlite"
    table_rows.insert(database, "calls", [{"id": "x", "call_id": "other.1", "flow": "support", "caller": "600111222",
                                           "started_at": "2025-03-10T10:00:00.000Z", "status": "completed",
                                           "direction": "inbound"}])
    table_rows.execute(database, f"UPDATE calls SET {column} = CAST(x'41ff42' AS TEXT), caller_e164 = NULL")
    for kind in kinds:
        result = CliRunner().invoke(cli, ["report", kind, "--db", str(database)])
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
        assert result.output == (f"error: the CDR database {database} holds text that is not UTF-8 ('A\ufffdB'): "
                                 "a row written by another tool? Correct or delete it (docs/cdr.md)\n"), result.output
