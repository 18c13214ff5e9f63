"""What a decision is: the record returned to the caller, logged durably and read back by id.

A decision is explainable on its own: it carries the features the rules saw, every rule that hit
(with its reason), the shadow rule set's verdict, model scores and the versions of everything that
took part. ``to_dict`` is the JSON shape of the API and of the decision log, and ``from_dict``
reads it back, so a stored decision returns byte-for-byte what the first call returned.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["Decision", "IngestResult", "ShadowVerdict", "new_decision_id"]


def new_decision_id(now_ns: int | None = None) -> str:
    """A time-ordered id (``d_`` + 13 hex digits of µs since the epoch + 10 random hex digits).

    Sorting ids sorts decisions by the time they were made, which keeps the log index append-only.
    The random part only separates decisions of the same microsecond (a ``random`` draw, ~10x
    cheaper than ``os.urandom``'s system call); reading a decision needs an API key anyway.
    """
    us = (time.time_ns() if now_ns is None else now_ns) // 1000
    return f"d_{us:013x}{random.getrandbits(40):010x}"


@dataclass(frozen=True)
class ShadowVerdict:
    """What a shadow rule set would have done; recorded, never acted on."""

    ruleset: str
    action: str
    risk_level: str
    score: float
    rule_hits: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"ruleset": self.ruleset, "action": self.action, "risk_level": self.risk_level,
                "score": self.score, "rule_hits": list(self.rule_hits)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ShadowVerdict:
        return cls(d["ruleset"], d["action"], d["risk_level"], float(d["score"]), tuple(d.get("rule_hits", ())))


@dataclass(slots=True)
class Decision:
    """One event's verdict (read-only by convention: not frozen, because a frozen dataclass's
    ``__init__`` costs ~7 µs per decision for 17 fields, a tenth of the whole decision budget).

    ``action`` is one of ``pass``, ``challenge`` (``challenge_method`` says how), ``review`` or
    ``reject``. ``rule_hits`` are the hit rules in rule-set order, each ``{"rule", "action",
    "score", "reason"}``; ``reasons`` are their reason texts, strongest first. ``versions`` names
    the rule set (``name@version``), the feature set (fingerprint) and each deciding model;
    ``model_scores`` holds the deciding scores by model name (what rules read) and, under
    ``name@version``, versions scored only for the log (challengers not chosen, shadows).
    ``model_reasons`` are the deciding models' top inputs for events not simply passed. ``idempotent``
    is true when this is the stored answer to a retried ``event_id`` (not part of the stored record).
    """

    decision_id: str
    event_id: str
    event_type: str
    event_time: str
    decided_at: str
    action: str
    challenge_method: str | None
    risk_level: str
    score: float
    reasons: tuple[str, ...]
    rule_hits: tuple[dict[str, Any], ...]
    model_scores: dict[str, float]
    features: dict[str, Any]
    versions: dict[str, Any]
    latency_ms: float
    shadow: tuple[ShadowVerdict, ...] = ()
    model_reasons: tuple[str, ...] = ()
    idempotent: bool = field(default=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision_id": self.decision_id,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "event_time": self.event_time,
            "decided_at": self.decided_at,
            "action": self.action,
            "challenge_method": self.challenge_method,
            "risk_level": self.risk_level,
            "score": self.score,
            "reasons": list(self.reasons),
            "rule_hits": list(self.rule_hits),
            "model_scores": dict(self.model_scores),
            "features": dict(self.features),
            "versions": dict(self.versions),
            "latency_ms": self.latency_ms,
            "shadow": [s.to_dict() for s in self.shadow],
            "model_reasons": list(self.model_reasons),
            "idempotent": self.idempotent,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Decision:
        return cls(
            decision_id=d["decision_id"], event_id=d["event_id"], event_type=d["event_type"],
            event_time=d["event_time"], decided_at=d["decided_at"], action=d["action"],
            challenge_method=d.get("challenge_method"), risk_level=d["risk_level"], score=float(d["score"]),
            reasons=tuple(d.get("reasons", ())), rule_hits=tuple(d.get("rule_hits", ())),
            model_scores=dict(d.get("model_scores", {})), features=dict(d.get("features", {})),
            versions=dict(d.get("versions", {})), latency_ms=float(d["latency_ms"]),
            shadow=tuple(ShadowVerdict.from_dict(s) for s in d.get("shadow", ())),
            model_reasons=tuple(d.get("model_reasons", ())),
            idempotent=bool(d.get("idempotent", False)),
        )

    def as_retry(self) -> Decision:
        """The same decision, marked as the stored answer to a retried event."""
        return replace(self, idempotent=True)


@dataclass(frozen=True)
class IngestResult:
    """Outcome of a bulk ``ingest``: counts, and for each refused event its index, id and problems."""

    accepted: int
    duplicates: int
    rejected: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": list(self.rejected)}
