from __future__ import annotations

import pyarrow as pa
import pytest

from finrisk._yamlfile import parse_yaml
from finrisk.errors import WorkspaceError
from finrisk.events import EntityKind, EventTypeRegistry
from finrisk.events.schema import parse_event_types

BUILTIN = ["registration", "login", "transaction", "loan_application", "repayment",
           "insurance_policy", "claim", "profile_update", "chargeback", "case_disposition"]


def test_builtin_types_are_all_declared() -> None:
    reg = EventTypeRegistry.builtin()
    assert reg.names == BUILTIN
    tx = reg.get("transaction")
    assert tx.field_names[:3] == ("event_id", "event_type", "event_time")
    assert tx.entity_keys["counterparty_account"] is EntityKind.COUNTERPARTY_ACCOUNT
    assert tx.arrow_schema.field("event_time").type == pa.timestamp("us", tz="UTC")
    assert not tx.arrow_schema.field("event_id").nullable
    assert "phone" in reg.get("registration").pii_fields


def _parse(text: str) -> None:
    parse_event_types(parse_yaml(text, "event_types.yaml"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("event_types:\n  login:\n    fields:\n      ok: {type: string}\n      n: {type: int}\n",
         r"event_types.yaml:5: event type 'login', fields.n.type: expected one of 'string', 'integer'"),
        ("event_types:\n  login:\n    fields:\n      n: {type: integer, entity: customer}\n",
         r"event_types.yaml:4: .*an entity key must have type 'string'"),
        ("event_types:\n  login:\n    fields:\n      n: {type: integer, colour: red}\n",
         r"event_types.yaml:4: .*fields.n.colour: unknown key 'colour'"),
        ("event_types:\n  login:\n    fields:\n      event_time: {type: string}\n",
         r"event_types.yaml:4: field 'event_time' is common to every event"),
        ("event_types:\n  Login:\n    fields:\n      a: {type: string}\n",
         r"event_types.yaml:2: event type name 'Login' must be lower-case"),
        ("event_types:\n  login:\n    fields:\n      label_x: {type: string}\n",
         r"event_types.yaml:4: .*reserved for ground-truth labels"),
        ("event_types:\n  login:\n    fields:\n      a: {type: integer, min: 5, max: 1}\n",
         r"event_types.yaml:4: .*'min' \(5.0\) is greater than 'max' \(1.0\)"),
        ("event_types:\n  login:\n    fields: {a: {type: string}\n",
         r"event_types.yaml:\d+: YAML syntax error"),
        ("event_types:\n  login:\n    fields:\n      a: {type: string}\n      a: {type: float}\n",
         r"event_types.yaml:5: duplicate key 'a'"),
        ("types:\n  login: {}\n", r"event_types.yaml:1: expected a top-level 'event_types:' mapping"),
    ],
)
def test_bad_declarations_name_file_line_and_problem(text: str, message: str) -> None:
    with pytest.raises(WorkspaceError, match=message):
        _parse(text)
