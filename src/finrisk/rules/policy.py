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

from bisect import bisect_right
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


_ACTIONS = tuple(Action)
_METHODS = tuple(ChallengeMethod)
_CHALLENGE = Action.CHALLENGE.strength
#: A hit as the table reads it: (action strength or -1, challenge-method strength or -1, score).
Hit = tuple[int, int, float]


def hit_code(action: Action | None, method: ChallengeMethod | None, score: float) -> Hit:
    """A rule's hit in the table's integer form (a challenge without a method asks for sms_otp)."""
    if action is None:
        return (-1, -1, score)
    if action is Action.CHALLENGE:
        return (action.strength, (method or ChallengeMethod.SMS_OTP).strength, score)
    return (action.strength, -1, score)


class PolicyTable:
    """A policy and its levels, precomputed so that deciding is integer arithmetic (it runs per event)."""

    def __init__(self, policy: Policy, levels: Sequence[RiskLevel]) -> None:
        self.policy = policy
        self.levels = tuple(levels)
        self._mins = [lv.min_score for lv in self.levels]
        self._strength = [lv.action.strength for lv in self.levels]
        self._method = [(lv.method or ChallengeMethod.SMS_OTP).strength if lv.action is Action.CHALLENGE else -1
                        for lv in self.levels]
        last = len(self.levels) - 1
        self._floor = [next((i for i, st in enumerate(self._strength) if st >= s), last) for s in range(len(Action))]
        self._by_score = policy is Policy.SCORE

    def decide(self, hits: Sequence[Hit]) -> tuple[Action, ChallengeMethod | None, str, float]:
        score = 0.0
        strength = 0
        method = -1
        for a, m, sc in hits:
            score += sc
            if a > strength:
                strength = a
            if m > method:
                method = m
        level = 0
        if self._by_score:
            level = max(bisect_right(self._mins, score) - 1, 0)
            if self._strength[level] > strength:
                strength = self._strength[level]
        floor = self._floor[strength]
        if floor > level:
            level = floor
        if strength != _CHALLENGE:
            return _ACTIONS[strength], None, self.levels[level].name, score
        if self._by_score and self._method[level] > method:
            method = self._method[level]
        return _ACTIONS[strength], _METHODS[max(method, 0)], self.levels[level].name, score


def decide(
    policy: Policy,
    levels: Sequence[RiskLevel],
    hits: Sequence[tuple[Action | None, ChallengeMethod | None, float]],
) -> Decision:
    """Apply the policy to the hits, each given as (action, challenge method, score)."""
    action, method, level, score = PolicyTable(policy, levels).decide([hit_code(*h) for h in hits])
    return Decision(action, method, level, score)
