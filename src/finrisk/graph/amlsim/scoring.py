"""Node-level precision and recall, overall and per pattern, against the labelled accounts."""

from __future__ import annotations

from typing import Any


def node_scores(flagged: set[Any], labelled: set[Any]) -> dict[str, float | int]:
    """Node-level precision and recall of ``flagged`` against ``labelled`` (both sets of entity ids)."""
    tp = len(flagged & labelled)
    return {"flagged": len(flagged), "labelled": len(labelled), "true_positives": tp,
            "precision": round(tp / len(flagged), 4) if flagged else 0.0,
            "recall": round(tp / len(labelled), 4) if labelled else 0.0}


def pattern_scores(flagged: set[Any], own: set[Any], laundering: set[Any]) -> dict[str, float | int]:
    """Scores against the pattern's ``own`` accounts, plus ``precision_any``: flagged that launder at all."""
    scores = node_scores(flagged, own)
    scores["precision_any"] = node_scores(flagged, laundering)["precision"]
    return scores
