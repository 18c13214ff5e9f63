"""The handbook protocol end to end: for each fold, fit each model kind, score the test period.

Kept apart from :mod:`finrisk.models.train` (one fit) and :mod:`finrisk.models.metrics` (one set
of measures) so the CLI, the quality benchmark and the report share exactly one protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from finrisk.errors import ModelError
from finrisk.models.metrics import Scores, evaluate_scores
from finrisk.models.split import Fold, fold_data
from finrisk.models.train import TrainedModel, TrainParams, train_model
from finrisk.models.training_set import TrainingSet

__all__ = ["Evaluation", "FoldResult", "evaluate_protocol"]


@dataclass(frozen=True)
class FoldResult:
    """One model kind on one fold."""

    fold: Fold
    kind: str
    scores: Scores
    train_rows: int
    train_frauds: int

    def as_dict(self) -> dict[str, Any]:
        return {"fold": self.fold.describe(), "kind": self.kind, "train_rows": self.train_rows,
                "train_frauds": self.train_frauds, **self.scores.as_dict()}


@dataclass
class Evaluation:
    """All fold results, plus the last fold's test labels and scores per kind (for curves)."""

    results: list[FoldResult] = field(default_factory=list)
    last_labels: npt.NDArray[np.int_] | None = None
    last_scores: dict[str, npt.NDArray[np.float64]] = field(default_factory=dict)
    last_models: dict[str, TrainedModel] = field(default_factory=dict)

    def mean(self, kind: str) -> dict[str, float]:
        """Mean of each measure over the folds of ``kind`` (NaN folds skipped)."""
        rows = [r.scores.as_dict() for r in self.results if r.kind == kind]
        keys = ("auc", "average_precision", "card_precision_at_100", "card_precision_at_100_ceiling",
                "recall_at_1pct_fpr",
                "fraud_amount_caught_1pct")
        return {k: round(float(np.nanmean([float(r[k]) for r in rows])), 4) if rows else float("nan")
                for k in keys}

    def kinds(self) -> list[str]:
        return list(dict.fromkeys(r.kind for r in self.results))


def evaluate_protocol(ts: TrainingSet, folds: Sequence[Fold], params: Sequence[TrainParams]) -> Evaluation:
    """Fit every ``params`` on every fold's training rows; measure on its test rows."""
    out = Evaluation()
    for fold in folds:
        data = fold_data(ts, fold)
        if data.test.empty or data.train.empty:
            raise ModelError(f"fold {fold.describe()}: no {'training' if data.train.empty else 'test'} events; "
                             "the data covers " f"{ts.frame['event_time'].min():%Y-%m-%d}.."
                             f"{ts.frame['event_time'].max():%Y-%m-%d}")
        y = data.y_train.to_numpy()
        for p in params:
            model = train_model(ts.x(data.train), y, inputs=ts.inputs, params=replace(p))
            scores = model.predict(ts.x(data.test))
            labels = data.y_test.to_numpy()
            out.results.append(FoldResult(fold, p.kind, evaluate_scores(data.test, labels, scores),
                                          train_rows=len(y), train_frauds=int(y.sum())))
            out.last_labels = labels
            out.last_scores[p.kind] = scores
            out.last_models[p.kind] = model
    return out
