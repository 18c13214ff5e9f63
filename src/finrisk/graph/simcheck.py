"""Score the scan against a simulated world's ground truth (``finrisk simulate`` output folder).

Counting, per pattern, at the account level: the *labelled* accounts are those ``reference/entity_labels`` gives
that pattern (customers are mapped to their accounts); the *flagged* accounts are members of the alerts of the
typology meant to catch it (fund_loop -> loop, mule_fan_in -> fan_in, fraud_ring -> ring). Recall is per
pattern; precision counts a flagged account as right when it carries the label of any pattern that typology is
meant for: rings are also how organised loan fraud and marketing-abuse groups show (they share devices and IPs
by construction), so a ring of those is a true ring, not a false alarm.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from finrisk.errors import InputFileError
from finrisk.graph.alerts import flagged_nodes
from finrisk.graph.amlsim import node_scores
from finrisk.graph.scan import ScanParams, ScanResult, scan

PATTERN_TYPOLOGY = {"fund_loop": "loop", "mule_fan_in": "fan_in", "fraud_ring": "ring"}
TYPOLOGY_PATTERNS = {"loop": ("fund_loop",), "fan_in": ("mule_fan_in",),
                     "ring": ("fraud_ring", "loan_fraud", "marketing_abuse")}


def _read(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise InputFileError(f"{path}: not found (is this a `finrisk simulate` folder?)")
    return pd.read_parquet(path)


def labelled_accounts(world: Path) -> dict[str, set[Any]]:
    """Pattern -> labelled account ids (customer labels mapped through the customer table)."""
    labels = _read(world / "reference" / "entity_labels.parquet")
    customers = _read(world / "reference" / "customers.parquet")[["customer_id", "account_id"]]
    new_accounts = pd.concat([_read(world / "events" / "registration")[["customer_id", "account_id"]], customers])
    account_of = dict(zip(new_accounts["customer_id"], new_accounts["account_id"], strict=True))
    out: dict[str, set[Any]] = {}
    for pattern in {p for ps in TYPOLOGY_PATTERNS.values() for p in ps}:
        rows = labels[labels["pattern"] == pattern]
        acc = set(rows.loc[rows["entity_type"] == "account", "entity_id"])
        acc |= {account_of[c] for c in rows.loc[rows["entity_type"] == "customer", "entity_id"] if c in account_of}
        out[pattern] = acc
    return out


def scan_world(world: str | Path, params: ScanParams | None = None) -> tuple[ScanResult, dict[str, Any]]:
    """Scan a simulated world and score each pattern (see the module docstring for how it is counted)."""
    root = Path(world)
    tx = _read(root / "events" / "transaction")
    transfers = tx[tx["txn_type"] == "transfer"]
    identity = [_read(root / "events" / name) for name in ("registration", "loan_application")]
    result = scan(transfers, identity_frames=identity, params=params)
    truth = labelled_accounts(root)
    scores: dict[str, Any] = {}
    for pattern, typ in PATTERN_TYPOLOGY.items():
        flagged = flagged_nodes(result.alerts, typ)
        meant = set().union(*(truth[p] for p in TYPOLOGY_PATTERNS[typ]))
        recall = node_scores(flagged, truth[pattern])
        scores[pattern] = {**recall, "precision": node_scores(flagged, meant)["precision"]}
    return result, scores
