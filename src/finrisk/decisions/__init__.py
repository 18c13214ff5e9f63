"""The real-time flow: event -> features -> models -> rules -> action, durably logged."""

from __future__ import annotations

from finrisk.decisions.model import Decision, IngestResult, ShadowVerdict, new_decision_id

__all__ = ["Decision", "IngestResult", "ShadowVerdict", "new_decision_id"]
