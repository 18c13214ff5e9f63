"""Lists: definitions, entries with expiry, audit, CSV import/export, and the in-memory lookup kept fresh."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finrisk.errors import InputFileError, ListConflictError, ListError, ListImportError, ListNotFoundError
from finrisk.rules import _lists_db
from finrisk.rules.lists import ListKind, ListStore, list_key, mask_value
from finrisk.store.relational import Database, datetime_to_us, now_us, open_database

from ._relational import BACKENDS, database_url, fresh_database

PHONE = "13800138000"
T0 = datetime(2026, 3, 1, tzinfo=UTC)
T0_US = datetime_to_us(T0)
HOUR_US = 3_600_000_000


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    opened = fresh_database(request.param, tmp_path)
    yield opened
    opened.close()


@pytest.fixture
def store(db: Database) -> ListStore:
    s = ListStore(db)
    s.create_list("phone_black", "black", "phone", "phones seen in mule rings")
    return s


def _other(db: Database, **kwargs: int | None) -> ListStore:
    """A second store on its own engine: what another process sees."""
    return ListStore(open_database(str(db.engine.url.render_as_string(hide_password=False))), **kwargs)


# -- list definitions -------------------------------------------------------------------------------


def test_create_list_get_and_delete(store: ListStore) -> None:
    info = store.create_list("device_white", ListKind.WHITE, "device_id", created_by="ana")
    assert (info.name, info.kind, info.field, info.created_by, info.entries) == (
        "device_white", ListKind.WHITE, "device_id", "ana", 0)
    store.add("device_white", "D1", "known good", added_by="ana")
    assert [(i.name, i.kind.value, i.entries) for i in store.lists()] == [
        ("device_white", "white", 1), ("phone_black", "black", 0)]
    assert store.list_names() == frozenset({"device_white", "phone_black"})
    store.delete_list("device_white", deleted_by="bo")
    assert store.list_names() == frozenset({"phone_black"})
    assert not store.contains("device_white", "D1", now_us())
    record = store.audit("device_white", limit=1)[0]
    assert (record.action, record.actor, record.old) == (
        "delete_list", "bo", {"kind": "white", "field": "device_id", "description": "", "entries": 1})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("Bad-Name", "black", "phone"), r"name: expected a lower-case identifier .* got 'Bad-Name'"),
        (("ok", "blue", "phone"), r"kind: expected one of black, white, grey, got 'blue'"),
        (("ok", "black", "1phone"), r"field: expected a lower-case identifier .* got '1phone'"),
    ],
)
def test_bad_list_definitions_name_the_field(store: ListStore, args: tuple[str, str, str], message: str) -> None:
    with pytest.raises(ListError, match=message):
        store.create_list(*args)


def test_duplicate_and_unknown_lists(store: ListStore) -> None:
    with pytest.raises(ListConflictError, match=r"name: a list named 'phone_black' exists already"):
        store.create_list("phone_black", "grey", "phone")
    with pytest.raises(ListNotFoundError, match=r"list_name: no list named 'nope'.*phone_black"):
        store.add("nope", PHONE, "x", added_by="a")
    with pytest.raises(ListNotFoundError, match=r"no list named 'nope'"):
        store.delete_list("nope")


# -- entries and expiry -----------------------------------------------------------------------------


def test_contains_respects_expiry_against_event_time(store: ListStore) -> None:
    store.add("phone_black", PHONE, "mule", added_by="ana", expires_at=T0)
    assert store.contains("phone_black", PHONE, T0_US - 1)
    assert not store.contains("phone_black", PHONE, T0_US)  # expired at exactly expires_at
    assert not store.contains("phone_black", PHONE, T0_US + HOUR_US)
    assert not store.contains("phone_black", "13800138001", T0_US - 1)
    assert not store.contains("no_such_list", PHONE, T0_US - 1)


@pytest.mark.parametrize("ttl", [3600, 3600.0, timedelta(hours=1)])
def test_ttls_count_from_now(store: ListStore, ttl: float | timedelta) -> None:
    before = now_us()
    entry = store.add("phone_black", PHONE, "mule", added_by="ana", expires_at=ttl)
    assert entry.expires_at is not None
    assert before + HOUR_US <= datetime_to_us(entry.expires_at) <= now_us() + HOUR_US
    assert store.contains("phone_black", PHONE, before + HOUR_US - 1_000_000)
    assert not store.contains("phone_black", PHONE, now_us() + HOUR_US)


def test_no_expiry_matches_forever(store: ListStore) -> None:
    store.add("phone_black", PHONE, "mule", added_by="ana")
    assert store.contains("phone_black", PHONE, 0) and store.contains("phone_black", PHONE, 1 << 62)


def test_values_are_compared_as_text(store: ListStore) -> None:
    store.add("phone_black", 12345, "numeric id", added_by="a")
    store.add("phone_black", "  777 ", "padded", added_by="a")
    assert store.get("phone_black", "12345") is not None and store.get("phone_black", "777") is not None
    at = now_us()
    assert store.contains("phone_black", "12345", at) and store.contains("phone_black", 12345, at)
    assert store.contains("phone_black", 12345.0, at) and store.contains("phone_black", 777, at)
    assert not store.contains("phone_black", None, at) and not store.contains("phone_black", True, at)
    assert list_key(None) == "" and list_key(False) == ""


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"value": "", "reason": "r"}, r"value: expected a non-empty value, got a str of 0 characters"),
        ({"value": "x" * 300, "reason": "r"}, r"value: expected at most 256 characters"),
        ({"value": PHONE, "reason": " "}, r"reason: expected a non-empty text saying why"),
        ({"value": PHONE, "reason": "r", "expires_at": -5}, r"expires_at: expected a datetime, a TTL in seconds > 0"),
        ({"value": PHONE, "reason": "r", "expires_at": "soon"}, r"expires_at: expected a datetime, a TTL"),
        ({"value": PHONE, "reason": "r", "added_by": ""}, r"added_by: expected a non-empty name"),
    ],
)
def test_bad_entries_name_the_field(store: ListStore, kwargs: dict[str, object], message: str) -> None:
    args = {"added_by": "ana", **kwargs}
    with pytest.raises(ListError, match=message) as info:
        store.add("phone_black", args.pop("value"), args.pop("reason"), **args)  # type: ignore[arg-type]
    assert PHONE not in str(info.value)


def test_adding_again_updates_and_both_are_audited(store: ListStore) -> None:
    first = store.add("phone_black", PHONE, "mule", added_by="ana", expires_at=T0)
    second = store.add("phone_black", PHONE, "mule ring 7", added_by="bo")
    assert (second.added_by, second.created_at, second.updated_by) == ("ana", first.created_at, "bo")
    assert second.expires_at is None and store.contains("phone_black", PHONE, T0_US + HOUR_US)
    update, add = store.audit("phone_black", limit=2)
    assert (add.action, add.actor, add.value, add.old) == ("add", "ana", PHONE, None)
    assert add.new == {"reason": "mule", "expires_at": "2026-03-01T00:00:00Z"}
    assert (update.action, update.actor, update.old, update.new) == (
        "update", "bo", {"reason": "mule", "expires_at": "2026-03-01T00:00:00Z"},
        {"reason": "mule ring 7", "expires_at": None})


def test_remove_is_audited_and_missing_values_are_masked(store: ListStore) -> None:
    store.add("phone_black", PHONE, "mule", added_by="ana")
    store.remove("phone_black", PHONE, removed_by="cy")
    assert not store.contains("phone_black", PHONE, now_us()) and store.get("phone_black", PHONE) is None
    record = store.audit("phone_black", limit=1)[0]
    assert (record.action, record.actor, record.value, record.old) == (
        "remove", "cy", PHONE, {"reason": "mule", "expires_at": None})
    with pytest.raises(ListNotFoundError, match=r"no entry for a str of 11 characters \(value hidden") as info:
        store.remove("phone_black", PHONE, removed_by="cy")
    assert PHONE not in str(info.value)


def test_entries_page_by_value_and_hide_expired(store: ListStore) -> None:
    for i in range(5):
        store.add("phone_black", f"v{i}", "r", added_by="a", expires_at=T0 if i % 2 else None)
    assert [e.value for e in store.entries("phone_black")] == ["v0", "v2", "v4"]  # T0 is in the past
    assert [e.value for e in store.entries("phone_black", include_expired=True, limit=2, offset=1)] == ["v1", "v2"]
    assert store.entries("phone_black", include_expired=True)[1].is_active(T0 - timedelta(seconds=1))
    with pytest.raises(ListError, match=r"limit: expected an integer >= 0, got -1"):
        store.entries("phone_black", limit=-1)


def test_mask_value_keeps_only_the_ends() -> None:
    assert mask_value(PHONE) == "13*******00"
    assert mask_value("110101199003071234") == "110************234"
    assert mask_value("abcd") == "****"


# -- CSV ---------------------------------------------------------------------------------------------


def test_import_is_all_or_nothing_and_names_rows(store: ListStore, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(f"value,reason,expires_at\n{PHONE},mule,\n,empty,\n{PHONE},dup,\nX2,ok,tomorrow\nX3,short\n")
    with pytest.raises(ListImportError) as info:
        store.import_csv("phone_black", bad, added_by="ana")
    assert [str(p) for p in info.value.problems] == [
        "row 3, value: expected a non-empty value",
        "row 4, value: duplicate of row 2 (value hidden)",
        "row 5, expires_at: expected an ISO 8601 time such as 2026-03-01T00:00:00Z or empty, got 'tomorrow'",
        "row 6, row: expected 3 cells, got 2",
    ]
    assert PHONE not in str(info.value) and str(info.value).startswith("bad.csv: 4 bad row(s), nothing imported")
    assert store.entries("phone_black", include_expired=True) == []


def test_import_header_problems(store: ListStore, tmp_path: Path) -> None:
    f = tmp_path / "h.csv"
    f.write_text("phone,expiry\n1,2\n")
    with pytest.raises(ListImportError, match=r"row 1, header: expected a 'value' column.*row 1, header: expected "
                                              r"columns among value, reason, expires_at, got unknown \['phone', 'e"):
        store.import_csv("phone_black", f, added_by="ana")
    with pytest.raises(InputFileError, match=r"nope.csv: no such file"):
        store.import_csv("phone_black", tmp_path / "nope.csv", added_by="ana")
    with pytest.raises(ListNotFoundError, match="no list named 'other'"):
        store.import_csv("other", f, added_by="ana")


def test_import_adds_updates_and_round_trips_through_export(store: ListStore, tmp_path: Path) -> None:
    store.add("phone_black", "A", "old reason", added_by="bo")
    f = tmp_path / "in.csv"
    f.write_text("\ufeffvalue,reason,expires_at\nA,new reason,2030-01-01T00:00:00Z\nB,,\n\nC,x,2020-01-01\n")
    assert store.import_csv("phone_black", f, added_by="ana") == (2, 1)
    a = store.get("phone_black", "A")
    assert a is not None and (a.reason, a.added_by, a.updated_by) == ("new reason", "bo", "ana")
    b = store.get("phone_black", "B")
    assert b is not None and b.reason == "imported from in.csv" and b.expires_at is None
    at = datetime_to_us(datetime(2025, 1, 1, tzinfo=UTC))
    assert store.contains("phone_black", "A", at) and not store.contains("phone_black", "C", at)
    assert store.audit("phone_black", limit=1)[0].new == {"file": "in.csv", "rows": 3, "added": 2, "updated": 1}
    out = tmp_path / "out.csv"
    assert store.export_csv("phone_black", out, include_expired=True) == 3
    assert out.read_text() == (
        "value,reason,expires_at\nA,new reason,2030-01-01T00:00:00.000000Z\nB,imported from in.csv,\n"
        "C,x,2020-01-01T00:00:00.000000Z\n")
    store.create_list("copy", "grey", "phone")
    assert store.import_csv("copy", out, added_by="ana") == (3, 0)
    assert [(e.value, e.reason, e.expires_at) for e in store.entries("copy", include_expired=True)] == [
        (e.value, e.reason, e.expires_at) for e in store.entries("phone_black", include_expired=True)]
    assert store.export_csv("phone_black", tmp_path / "live.csv") == 2  # expired C left out


# -- the in-memory index across processes --------------------------------------------------------------


def test_other_processes_see_changes_within_the_check_interval(store: ListStore, db: Database) -> None:
    eager, lazy = _other(db, check_interval_ms=0), _other(db, check_interval_ms=None)
    at = now_us()
    assert not eager.contains("phone_black", PHONE, at) and not lazy.contains("phone_black", PHONE, at)
    store.add("phone_black", PHONE, "mule", added_by="a")
    store.create_list("ip_grey", "grey", "ip")
    store.add("ip_grey", "10.0.0.1", "proxy", added_by="a")
    assert eager.contains("phone_black", PHONE, at) and eager.contains("ip_grey", "10.0.0.1", at)
    assert not lazy.contains("phone_black", PHONE, at)  # never checks by itself...
    assert lazy.list_names() == frozenset({"phone_black", "ip_grey"})  # ...but list_names always does
    assert lazy.contains("phone_black", PHONE, at)
    store.remove("phone_black", PHONE, removed_by="a")
    store.delete_list("ip_grey")
    lazy.refresh()
    assert not lazy.contains("phone_black", PHONE, at) and not lazy.contains("ip_grey", "10.0.0.1", at)
    assert not eager.contains("phone_black", PHONE, at) and not eager.contains("ip_grey", "10.0.0.1", at)
    eager.db.close()
    lazy.db.close()


def test_a_reader_far_behind_reloads_everything(
    store: ListStore, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_lists_db, "CHANGE_LOG_KEEP", 2)
    reader = _other(db, check_interval_ms=0)
    assert not reader.contains("phone_black", "v0", 0)
    for i in range(5):
        store.add("phone_black", f"v{i}", "r", added_by="a")
    store.remove("phone_black", "v1", removed_by="a")
    assert [reader.contains("phone_black", f"v{i}", 0) for i in range(5)] == [True, False, True, True, True]
    reader.db.close()


def test_a_separate_process_sees_a_write(store: ListStore, db: Database) -> None:
    if db.dialect != "sqlite":
        pytest.skip("one real process is enough to prove the point")
    url = db.engine.url.render_as_string(hide_password=False)
    code = (
        "import sys; from finrisk.store.relational import open_database; from finrisk.rules.lists import ListStore;"
        "s = ListStore(open_database(sys.argv[1]));"
        "s.add('phone_black', sys.argv[2], 'from another process', added_by='job')"
    )
    subprocess.run([sys.executable, "-c", code, url, PHONE], check=True, timeout=60)
    store._next_check_ns = 0  # the check interval has passed
    assert store.contains("phone_black", PHONE, now_us())


_OPS = st.lists(
    st.tuples(st.sampled_from(["add", "remove"]), st.sampled_from(["a", "b", "c", "7"]),
              st.one_of(st.none(), st.integers(min_value=-3, max_value=3))),
    min_size=1, max_size=8,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=_OPS)
def test_a_second_store_agrees_with_a_model_after_any_writes(
    store: ListStore, db: Database, ops: list[tuple[str, str, int | None]]
) -> None:
    reader = _other(db, check_interval_ms=0)
    for value in ("a", "b", "c", "7"):  # start every example from an empty list
        if store.get("phone_black", value) is not None:
            store.remove("phone_black", value, removed_by="t")
    model: dict[str, int | None] = {}
    for op, value, hours in ops:
        if op == "add":
            expires = None if hours is None else T0 + timedelta(hours=hours)
            store.add("phone_black", value, "r", added_by="t", expires_at=expires)
            model[value] = None if expires is None else datetime_to_us(expires)
        elif value in model:
            store.remove("phone_black", value, removed_by="t")
            del model[value]
    for value in ("a", "b", "c", "7", "d"):
        for at in (T0_US - 2 * HOUR_US, T0_US, T0_US + 2 * HOUR_US):
            expected = value in model and (model[value] is None or at < model[value])  # type: ignore[operator]
            assert reader.contains("phone_black", value, at) is expected
            assert store.contains("phone_black", value, at) is expected
    reader.db.close()


def test_database_url_helper_points_at_a_file(tmp_path: Path) -> None:
    assert database_url("sqlite", tmp_path).endswith("state/finrisk.db")
