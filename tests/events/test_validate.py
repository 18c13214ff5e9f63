from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finrisk.errors import EventValidationError, UnknownEventTypeError
from finrisk.events import EventTypeRegistry, EventValidator, body_hash, canonical_json, format_timestamp, format_us
from finrisk.events.validate import sent_time_text

from .._time_text import SENT_LAYOUTS, written


@pytest.fixture(scope="module")
def validator() -> EventValidator:
    return EventValidator(EventTypeRegistry.builtin())


def _payment(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": "tx-1",
        "event_type": "transaction",
        "event_time": "2026-01-05T09:13:22Z",
        "txn_type": "payment",
        "account_id": "A1",
        "amount": 12.5,
    }
    body.update(over)
    return body


def test_valid_event_is_normalised(validator: EventValidator) -> None:
    e = validator.validate(_payment(amount=12))
    assert e["amount"] == 12.0 and isinstance(e["amount"], float)
    assert e["event_time"] == datetime(2026, 1, 5, 9, 13, 22, tzinfo=UTC)
    assert e["merchant_id"] is None  # declared optional fields are present as None


def test_offsets_are_converted_to_utc(validator: EventValidator) -> None:
    e = validator.validate(_payment(event_time="2026-01-05T17:13:22+08:00"))
    assert e["event_time"] == datetime(2026, 1, 5, 9, 13, 22, tzinfo=UTC)


def test_every_problem_is_reported_at_once(validator: EventValidator) -> None:
    bad = _payment(amount="lots", txn_type="gift", event_time="yesterday", colour="red")
    del bad["account_id"]
    with pytest.raises(EventValidationError, match=r"invalid transaction event \(5 problem") as info:
        validator.validate(bad)
    problems = {p.field: p for p in info.value.problems}
    assert set(problems) == {"amount", "txn_type", "event_time", "account_id", "colour"}
    assert problems["amount"].expected == "a number"
    assert problems["amount"].got == "'lots' (str)"
    assert problems["txn_type"].expected == "one of payment, transfer, withdrawal, salary"
    assert problems["account_id"].expected == "a value (required)"
    assert problems["colour"].expected == "no such field in transaction events"
    assert "ISO 8601" in problems["event_time"].expected


def test_range_and_type_checks(validator: EventValidator) -> None:
    with pytest.raises(EventValidationError, match=r"amount: expected float >= 0, got -3") as info:
        validator.validate(_payment(amount=-3))
    assert len(info.value.problems) == 1
    with pytest.raises(EventValidationError, match=r"amount: expected a number, got True \(bool\)"):
        validator.validate(_payment(amount=True))
    with pytest.raises(EventValidationError, match=r"amount: expected a finite number"):
        validator.validate(_payment(amount=float("nan")))
    login = {"event_id": "l1", "event_type": "login", "event_time": "2026-01-05T09:00:00Z",
             "customer_id": "C1", "success": "yes"}
    with pytest.raises(EventValidationError, match=r"success: expected true or false, got 'yes'"):
        validator.validate(login)


def test_entity_keys_must_not_be_blank(validator: EventValidator) -> None:
    with pytest.raises(EventValidationError, match=r"account_id: expected a non-empty string \(account key\)"):
        validator.validate(_payment(account_id="  "))


def test_pii_values_never_echoed(validator: EventValidator) -> None:
    body = {"event_id": "r1", "event_type": "registration", "event_time": "2026-01-05T09:00:00Z",
            "customer_id": "C1", "account_id": "A1", "phone": 13800138000, "id_number": 110101199003077777}
    with pytest.raises(EventValidationError) as info:
        validator.validate(body)
    text = str(info.value)
    assert "13800138000" not in text and "110101199003077777" not in text
    assert "value hidden: personal data" in text


def test_unknown_event_type_lists_known_types(validator: EventValidator) -> None:
    with pytest.raises(UnknownEventTypeError, match=r"event_type: expected one of .*login.*got 'logon'"):
        validator.validate({"event_type": "logon"})


def test_non_object_body(validator: EventValidator) -> None:
    with pytest.raises(EventValidationError, match=r"\(body\): expected a JSON object"):
        validator.validate([1, 2])  # type: ignore[arg-type]


def test_integer_field_accepts_integral_float_only(validator: EventValidator) -> None:
    base = {"event_id": "p1", "event_type": "repayment", "event_time": "2026-01-05T09:00:00Z",
            "loan_id": "L1", "customer_id": "C1", "amount_due": 10, "amount_paid": 10, "days_overdue": 0}
    assert validator.validate({**base, "installment": 2.0})["installment"] == 2
    with pytest.raises(EventValidationError, match=r"installment: expected an integer, got 2.5"):
        validator.validate({**base, "installment": 2.5})
    with pytest.raises(EventValidationError, match=r"installment: expected integer >= 1, got 0"):
        validator.validate({**base, "installment": 0})


def test_hash_ignores_spelling_but_not_content(validator: EventValidator) -> None:
    a = validator.validate(_payment(amount=5))
    b = validator.validate(_payment(amount=5.0, event_time="2026-01-05T17:13:22+08:00", merchant_id=None))
    c = validator.validate(_payment(amount=5.01))
    assert body_hash(a) == body_hash(b)
    assert body_hash(a) != body_hash(c)
    assert b'"event_time":"2026-01-05T09:13:22.000000Z"' in canonical_json(a)


@given(amount=st.floats(min_value=0, max_value=1e12, allow_nan=False), cid=st.text(min_size=1).filter(str.strip))
def test_valid_payments_round_trip_through_canonical_json(amount: float, cid: str) -> None:
    import orjson

    v = EventValidator(EventTypeRegistry.builtin())
    e = v.validate(_payment(amount=amount, customer_id=cid))
    again = v.validate(orjson.loads(canonical_json(e)))
    assert again == e


@given(st.datetimes(timezones=st.just(UTC)))
def test_format_us_is_format_timestamp_of_the_same_instant(dt: datetime) -> None:
    us = (dt - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    assert format_us(us) == format_timestamp(dt)


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30, 23, 59, 59, 999999)),
       st.sampled_from(SENT_LAYOUTS))
def test_the_sent_time_text_is_the_parsed_times_own_text(validator: EventValidator, when: datetime,
                                                         layout: str) -> None:
    """Decisions take the event time's text from what the client sent; it must be exactly the text
    of the time the validator parsed from it, whatever the layout or the year (else None)."""
    text = written(when, layout)
    event = validator.validate(_payment(event_time=text))
    reused = sent_time_text(text)
    if reused is not None:
        assert reused == format_timestamp(event["event_time"])
    else:
        assert not text.endswith("Z") or " " in text or when.year < 1000
    assert sent_time_text(event["event_time"]) is None  # a datetime: nothing sent to reuse


def test_only_the_canonical_layouts_are_reused() -> None:
    assert sent_time_text("2026-01-05T09:00:00Z") == "2026-01-05T09:00:00.000000Z"
    assert sent_time_text("2026-01-05T09:00:00.123Z") == "2026-01-05T09:00:00.123000Z"
    assert sent_time_text("2026-01-05T09:00:00.123456Z") == "2026-01-05T09:00:00.123456Z"
    for other in ["2026-01-05T09:00:00.1234Z", "0999-01-05T09:00:00Z", "2026-01-05T09:00:00+00:00",
                  "2026-01-05T09:00:00.123456Z\n", "２０２６-01-05T09:00:00Z", None, 5]:
        assert sent_time_text(other) is None


@pytest.mark.parametrize("blank", ["", " ", "\t\n", "\u3000", "\xa0 \u2028"])
def test_a_key_of_any_whitespace_is_blank_and_other_strings_are_not(validator: EventValidator, blank: str) -> None:
    with pytest.raises(EventValidationError, match=r"account_id: expected a non-empty string \(account key\)"):
        validator.validate(_payment(account_id=blank))
    assert validator.validate(_payment(account_id=blank + "A1"))["account_id"] == blank + "A1"
    with pytest.raises(EventValidationError, match=r"txn_type: expected one of "):
        validator.validate(_payment(txn_type=blank or "payment "))
