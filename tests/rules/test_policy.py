"""The evaluation policy: strongest action, summed scores to levels, hard rules and challenge methods."""

from __future__ import annotations

import pytest

from finrisk.rules.policy import DEFAULT_LEVELS, Action, ChallengeMethod, Policy, RiskLevel, decide

A, C, R, X = Action.PASS, Action.CHALLENGE, Action.REVIEW, Action.REJECT
SMS, QUESTION, FACE = ChallengeMethod.SMS_OTP, ChallengeMethod.SECURITY_QUESTION, ChallengeMethod.FACE


def test_actions_and_methods_are_ordered_by_strength() -> None:
    assert [a.strength for a in (A, C, R, X)] == [0, 1, 2, 3]
    assert [m.strength for m in (SMS, QUESTION, FACE)] == [0, 1, 2]


@pytest.mark.parametrize(("hits", "action", "level"), [
    ([], A, "low"),
    ([(C, None, 0.0)], C, "medium"),
    ([(C, None, 0.0), (R, None, 0.0), (A, None, 0.0)], R, "high"),
    ([(None, None, 95.0)], A, "low"),  # scores do not decide under `strongest`
    ([(X, None, 0.0), (C, FACE, 0.0)], X, "critical"),
])
def test_strongest(hits: list[tuple[Action | None, ChallengeMethod | None, float]], action: Action,
                   level: str) -> None:
    d = decide(Policy.STRONGEST, DEFAULT_LEVELS, hits)
    assert (d.action, d.risk_level) == (action, level)
    assert d.score == sum(h[2] for h in hits)


@pytest.mark.parametrize(("hits", "action", "level", "score"), [
    ([], A, "low", 0.0),
    ([(None, None, 39.0)], A, "low", 39.0),
    ([(None, None, 20.0), (None, None, 20.0)], C, "medium", 40.0),
    ([(None, None, 70.0)], R, "high", 70.0),
    ([(None, None, 200.0)], X, "critical", 200.0),
    ([(None, None, 100.0), (None, None, -30.0)], R, "high", 70.0),  # a whitelist lowers the score
    ([(X, None, 0.0)], X, "critical", 0.0),  # a hard rule: the level follows the action
    ([(R, None, 10.0), (None, None, 95.0)], X, "critical", 105.0),  # the score is stronger
    ([(None, None, -50.0)], A, "low", -50.0),  # below the first level: the first level
])
def test_score(hits: list[tuple[Action | None, ChallengeMethod | None, float]], action: Action, level: str,
               score: float) -> None:
    d = decide(Policy.SCORE, DEFAULT_LEVELS, hits)
    assert (d.action, d.risk_level, d.score) == (action, level, score)


def test_challenge_method_is_the_strongest_asked_for() -> None:
    assert decide(Policy.STRONGEST, DEFAULT_LEVELS, [(C, None, 0)]).challenge_method is SMS
    assert decide(Policy.STRONGEST, DEFAULT_LEVELS, [(C, QUESTION, 0), (C, FACE, 0)]).challenge_method is FACE
    assert decide(Policy.STRONGEST, DEFAULT_LEVELS, [(C, FACE, 0), (R, None, 0)]).challenge_method is None
    levels = (RiskLevel("low", 0, A), RiskLevel("mid", 10, C, QUESTION))
    assert decide(Policy.SCORE, levels, [(None, None, 10)]).challenge_method is QUESTION
    assert decide(Policy.SCORE, levels, [(None, None, 10), (C, FACE, 0)]).challenge_method is FACE


def test_levels_without_a_strong_enough_action_stop_at_the_top() -> None:
    levels = (RiskLevel("low", 0, A), RiskLevel("watch", 50, C))
    d = decide(Policy.STRONGEST, levels, [(X, None, 0.0)])
    assert (d.action, d.risk_level) == (X, "watch")
