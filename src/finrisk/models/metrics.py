"""The measures fraud teams use, on held-out events.

- ROC AUC and average precision (scikit-learn's, the handbook's definitions);
- Card Precision@k: each day, rank entities (cards) by their highest score that day, take the
  top ``k`` and count how many had a fraud that day; the mean over days (the handbook's CP@k:
  an investigator can check k cards a day). As in the handbook, a card found compromised in a
  day's top ``k`` is blocked: it leaves the ranking of the following days
  (``remove_detected=False`` keeps it, and then it can count again every day);
- recall at a fixed false-positive rate (the share of fraud caught when ``fpr`` of legitimate
  events are flagged);
- fraud amount caught at a review budget (the share of the fraud *amount* among the top
  ``review_share`` of events by score).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

__all__ = ["Scores", "card_precision_at_k", "evaluate_scores", "fraud_amount_caught", "recall_at_fpr"]


def card_precision_at_k(days: pd.Series, entities: pd.Series, scores: npt.ArrayLike, labels: npt.ArrayLike,
                        *, k: int = 100, remove_detected: bool = True) -> float:
    """Mean over days of (fraudulent entities among the day's top-``k`` entities) / ``k``.

    With ``remove_detected`` (the handbook's definition) an entity found fraudulent in a day's top
    ``k`` is left out of the later days.
    """
    frame = pd.DataFrame({"day": pd.to_datetime(days).dt.floor("D").to_numpy(), "entity": entities.to_numpy(),
                          "score": np.asarray(scores, dtype=float), "label": np.asarray(labels, dtype=int)})
    frame["entity"] = frame["entity"].fillna("<none>")
    per = frame.groupby(["day", "entity"], sort=False).agg(score=("score", "max"), label=("label", "max"))
    per = per.reset_index().sort_values(["day", "score"], ascending=[True, False], kind="stable")
    if not remove_detected:
        top = per.groupby("day", sort=True).head(k)
        daily = top.groupby("day")["label"].sum() / k
        return float(daily.mean()) if len(daily) else float("nan")
    detected: set[object] = set()
    shares = []
    for _, day in per.groupby("day", sort=True):
        top = day[~day["entity"].isin(detected)].head(k)
        found = top.loc[top["label"] == 1, "entity"]
        shares.append(len(found) / k)
        detected.update(found)
    return float(np.mean(shares)) if shares else float("nan")


def recall_at_fpr(labels: npt.ArrayLike, scores: npt.ArrayLike, *, fpr: float = 0.01) -> float:
    """The highest true-positive rate reachable with a false-positive rate <= ``fpr``."""
    fp, tp, _ = roc_curve(np.asarray(labels), np.asarray(scores))
    return float(tp[fp <= fpr].max())


def fraud_amount_caught(labels: npt.ArrayLike, scores: npt.ArrayLike, amounts: npt.ArrayLike, *,
                        review_share: float = 0.01) -> float:
    """Share of the total fraud amount in the top ``review_share`` of events by score."""
    y = np.asarray(labels, dtype=bool)
    a = np.nan_to_num(np.asarray(amounts, dtype=float))
    total = float(a[y].sum())
    if total == 0:
        return float("nan")
    n = max(1, int(round(review_share * len(y))))
    top = np.argsort(-np.asarray(scores, dtype=float), kind="stable")[:n]
    return float(a[top][y[top]].sum() / total)


@dataclass(frozen=True)
class Scores:
    """One model's figures on one test period."""

    auc: float
    average_precision: float
    card_precision_at_100: float
    card_precision_at_100_ceiling: float  # a perfect ranking's CP@100: fraud entities per day / 100, capped at 1
    recall_at_1pct_fpr: float
    fraud_amount_caught_1pct: float
    events: int
    frauds: int

    def as_dict(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def evaluate_scores(test: pd.DataFrame, labels: npt.ArrayLike, scores: npt.ArrayLike, *, k: int = 100) -> Scores:
    """Every measure above for one test period (``test`` has event_time, entity, amount)."""
    y = np.asarray(labels, dtype=int)
    s = np.asarray(scores, dtype=float)
    both = 0 < y.sum() < len(y)
    return Scores(
        auc=float(roc_auc_score(y, s)) if both else float("nan"),
        average_precision=float(average_precision_score(y, s)) if both else float("nan"),
        card_precision_at_100=card_precision_at_k(test["event_time"], test["entity"], s, y, k=k),
        card_precision_at_100_ceiling=card_precision_at_k(test["event_time"], test["entity"], y, y, k=k),
        recall_at_1pct_fpr=recall_at_fpr(y, s, fpr=0.01) if both else float("nan"),
        fraud_amount_caught_1pct=fraud_amount_caught(y, s, test["amount"], review_share=0.01),
        events=int(len(y)),
        frauds=int(y.sum()),
    )
