"""Number lists: how numbers are written down, how entries match, and how a
list is imported, replaced and read while it changes.

Every store test uses a real SQLite file in a temporary folder.
"""
from __future__ import annotations

import io
import sqlite3
from pathlib import Path
from typing import Iterator

import phonenumbers
import pytest
from hypothesis import given, settings, strategies as st

from agi.lists.admin import ListAdmin
from agi.lists.csvio import MAX_REPORTED, ReadReport, read_entries, write_entries
from agi.lists.numbers import Entry, Normaliser, length_bit, probe_keys
from agi.storage.stores import list_admin, number_lists
from agi.lists.store import SqliteNumberLists, simulation_lists
from agi.services import ListHit, ListUnavailable

ES = Normaliser("ES")


# -- normalisation ------------------------------------------------------------------

@pytest.mark.parametrize("region, written, e164", [
    ("ES", "+34600111222", "+34600111222"),
    ("ES", "+34 600 11 12 22", "+34600111222"),
    ("ES", "0034600111222", "+34600111222"),
    ("ES", "0034 600-111-222", "+34600111222"),
    ("ES", "600111222", "+34600111222"),
    ("ES", "600.111.222", "+34600111222"),
    ("ES", "(600) 111 222", "+34600111222"),
    ("ES", "34600111222", "+34600111222"),
    ("ES", " 912 345 678 ", "+34912345678"),
    ("ES", "0044 20 7946 0018", "+442079460018"),
    ("ES", "+1 212 555 0123", "+12125550123"),
    ("FR", "06 12 34 56 78", "+33612345678"),
    ("FR", "+33 (0)6 12 34 56 78", "+33612345678"),
    ("FR", "+330612345678", "+33612345678"),
    ("GB", "020 7946 0018", "+442079460018"),
    ("US", "(212) 555-0123", "+12125550123"),
    ("US", "011 34 600 111 222", "+34600111222"),
    ("IT", "06 1234 5678", "+390612345678"),
    ("DE", "030 123456", "+4930123456"),
])
def test_numbers_written_every_usual_way_become_the_same_e164(region: str, written: str, e164: str) -> None:
    assert Normaliser(region).number(written) == e164


@pytest.mark.parametrize("garbage", ["", "   ", "abc", "anonymous", "unknown", "+", "12", "0",
                                     "6001112223333333333", "+34 6001", "00", "x600111222x1x2"])
def test_garbage_is_a_clear_value_error_naming_the_input(garbage: str) -> None:
    with pytest.raises(ValueError, match="phone number"):
        ES.number(garbage)


@pytest.mark.parametrize("two", ["600111222,611222333", "600111222, 611222333", "600111222;611222333",
                                 "600111222 ; 611222333", "600111222#611222333", "600111222 x 611222333",
                                 "+34600111222;ext=611222333"])
def test_a_text_holding_two_numbers_is_not_read_as_the_first_alone(two: str) -> None:
    # phonenumbers reads what follows ',' ';' '#' or 'x' as an extension: a CRM cell
    # listing two phones became the first, and the second was never listed
    with pytest.raises(ValueError, match="more than one phone number"):
        ES.number(two)


def test_an_extension_is_still_read_as_its_number() -> None:
    assert ES.number("+34 912 345 678 ext. 12") == ES.number("912345678,,5") == "+34912345678"


def test_an_unknown_region_is_refused_up_front() -> None:
    with pytest.raises(ValueError, match="unknown region 'XX'"):
        Normaliser("XX")


@pytest.mark.parametrize("region, written, key", [
    ("ES", "+3490*", "+3490*"),
    ("ES", "+34 90 *", "+3490*"),
    ("ES", "0034 90*", "+3490*"),
    ("ES", "90*", "+3490*"),
    ("ES", "+44*", "+44*"),
    ("FR", "06*", "+336*"),
    ("FR", "0033 6*", "+336*"),
    ("ES", "600111222", "+34600111222"),
])
def test_entries_are_numbers_or_prefixes_with_a_trailing_star(region: str, written: str, key: str) -> None:
    normaliser = Normaliser(region)
    assert normaliser.entry(written).key == key
    assert normaliser.key(written) == key


def test_the_prefix_flag_reads_a_number_as_a_prefix() -> None:
    assert ES.entry("+34 90", prefix=True) == Entry("+3490", prefix=True)
    assert ES.entry("+3490*", prefix=True) == Entry("+3490", prefix=True)


@pytest.mark.parametrize("bad", ["*", "+*", "abc*", "+0*", "+1234567890123456*", "  *"])
def test_a_prefix_needs_digits_of_a_country_code_first(bad: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        ES.entry(bad)


def test_a_number_probes_itself_then_every_prefix_longest_first() -> None:
    assert probe_keys("+34600") == ["+34600", "+34600*", "+3460*", "+346*", "+34*", "+3*"]
    assert len(probe_keys("+123456789012345")) == 16


def test_a_number_probes_only_the_prefix_lengths_a_list_has() -> None:
    assert probe_keys("+34600111222", length_bit("+3490*") | length_bit("+34*")) == ["+34600111222", "+3460*", "+34*"]
    assert probe_keys("+34600111222", 0) == ["+34600111222"]


_REGIONS = st.sampled_from(["ES", "FR", "DE", "IT", "US", "GB", "NL", "PT", "CH", "BR", "AR", "MX"])
_SHAPES = st.sampled_from(["+", "00", "011", "", "0", "+34", "0034", "+33 0"])


@settings(max_examples=1000, deadline=None)
@given(region=_REGIONS, shape=_SHAPES, digits=st.text("0123456789", min_size=1, max_size=15),
       gap=st.integers(0, 12))
def test_the_fast_path_always_agrees_with_phonenumbers(region: str, shape: str, digits: str, gap: int) -> None:
    normaliser = Normaliser(region)
    text = shape + digits
    text = text[:gap] + " " + text[gap:] if gap < len(text) else text
    fast = normaliser.fast(text)
    if fast is None:
        return
    parsed = phonenumbers.parse(text, region)
    assert phonenumbers.is_possible_number(parsed)
    assert fast == phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def test_the_fast_path_takes_the_usual_spanish_shapes() -> None:
    # Without it, 5 million numbers take 100 s to parse (see docs/benchmarks.md).
    for text in ("+34600111222", "0034600111222", "600111222", "912 345 678"):
        assert ES.fast(text) is not None


# -- CSV ------------------------------------------------------------------------------

def read(text: str, region: str = "ES") -> tuple[list[tuple[str, str | None]], ReadReport]:
    report = ReadReport()
    rows = list(read_entries(io.StringIO(text), Normaliser(region), report))
    return rows, report


def test_csv_lines_give_entries_with_notes_and_bad_lines_with_their_numbers() -> None:
    rows, report = read("+34600111222,asked on 2025-01-03\n"
                        "abc,typo\n"
                        "\n"
                        "# a comment line\n"
                        "  # 600999999 a commented-out number\n"
                        ",a line with only a note\n"
                        "0034 600 111 223\n"
                        "+3490*,premium rate\n"
                        "12,too short\n")
    assert rows == [("+34600111222", "asked on 2025-01-03"), ("+34600111223", None), ("+3490*", "premium rate")]
    assert report.entries == 3 and report.bad == 3
    assert [line for line, _ in report.errors] == [2, 6, 9]
    assert "'abc' is not a phone number" in report.errors[0][1]


def test_a_header_line_names_the_number_and_note_columns() -> None:
    rows, report = read("id,Note,Phone,source\n1,vip since 2020,600111222,crm\n2,,611222333,crm\n")
    assert rows == [("+34600111222", "vip since 2020"), ("+34611222333", None)]
    assert report.bad == 0


def test_a_line_without_the_number_column_is_a_bad_line() -> None:
    _, report = read("note,number\nonly a note\n")
    assert report.errors == [(2, "no number column")]


def test_a_file_with_many_bad_lines_keeps_the_first_messages_and_counts_all() -> None:
    _, report = read("bad\n" * (MAX_REPORTED + 50))
    assert report.bad == MAX_REPORTED + 50
    assert len(report.errors) == MAX_REPORTED


def test_export_writes_what_import_reads() -> None:
    out = io.StringIO()
    assert write_entries(out, [("+34600111222", "a, with comma"), ("+3490*", None)]) == 2
    rows, report = read(out.getvalue())
    assert rows == [("+34600111222", "a, with comma"), ("+3490*", None)]


# -- the store ------------------------------------------------------------------------

@pytest.fixture
def db(database: Path) -> Path:
    """The store tests run on both backends (the ``database`` fixture)."""
    return database


@pytest.fixture
def admin(db: Path) -> Iterator[ListAdmin]:
    with list_admin(db, clock=lambda: 1_700_000_000.0) as admin:
        yield admin


def fill(admin: ListAdmin, name: str, text: str, replace: bool = False) -> None:
    admin.import_entries(name, read_entries(io.StringIO(text), ES, ReadReport()), replace=replace)


def lists_of(db: Path) -> SqliteNumberLists:
    return number_lists(db, "ES")  # type: ignore[no-any-return]


def test_an_exact_entry_matches_the_number_however_it_is_written(admin: ListAdmin, db: Path) -> None:
    fill(admin, "robinson", "+34600111222,asked\n")
    store = lists_of(db)
    for written in ("600111222", "+34 600 111 222", "0034600111222"):
        assert store.match("robinson", written) == ListHit("robinson", "+34600111222", False, "asked")
    assert store.match("robinson", "600111223") is None


def test_a_prefix_matches_every_number_under_it_and_the_longest_prefix_wins(admin: ListAdmin, db: Path) -> None:
    fill(admin, "robinson", "+3490*,premium\n+34901*,premium 901\n")
    store = lists_of(db)
    assert store.match("robinson", "902123456") == ListHit("robinson", "+3490", True, "premium")
    assert store.match("robinson", "901123456") == ListHit("robinson", "+34901", True, "premium 901")
    assert store.match("robinson", "912345678") is None


def test_an_exact_entry_wins_over_a_prefix(admin: ListAdmin, db: Path) -> None:
    fill(admin, "vip", "+3460*,all mobiles\n600111222,Ana\n")
    assert lists_of(db).match("vip", "600111222") == ListHit("vip", "+34600111222", False, "Ana")


def test_lists_are_separate(admin: ListAdmin, db: Path) -> None:
    fill(admin, "vip", "600111222\n")
    admin.create("block")
    assert lists_of(db).match("block", "600111222") is None


def test_an_empty_list_exists_and_matches_nothing(admin: ListAdmin, db: Path) -> None:
    assert admin.create("robinson") is True
    assert admin.create("robinson") is False
    assert lists_of(db).match("robinson", "600111222") is None


def test_a_list_that_does_not_exist_is_unavailable_not_empty(admin: ListAdmin, db: Path) -> None:
    fill(admin, "vip", "600111222\n")
    with pytest.raises(ListUnavailable, match="no number list named 'robinson'"):
        lists_of(db).match("robinson", "600111222")


def test_a_missing_database_file_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ListUnavailable, match="does not exist"):
        lists_of(tmp_path / "nothing.db").match("robinson", "600111222")
    assert not (tmp_path / "nothing.db").exists()


@pytest.mark.sqlite_only
def test_a_database_without_list_tables_is_unavailable(db: Path) -> None:
    sqlite3.connect(db).execute("CREATE TABLE calls (id TEXT)").connection.close()
    with pytest.raises(ListUnavailable, match="no number list named .robinson. in .*: it has no agiflow tables yet"):
        lists_of(db).match("robinson", "600111222")


@pytest.mark.sqlite_only
def test_a_corrupt_database_is_unavailable_and_read_again_once_repaired(admin: ListAdmin, db: Path) -> None:
    fill(admin, "robinson", "600111222\n")
    admin.close()
    good = db.read_bytes()
    store = lists_of(db)
    assert store.match("robinson", "600111222") is not None
    store.close()
    db.write_bytes(b"this is not a database" * 200)
    with pytest.raises(ListUnavailable, match="not a database"):
        store.match("robinson", "600111222")
    db.write_bytes(good)
    assert store.match("robinson", "600111222") is not None


def test_a_number_that_is_not_one_is_a_value_error_not_a_miss(admin: ListAdmin, db: Path) -> None:
    admin.create("robinson")
    with pytest.raises(ValueError):
        lists_of(db).match("robinson", "anonymous")


@pytest.mark.sqlite_only
def test_the_simulation_store_never_creates_or_writes_the_database(tmp_path: Path, db: Path) -> None:
    absent = simulation_lists(tmp_path / "absent.db", "ES")
    with pytest.raises(ListUnavailable, match=f"the database {tmp_path / 'absent.db'} does not exist"):
        absent.match("robinson", "600111222")
    assert not (tmp_path / "absent.db").exists()
    with ListAdmin(db) as admin:
        fill(admin, "robinson", "600111222\n")
    store = simulation_lists(db, "ES")
    assert store is not None and store.match("robinson", "600111222") is not None
    assert store._conn is not None
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        store._conn.execute("DELETE FROM list_entries")


@pytest.mark.sqlite_only
def test_a_lookup_is_one_indexed_statement(admin: ListAdmin, db: Path) -> None:
    from agi.lists.schema import match_sql
    admin.create("robinson")
    keys = probe_keys("+34600111222")
    plan = admin.conn.execute("EXPLAIN QUERY PLAN " + match_sql(len(keys)), (*keys, "robinson")).fetchall()
    details = [row[3] for row in plan]
    assert any("USING PRIMARY KEY (list_id=? AND number=?)" in d for d in details), details
    assert not any(d.startswith("SCAN") for d in details), details


# -- changing lists -------------------------------------------------------------------

def test_add_creates_the_list_and_a_second_add_only_updates_the_note(admin: ListAdmin, db: Path) -> None:
    assert admin.add("vip", ES.entry("600111222"), "Ana") is True
    assert admin.add("vip", ES.entry("+34600111222"), "Ana García") is False
    assert [(s.name, s.entries) for s in admin.lists()] == [("vip", 1)]
    assert lists_of(db).match("vip", "600111222") == ListHit("vip", "+34600111222", False, "Ana García")


def test_no_list_is_created_whose_name_differs_from_another_only_in_case(admin: ListAdmin, db: Path) -> None:
    """``lists import ROBINSON file --replace`` filled a new list that no
    flow reads, and left ``robinson``, the one the calls check, stale."""
    fill(admin, "robinson", "600111222\n")
    for create in (lambda: fill(admin, "ROBINSON", "611222333\n", replace=True),
                   lambda: admin.add("Robinson", ES.entry("611222333")), lambda: admin.create("robinsoN")):
        with pytest.raises(ListUnavailable, match="there is 'robinson': list names are told apart by case"):
            create()
    assert [(s.name, s.entries) for s in admin.lists()] == [("robinson", 1)]
    admin.create("robinson-2")  # a name of its own is a list of its own


def test_adding_a_listed_entry_without_a_note_keeps_its_note(admin: ListAdmin, db: Path) -> None:
    admin.add("vip", ES.entry("600111222"), "Ana")
    assert admin.add("vip", ES.entry("600111222")) is False
    assert lists_of(db).match("vip", "600111222") == ListHit("vip", "+34600111222", False, "Ana")


def test_remove_takes_out_one_entry_and_says_when_there_was_none(admin: ListAdmin, db: Path) -> None:
    fill(admin, "robinson", "600111222\n+3490*\n")
    assert admin.remove("robinson", ES.entry("90*")) is True
    assert admin.remove("robinson", ES.entry("90*")) is False
    assert lists_of(db).match("robinson", "901000000") is None
    assert [s.entries for s in admin.lists()] == [1]
    with pytest.raises(ListUnavailable):
        admin.remove("nope", ES.entry("600111222"))


def test_delete_removes_the_list_and_its_entries(admin: ListAdmin, db: Path) -> None:
    fill(admin, "robinson", "600111222\n600111223\n")
    assert admin.delete("robinson") == 2
    assert admin.lists() == []
    assert admin.conn.execute("SELECT count(*) FROM list_entries").fetchone()[0] == 0
    with pytest.raises(ListUnavailable):
        lists_of(db).match("robinson", "600111222")


def test_import_adds_to_a_list_and_counts_what_was_already_there(admin: ListAdmin) -> None:
    fill(admin, "robinson", "600111222,first\n")
    rows = read_entries(io.StringIO("600111222,second\n600111223\n600111223\n"), ES, ReadReport())
    result = admin.import_entries("robinson", rows)
    assert (result.read, result.added, result.kept, result.entries) == (3, 1, 2, 2)
    assert list(admin.entries("robinson")) == [("+34600111222", "first", 1_700_000_000),
                                               ("+34600111223", None, 1_700_000_000)]


def test_an_import_with_no_good_line_changes_nothing(admin: ListAdmin) -> None:
    fill(admin, "robinson", "600111222\n")
    report = ReadReport()
    with pytest.raises(ValueError, match="no entries"):
        admin.import_entries("robinson", read_entries(io.StringIO("abc\nxyz\n"), ES, report), replace=True)
    assert report.bad == 2
    assert [k for k, _, _ in admin.entries("robinson")] == ["+34600111222"]


def test_replace_swaps_the_whole_list_and_leaves_no_old_rows(admin: ListAdmin, db: Path) -> None:
    fill(admin, "robinson", "600111222\n600111223\n")
    fill(admin, "vip", "700000000\n")
    fill(admin, "robinson", "611000000\n", replace=True)
    assert [k for k, _, _ in admin.entries("robinson")] == ["+34611000000"]
    assert admin.conn.execute("SELECT count(*) FROM list_entries").fetchone()[0] == 2
    assert [(s.name, s.entries) for s in admin.lists()] == [("robinson", 1), ("vip", 1)]


def test_readers_see_the_old_list_until_a_replace_is_complete(admin: ListAdmin, db: Path) -> None:
    fill(admin, "robinson", "600111222\n")
    store = lists_of(db)
    seen: list[tuple[bool, bool]] = []

    def rows() -> Iterator[tuple[str, str | None]]:
        for i in range(5000):
            if i in (1, 4999):  # while the new list is being read in
                seen.append((store.match("robinson", "600111222") is not None,
                             store.match("robinson", "611000001") is not None))
            yield f"+3461100{i:04d}", None

    admin.import_entries("robinson", rows(), replace=True)
    assert seen == [(True, False), (True, False)]
    assert store.match("robinson", "600111222") is None
    assert store.match("robinson", "611000001") is not None


@pytest.mark.sqlite_only
def test_a_reader_inside_a_transaction_keeps_its_snapshot_during_a_replace(admin: ListAdmin, db: Path) -> None:
    fill(admin, "robinson", "600111222\n")
    reader = sqlite3.connect(db, isolation_level=None)
    reader.execute("BEGIN")
    count = "SELECT count(*) FROM list_entries e JOIN number_lists l ON e.list_id = l.id WHERE l.name = 'robinson'"
    assert reader.execute(count).fetchone()[0] == 1
    fill(admin, "robinson", "".join(f"+3461100{i:04d}\n" for i in range(3000)), replace=True)
    assert reader.execute(count).fetchone()[0] == 1  # still the old list, whole
    reader.execute("COMMIT")
    assert reader.execute(count).fetchone()[0] == 3000


def test_an_import_that_fails_midway_leaves_the_list_as_it_was(admin: ListAdmin, db: Path) -> None:
    fill(admin, "robinson", "600111222\n")

    def rows() -> Iterator[tuple[str, str | None]]:
        yield "+34611000000", None
        raise OSError("disk went away")

    with pytest.raises(OSError):
        admin.import_entries("robinson", rows(), replace=True)
    assert [k for k, _, _ in admin.entries("robinson")] == ["+34600111222"]
    fill(admin, "robinson", "611000001\n")
    assert [k for k, _, _ in admin.entries("robinson")] == ["+34600111222", "+34611000001"]


def test_entries_left_by_an_interrupted_replace_are_purged_and_live_lists_kept(admin: ListAdmin) -> None:
    fill(admin, "robinson", "600111222\n")
    admin.conn.execute("INSERT INTO list_entries VALUES (999, '+34611000000', NULL, 0)")
    assert admin.purge_orphans() == 1
    assert admin.conn.execute("SELECT count(*) FROM list_entries").fetchone()[0] == 1
    assert [k for k, _, _ in admin.entries("robinson")] == ["+34600111222"]


def test_a_prefix_added_after_a_lookup_is_found_by_the_next_one(admin: ListAdmin, db: Path) -> None:
    fill(admin, "robinson", "600111222\n")
    store = lists_of(db)
    assert store.match("robinson", "902000000") is None  # the list had no prefix: one probe
    admin.add("robinson", ES.entry("+3490*"))
    assert store.match("robinson", "902000000") == ListHit("robinson", "+3490", True, None)
    fill(admin, "robinson", "+34902*,longer\n")
    assert store.match("robinson", "902000000") == ListHit("robinson", "+34902", True, "longer")
    fill(admin, "robinson", "+3*\n", replace=True)
    assert store.match("robinson", "902000000") == ListHit("robinson", "+3", True, None)


@pytest.mark.sqlite_only
def test_lists_made_before_prefix_lengths_were_kept_still_match_prefixes(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.executescript(
        "CREATE TABLE number_lists (name TEXT PRIMARY KEY, id INTEGER NOT NULL UNIQUE, entries INTEGER NOT NULL"
        " DEFAULT 0, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);"
        "INSERT INTO number_lists VALUES ('robinson', 1, 1, '', '');"
        "CREATE TABLE list_entries (list_id INTEGER NOT NULL, number TEXT NOT NULL, note TEXT,"
        " added_at INTEGER NOT NULL, PRIMARY KEY (list_id, number)) WITHOUT ROWID;"
        "INSERT INTO list_entries VALUES (1, '+3490*', NULL, 0);")
    conn.close()
    ListAdmin(db).close()  # brings the schema up to date
    assert lists_of(db).match("robinson", "902000000") == ListHit("robinson", "+3490", True, None)


def test_a_do_not_call_entry_in_a_database_file_put_in_place_of_the_old_one_is_seen_at_once(tmp_path: Path) -> None:
    """A backup put back, or a database created again after it was removed:
    the server's lists connection must read the file now at the path, or
    numbers added to the do-not-call list there would be dialled."""
    path = tmp_path / "agiflow.db"
    with ListAdmin(path) as admin:
        admin.import_entries("robinson", read_entries(io.StringIO("+34611000000\n"), Normaliser("ES"), ReadReport()))
    lists = SqliteNumberLists(path, "ES", read_only=False)  # the server's
    assert lists.match("robinson", "600111222") is None
    restored = tmp_path / "restored.db"
    with ListAdmin(restored) as admin:
        admin.import_entries("robinson", read_entries(io.StringIO("+34600111222,asked\n"), Normaliser("ES"),
                                                      ReadReport()))
    for suffix in ("-wal", "-shm"):  # the old file's, which SQLite would read with the new one
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    restored.replace(path)
    hit = lists.match("robinson", "600111222")
    assert hit is not None and hit.note == "asked"
    lists.close()
