"""Graph alerts kept in the relational store, so the console can open an alert's evidence after the scan.

``finrisk graph scan`` saves every alert with its evidence rows (transfers: source, target, amount, time;
rings: account and identifier kind, never the identifier's value); the network API reads them back by id and
finds the alerts touching a page of accounts through the member table. The tables live in their own
``MetaData`` (made on first use), so the shared schema of lists and rule sets is untouched.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
)

from finrisk.graph.alerts import Alert
from finrisk.graph.build import TransferGraph
from finrisk.graph.identity import IdentityGraph
from finrisk.store.relational import Database, now_us

_Id = BigInteger().with_variant(Integer(), "sqlite")

graph_metadata = MetaData()

graph_alerts = Table(
    "graph_alerts",
    graph_metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("typology", String(32), nullable=False),
    Column("subject", String(256), nullable=False),
    Column("score", Float, nullable=False),
    Column("nodes", Text, nullable=False),
    Column("evidence", Text, nullable=False),
    Column("details", Text, nullable=False),
    Column("scan_from", String(40), nullable=False),
    Column("scan_to", String(40), nullable=False),
    Column("created_at_us", BigInteger, nullable=False),
)

graph_alert_members = Table(
    "graph_alert_members",
    graph_metadata,
    Column("alert_id", _Id, ForeignKey("graph_alerts.id", ondelete="CASCADE"), primary_key=True),
    Column("node", String(256), primary_key=True),
    Index("graph_alert_members_node", "node", "alert_id"),
)

_DUMP = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


@dataclass(frozen=True)
class StoredAlert:
    """One saved alert: members, evidence rows and the scan range it came from."""

    alert_id: int
    typology: str
    subject: str
    score: float
    nodes: list[str]
    evidence: list[dict[str, Any]]
    details: dict[str, Any]
    scan_from: str
    scan_to: str

    def summary(self) -> dict[str, Any]:
        return {"alert_id": self.alert_id, "typology": self.typology, "subject": self.subject,
                "score": self.score, "nodes": self.nodes}


def evidence_rows(
    alert: Alert, transfers: TransferGraph | None, identities: IdentityGraph | None
) -> list[dict[str, Any]]:
    """The alert's evidence edges as plain rows (identity rows name the identifier's kind, not its value)."""
    if not alert.edges:
        return []
    if alert.typology == "ring":
        if identities is None:
            return []
        frame = identities.link_frame(list(alert.edges))
        return [{"kind": "identity", "account": str(a), "identifier_kind": k}
                for a, k in zip(frame["account"].tolist(), frame["kind"].tolist(), strict=True)]
    if transfers is None:
        return []
    frame = transfers.edge_frame(list(alert.edges))
    return [{"kind": "transfer", "source": str(s), "target": str(d), "amount": float(a), "time": int(t)}
            for s, d, a, t in zip(frame["src"].tolist(), frame["dst"].tolist(), frame["amount"].tolist(),
                                  frame["time"].tolist(), strict=True)]


class GraphAlertStore:
    """Save scan alerts and read them back by id or by member account."""

    def __init__(self, db: Database) -> None:
        self.db = db
        with db.write() as conn:
            graph_metadata.create_all(conn)

    def save(self, alerts: Sequence[Alert], *, transfers: TransferGraph | None = None,
             identities: IdentityGraph | None = None, scan_from: str = "", scan_to: str = "") -> list[int]:
        """Store ``alerts`` (one transaction); returns their new ids in order."""
        ids: list[int] = []
        at = now_us()
        with self.db.write() as conn:
            for a in alerts:
                nodes = list(dict.fromkeys(str(n) for n in a.nodes))
                row = conn.execute(insert(graph_alerts).values(
                    typology=a.typology, subject=nodes[0] if nodes else "", score=float(a.score),
                    nodes=orjson.dumps(nodes).decode(),
                    evidence=orjson.dumps(evidence_rows(a, transfers, identities), option=_DUMP).decode(),
                    details=orjson.dumps(a.details, option=_DUMP, default=str).decode(),
                    scan_from=scan_from, scan_to=scan_to, created_at_us=at,
                ))
                key = row.inserted_primary_key
                assert key is not None  # an INSERT always has one
                alert_id = int(key[0])
                ids.append(alert_id)
                if nodes:
                    conn.execute(insert(graph_alert_members), [{"alert_id": alert_id, "node": n} for n in nodes])
        return ids

    def get(self, alert_id: int) -> StoredAlert | None:
        with self.db.read() as conn:
            row = conn.execute(select(graph_alerts).where(graph_alerts.c.id == alert_id)).mappings().first()
        return None if row is None else _stored(row)

    def touching(self, nodes: Iterable[str], *, limit: int = 100) -> list[StoredAlert]:
        """Alerts (newest first, at most ``limit``) with at least one member among ``nodes``."""
        wanted = sorted({str(n) for n in nodes})
        if not wanted:
            return []
        found: set[int] = set()
        with self.db.read() as conn:
            for start in range(0, len(wanted), 500):  # stay under SQLite's bound-parameter limit
                chunk = wanted[start:start + 500]
                found.update(conn.scalars(select(graph_alert_members.c.alert_id)
                                          .where(graph_alert_members.c.node.in_(chunk))).all())
            if not found:
                return []
            newest = sorted(found, reverse=True)[:limit]
            rows = conn.execute(select(graph_alerts).where(graph_alerts.c.id.in_(newest))
                                .order_by(graph_alerts.c.id.desc())).mappings().all()
        return [_stored(r) for r in rows]


def _stored(row: Any) -> StoredAlert:
    return StoredAlert(alert_id=int(row["id"]), typology=row["typology"], subject=row["subject"],
                       score=float(row["score"]), nodes=orjson.loads(row["nodes"]),
                       evidence=orjson.loads(row["evidence"]), details=orjson.loads(row["details"]),
                       scan_from=row["scan_from"], scan_to=row["scan_to"])
