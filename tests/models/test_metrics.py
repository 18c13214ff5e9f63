"""Fraud metrics against hand-computed values and scikit-learn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from finrisk.models.metrics import card_precision_at_k, evaluate_scores, fraud_amount_caught, recall_at_fpr


def test_card_precision_counts_cards_per_day_not_transactions() -> None:
    days = pd.Series(pd.to_datetime(["2026-01-01 10:00", "2026-01-01 11:00", "2026-01-01 12:00",
                                     "2026-01-02 09:00", "2026-01-02 10:00"], utc=True))
    cards = pd.Series(["A", "A", "B", "A", "C"])
    scores = [0.9, 0.8, 0.7, 0.1, 0.95]
    labels = [1, 1, 0, 1, 0]
    # day 1: top-2 cards A (fraud), B (not) -> 1/2; day 2: C (not), A (fraud) -> 1/2
    assert card_precision_at_k(days, cards, scores, labels, k=2, remove_detected=False) == pytest.approx(0.5)
    # the handbook's definition: A, found on day 1, is blocked and leaves day 2's ranking: C -> 0/2
    assert card_precision_at_k(days, cards, scores, labels, k=2) == pytest.approx(0.25)
    # top-1: day 1 A -> 1; day 2 C -> 0
    assert card_precision_at_k(days, cards, scores, labels, k=1) == pytest.approx(0.5)
    # a card missed on day 1 (not in the top-1) stays in day 2's ranking
    missed = card_precision_at_k(days, pd.Series(["B", "B", "A", "A", "C"]), [0.1, 0.1, 0.9, 0.99, 0.5],
                                 [1, 1, 0, 0, 0], k=1)
    assert missed == pytest.approx(0.0)
    late = card_precision_at_k(days, pd.Series(["B", "B", "A", "B", "C"]), [0.1, 0.1, 0.9, 0.99, 0.5],
                               [1, 1, 0, 1, 0], k=1)
    assert late == pytest.approx(0.5)  # day 1 A (not), day 2 B (fraud, not detected before)


def test_recall_at_fpr_and_amount_caught() -> None:
    y = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 0])
    s = np.array([0.9, 0.8, 0.7, 0.1, 0.2, 0.3, 0.05, 0.0, 0.01, 0.02])
    assert recall_at_fpr(y, s, fpr=0.0) == pytest.approx(0.5)
    assert recall_at_fpr(y, s, fpr=0.125) == pytest.approx(1.0)
    amounts = np.array([100.0, 5, 300, 1, 1, 1, 1, 1, 1, 1])
    assert fraud_amount_caught(y, s, amounts, review_share=0.1) == pytest.approx(0.25)
    assert fraud_amount_caught(y, s, amounts, review_share=0.3) == pytest.approx(1.0)


def test_evaluate_scores_matches_sklearn() -> None:
    from sklearn.metrics import average_precision_score, roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.random(500) < 0.1
    s = rng.random(500) + y * 0.5
    test = pd.DataFrame({"event_time": pd.date_range("2026-01-01", periods=500, freq="h", tz="UTC"),
                         "entity": [f"c{i % 50}" for i in range(500)], "amount": rng.random(500) * 100})
    out = evaluate_scores(test, y, s)
    assert out.auc == pytest.approx(roc_auc_score(y, s)) and out.frauds == int(y.sum())
    assert out.average_precision == pytest.approx(average_precision_score(y, s))
