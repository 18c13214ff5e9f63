"""A credit application: the fraud decision and the credit verdict from one call.

An application is a ``loan_application`` event. It goes through the live decision flow like any
event (features, rules, durable log, idempotency), and the workspace's trained scorecard for that
event type adds the 350-950 score, the dimension sub-scores, reason codes and, through the limit
policy, approve / refer / decline with a limit and a price band. The fraud rules can overrule the
credit verdict: an application the rules reject is declined, one they send to review is referred.
Monthly income comes from the customer's profile (``monthly_income``) when the event has none.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from finrisk.decisions.deployed_models import DeployedModels
from finrisk.decisions.model import Decision
from finrisk.errors import ScorecardError
from finrisk.scoring.limits import LimitPolicy
from finrisk.scoring.registered import ServedScorecard

__all__ = ["credit_verdict"]

_RULES_OVERRULE = {"reject": ("decline", "FRAUD_RULES_REJECT"), "review": ("refer", "FRAUD_RULES_REVIEW")}


def _card_of(decision: Decision, deployed: DeployedModels | None, scorecard: str | None) -> ServedScorecard:
    """The scorecard version that scored ``decision`` (named ``scorecard``, or the first by name)."""
    if deployed is not None:
        for name, version in sorted(decision.versions.get("models", {}).items()):
            if scorecard is None or name == scorecard:
                served = deployed.served(name, version)
                if isinstance(served, ServedScorecard):
                    return served
    wanted = f"scorecard {scorecard!r}" if scorecard else f"a scorecard for {decision.event_type} events"
    raise ScorecardError(f"scorecard: no trained {wanted} is deployed; run 'finrisk scoring train NAME' "
                         "(or 'finrisk scoring deploy NAME VERSION')")


def credit_verdict(decision: Decision, event: Mapping[str, Any], profile: Mapping[str, Any],
                   deployed: DeployedModels | None, policy: LimitPolicy | None = None,
                   scorecard: str | None = None) -> dict[str, Any]:
    """The credit part of the answer to an application already decided as ``decision``."""
    t0 = time.perf_counter_ns()
    card = _card_of(decision, deployed, scorecard)
    result = card.result(event, decision.features)
    income = event.get("monthly_income", profile.get("monthly_income"))
    verdict = (policy or LimitPolicy()).decide(result.score, monthly_income=None if income is None else float(income),
                                               reasons=result.reasons)
    outcome = asdict(verdict)
    overrule = _RULES_OVERRULE.get(decision.action)
    if overrule is not None and outcome["decision"] != "decline":
        outcome["decision"] = overrule[0]
        if overrule[0] == "decline":
            outcome["limit"], outcome["annual_rate"] = 0.0, None
        outcome["reasons"] = [overrule[1], *outcome["reasons"]]
    return {
        "scorecard": card.name,
        "scorecard_version": card.version,
        "score": result.score,
        "probability_bad": result.probability,
        "subscores": result.subscores,
        "reason_codes": result.reasons,
        **outcome,
        "credit_latency_ms": round((time.perf_counter_ns() - t0) / 1e6, 4),
    }
