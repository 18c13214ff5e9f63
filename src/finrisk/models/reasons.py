"""Reason texts: the inputs that pushed a score up, in words an investigator understands.

A reason is built from an input's contribution to the log-odds score (see
:meth:`finrisk.models.serving.ServedModel.contributions`), the value the event had and the
input's description from the workspace's feature declarations. Only inputs that *raised* the score
become reasons; values are printed as numbers only, so no personal data reaches a reason text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Reason", "reason_text", "top_reasons"]


@dataclass(frozen=True)
class Reason:
    """One input's push on one score."""

    input: str
    value: float | None
    contribution: float
    text: str

    def as_dict(self) -> dict[str, object]:
        return {"input": self.input, "value": self.value, "contribution": round(self.contribution, 6),
                "text": self.text}


def _fmt(value: float | None) -> str:
    if value is None:
        return "missing"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.2f}"


def reason_text(name: str, value: float | None, description: str | None) -> str:
    """``"<description> (feature): <value>"``; a missing value says so (a new device, no history)."""
    label = description.rstrip(".") if description else name.replace("_", " ")
    return f"{label} ({name}): {_fmt(value)}"


def top_reasons(inputs: Sequence[str], x: npt.NDArray[np.float64], contributions: npt.NDArray[np.float64], *,
                k: int = 3, descriptions: Mapping[str, str] | None = None) -> list[Reason]:
    """The ``k`` largest positive contributions, largest first."""
    order = np.argsort(-contributions, kind="stable")
    out: list[Reason] = []
    for i in order[: max(k, 0)]:
        c = float(contributions[i])
        if c <= 0:
            break
        value = None if math.isnan(float(x[i])) else float(x[i])
        name = inputs[i]
        out.append(Reason(name, value, c, reason_text(name, value, (descriptions or {}).get(name))))
    return out
