"""Request and response shapes of decisions and events."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DecisionOut", "EventIn", "IngestOut", "RuleHitOut", "ShadowOut"]

MAX_BULK_EVENTS = 10_000


class EventIn(BaseModel):
    """One event: the common fields plus its type's own fields (see the workspace's event_types.yaml).

    Only the common fields are checked here; the decision service checks the rest against the
    event type and reports every problem at once.
    """

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [{"event_id": "e-20260105-000123", "event_type": "transaction",
                          "event_time": "2026-01-05T09:13:22Z", "customer_id": "C000123",
                          "account_id": "A000123", "amount": 120.5, "currency": "CNY"}]
        },
    )

    event_id: str = Field(min_length=1, max_length=200, description="Idempotency key: a retry returns the "
                          "stored decision; the same id with a different body is refused (409).")
    event_type: str = Field(min_length=1, max_length=100, description="A type declared in the workspace.")
    event_time: str = Field(min_length=1, max_length=64, description="ISO 8601; UTC when no offset is given.")


class RuleHitOut(BaseModel):
    rule: str
    action: str
    score: float
    reason: str


class ShadowOut(BaseModel):
    ruleset: str
    action: str
    risk_level: str
    score: float
    rule_hits: list[dict[str, Any]]


class DecisionOut(BaseModel):
    """A decision as returned and stored (``finrisk.decisions.model.Decision.to_dict``)."""

    decision_id: str
    event_id: str
    event_type: str
    event_time: str
    decided_at: str
    action: str = Field(description="pass, challenge, review or reject")
    challenge_method: str | None = Field(description="how to challenge (sms_otp, face, security_question)")
    risk_level: str
    score: float
    reasons: list[str] = Field(description="reason texts of the rules that hit, strongest first")
    rule_hits: list[dict[str, Any]] = Field(description="each {rule, action, score, reason}, in rule-set order")
    model_scores: dict[str, float]
    features: dict[str, Any] = Field(description="the feature values the rules saw")
    versions: dict[str, Any] = Field(description="rule set (name@version), feature set and models")
    latency_ms: float
    shadow: list[ShadowOut] = Field(description="what shadow rule sets would have done (never acted on)")
    model_reasons: list[str] = Field(default_factory=list, description="the deciding fraud models' top "
                                     "contributing inputs, for events not simply passed")
    idempotent: bool = Field(description="true when this is the stored answer to a retried event_id")


class IngestOut(BaseModel):
    accepted: int
    duplicates: int
    rejected: list[dict[str, Any]] = Field(description="each refused event's index, id and problems")
