"""The evaluation policy: from the rules that hit to one action, challenge method, risk level and score.

Two policies (``policy:`` in a rule-set file):

- ``strongest``: the strongest action among the rules that hit wins (``pass`` when none hits).
- ``score``: the scores of the rules that hit are summed; the highest risk level whose ``min_score``
  the sum reaches gives the action. A rule that also names an action acts as a hard rule: the final
  action is the stronger of the two (a blacklist hit rejects whatever the score).

Under both, the risk level is the one the score reaches (``score`` only) raised, if needed, to the
lowest level whose action is at least the final action, so a rejected event never shows as "low".
When the final action is ``challenge``, the method is the strongest one asked for by a challenging
rule that hit or by the level (``sms_otp`` < ``security_question`` < ``face``), ``sms_otp`` by default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Action", "ChallengeMethod", "DEFAULT_LEVELS", "Decision", "Policy", "RiskLevel", "decide"]


class Action(StrEnum):
    """What happens to the event, weakest first: ``pass`` < ``challenge`` < ``review`` < ``reject``."""

    PASS = "pass"
    CHALLENGE = "challenge"
    REVIEW = "review"
    REJECT = "reject"

    @property
    def strength(self) -> int:
        return _ACTION_ORDER[self]


_ACTION_ORDER = {a: i for i, a in enumerate(Action)}


class ChallengeMethod(StrEnum):
    """How a challenged customer proves who they are, weakest first."""

    SMS_OTP = "sms_otp"
    SECURITY_QUESTION = "security_question"
    FACE = "face"

    @property
    def strength(self) -> int:
        return _METHOD_ORDER[self]


_METHOD_ORDER = {m: i for i, m in enumerate(ChallengeMethod)}


class Policy(StrEnum):
    """How the rules that hit become one action (see the module docstring)."""

    STRONGEST = "strongest"
    SCORE = "score"


@dataclass(frozen=True)
class RiskLevel:
    """A named risk level: reached at ``min_score``, answered with ``action`` (and ``method`` to challenge)."""

    name: str
    min_score: float
    action: Action
    method: ChallengeMethod | None = None

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"name": self.name, "min_score": self.min_score, "action": self.action.value}
        if self.method is not None:
            out["method"] = self.method.value
        return out


DEFAULT_LEVELS: tuple[RiskLevel, ...] = (
    RiskLevel("low", 0, Action.PASS),
    RiskLevel("medium", 40, Action.CHALLENGE, ChallengeMethod.SMS_OTP),
    RiskLevel("high", 70, Action.REVIEW),
    RiskLevel("critical", 90, Action.REJECT),
)


@dataclass(frozen=True)
class Decision:
    action: Action
    challenge_method: ChallengeMethod | None
    risk_level: str
    score: float


def decide(
    policy: Policy,
    levels: Sequence[RiskLevel],
    hits: Sequence[tuple[Action | None, ChallengeMethod | None, float]],
) -> Decision:
    """Apply the policy to the hits, each given as (action, challenge method, score)."""
    score = float(sum(h[2] for h in hits))
    rule_action = Action.PASS
    for action, _, _ in hits:
        if action is not None and action.strength > rule_action.strength:
            rule_action = action
    level_index = 0
    if policy is Policy.SCORE:
        for i, level in enumerate(levels):
            if score >= level.min_score:
                level_index = i
        by_score = levels[level_index].action
        action = by_score if by_score.strength > rule_action.strength else rule_action
    else:
        action = rule_action
    while level_index < len(levels) - 1 and levels[level_index].action.strength < action.strength:
        level_index += 1
    level = levels[level_index]
    method: ChallengeMethod | None = None
    if action is Action.CHALLENGE:
        asked = [m or ChallengeMethod.SMS_OTP for a, m, _ in hits if a is Action.CHALLENGE]
        if policy is Policy.SCORE and level.action is Action.CHALLENGE:
            asked.append(level.method or ChallengeMethod.SMS_OTP)
        method = max(asked, key=lambda m: m.strength, default=ChallengeMethod.SMS_OTP)
    return Decision(action, method, level.name, score)
