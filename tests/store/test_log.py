"""The embedded event log: idempotency, conflicts, ordering, replay and reopening."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finrisk.errors import EventConflictError, StoreError
from finrisk.events import EventTypeRegistry, body_hash, canonical_json
from finrisk.events.validate import EventValidator, sent_time_text
from finrisk.store import AppendStatus, EmbeddedEventLog, EventLog
from finrisk.store.embedded_log import body_hash_of, fast_canonical_json, time_to_us

from .._time_text import SENT_LAYOUTS, written
from .conftest import MakeTxn


def test_same_event_twice_is_stored_once(log: EmbeddedEventLog, make_txn: MakeTxn) -> None:
    first = log.append_one(make_txn("e1"))
    again = log.append_one(make_txn("e1"))
    assert first.status is AppendStatus.STORED and first.seq == 1
    assert again.status is AppendStatus.DUPLICATE and again.seq == 1
    assert log.count() == 1


def test_duplicates_within_and_across_batches(log: EmbeddedEventLog, make_txn: MakeTxn) -> None:
    results = log.append([make_txn("a"), make_txn("b"), make_txn("a")])
    assert [r.status for r in results] == [AppendStatus.STORED, AppendStatus.STORED, AppendStatus.DUPLICATE]
    assert results[2].seq == results[0].seq
    later = log.append([make_txn("b"), make_txn("c")])
    assert [(r.status, r.seq) for r in later] == [(AppendStatus.DUPLICATE, 2), (AppendStatus.STORED, 3)]
    assert log.count() == 3


def test_a_batch_with_an_early_logged_id_numbers_its_new_events_after_the_last(
        log: EmbeddedEventLog, make_txn: MakeTxn) -> None:
    log.append([make_txn(f"e{i}") for i in range(5)])
    later = log.append([make_txn("e1"), make_txn("e2", amount=99.0), make_txn("new")])
    assert [(r.status, r.seq) for r in later] == [
        (AppendStatus.DUPLICATE, 2), (AppendStatus.CONFLICT, None), (AppendStatus.STORED, 6)]
    assert log.count() == 6


def test_conflict_names_the_id_and_keeps_the_rest_of_the_batch(log: EmbeddedEventLog, make_txn: MakeTxn) -> None:
    log.append_one(make_txn("e1", amount=10.0))
    results = log.append([make_txn("e2"), make_txn("e1", amount=99.0), make_txn("e3")])
    assert [r.status for r in results] == [AppendStatus.STORED, AppendStatus.CONFLICT, AppendStatus.STORED]
    assert results[1].error is not None and results[1].seq is None and not results[1].ok
    assert log.count() == 3
    stored = log.get("e1")
    assert stored is not None and stored["amount"] == 10.0
    with pytest.raises(EventConflictError, match="event_id 'e1' is already stored with a different body"):
        log.append_one(make_txn("e1", amount=5.0))


def test_conflict_within_one_batch(log: EmbeddedEventLog, make_txn: MakeTxn) -> None:
    results = log.append([make_txn("x", amount=1.0), make_txn("x", amount=2.0)])
    assert [r.status for r in results] == [AppendStatus.STORED, AppendStatus.CONFLICT]


def test_read_replays_in_order_and_round_trips(log: EmbeddedEventLog, make_txn: MakeTxn) -> None:
    events = [make_txn(f"e{i}", amount=float(i)) for i in range(25)]
    log.append(events[:10])
    log.append(events[10:])
    replayed = list(log.read(batch=7))
    assert [seq for seq, _ in replayed] == list(range(1, 26))
    assert [e for _, e in replayed] == events
    assert [seq for seq, _ in log.read(after_seq=20)] == [21, 22, 23, 24, 25]
    assert list(log.read(event_type="login")) == []
    assert log.counts() == {"transaction": 25} and log.last_seq() == 25


def test_reopened_log_keeps_everything(tmp_path: Path, make_txn: MakeTxn) -> None:
    path = tmp_path / "log" / "events.sqlite"
    registry = EventTypeRegistry.builtin()
    with EmbeddedEventLog(path, durability="os", registry=registry) as first:
        first.append([make_txn("a"), make_txn("b")])
    with EmbeddedEventLog(path, durability="fsync", registry=registry) as second:
        assert second.count() == 2
        assert second.append_one(make_txn("c")).seq == 3


def test_labels_are_kept_apart_from_the_body(log: EmbeddedEventLog, make_txn: MakeTxn) -> None:
    log.append([make_txn("a"), make_txn("b")], labels=[{"label_fraud": True}, None])
    assert log.get_labels("a") == {"label_fraud": True}
    assert log.get_labels("b") is None
    stored = log.get("a")
    assert stored is not None and "label_fraud" not in stored
    with pytest.raises(StoreError, match="labels: expected 2 entries"):
        log.append([make_txn("c"), make_txn("d")], labels=[None])


def test_bad_durability_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="durability: expected one of fsync, os, got 'always'"):
        EmbeddedEventLog(tmp_path / "x.sqlite", durability="always")  # type: ignore[arg-type]


def test_hash_helpers_agree_with_events_module(make_txn: MakeTxn) -> None:
    event = make_txn("h")
    assert body_hash_of(canonical_json(event)) == body_hash(event)
    assert time_to_us("1970-01-01T00:00:01Z") == 1_000_000
    assert time_to_us("1969-12-31T23:59:59Z") == -1_000_000


def test_embedded_log_is_an_event_log(log: EmbeddedEventLog) -> None:
    assert isinstance(log, EventLog)


@pytest.mark.parametrize(
    "when", ["2026-01-05T09:00:00Z", "2026-01-05T09:00:00.123456Z", "2026-01-05T11:00:00+02:00", "0001-01-01T00:00:00Z"]
)
def test_fast_canonical_json_is_byte_identical(make_txn: MakeTxn, when: str) -> None:
    from datetime import datetime, timedelta, timezone

    event = make_txn("f", when, amount=1e-7, merchant_id='ü"x')
    assert fast_canonical_json(event) == canonical_json(event)
    odd = dict(event, event_time=datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=3))))
    assert fast_canonical_json(odd) == canonical_json(odd)


_VALIDATOR = EventValidator(EventTypeRegistry.builtin())


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30, 23, 59, 59, 999999)),
       st.sampled_from(SENT_LAYOUTS))
def test_a_time_taken_from_the_sent_text_is_the_canonical_text(when: datetime, layout: str) -> None:
    """The serving path reuses the text a client sent for a UTC time; the bytes (and so the hash that
    recognises retries) must be exactly canonical_json's, whatever the layout or the year."""
    text = written(when, layout)
    body = {"event_id": "e1", "event_type": "transaction", "event_time": text, "txn_type": "payment",
            "account_id": "A1", "amount": 1.5}
    event = _VALIDATOR.validate(body)
    assert fast_canonical_json(event, body) == canonical_json(event) == fast_canonical_json(event)
    assert fast_canonical_json(event, body, sent_time_text(text)) == canonical_json(event)  # the service's call
