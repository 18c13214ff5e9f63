"""A small real workspace for API tests: built-in event types, demo features, a three-rule set, one list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from finrisk.config import Workspace, init_workspace

RULES = """\
name: payments
description: API test rules.
policy: strongest
rules:
  - name: big_amount
    description: A large amount.
    events: [transaction]
    when: event.amount > 1000
    action: review
    score: 50
    reason: "Amount {event.amount} is above 1000"
  - name: blocked_device
    description: A device on the blacklist.
    when: lists.bad_devices.contains(event.device_id)
    action: reject
    score: 100
    reason: Device is blacklisted
"""

LISTS = """\
lists:
  bad_devices: {kind: black, field: device_id, description: Devices seen in confirmed fraud.}
"""


def make_workspace(root: Path) -> Workspace:
    ws = init_workspace(root)
    (root / "rules.yaml").write_text(RULES, encoding="utf-8")
    (root / "lists.yaml").write_text(LISTS, encoding="utf-8")
    return ws


def txn(eid: str, *, amount: float = 10.0, customer: str = "C1", minute: int = 0, **extra: Any) -> dict[str, Any]:
    return {"event_id": eid, "event_type": "transaction", "event_time": f"2026-01-05T09:{minute:02d}:00Z",
            "txn_type": "payment", "customer_id": customer, "account_id": f"A-{customer}", "amount": amount,
            **extra}
