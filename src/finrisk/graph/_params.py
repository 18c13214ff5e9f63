"""Detector parameters as validated pydantic models whose errors become :class:`GraphInputError`.

Each constraint is declared once (``Field(ge=...)``) and the error message is generated from pydantic's own
report, so the text cannot drift from the rule.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from finrisk.errors import GraphInputError


class Params(BaseModel):
    """Frozen, keyword-only parameters; a bad value raises GraphInputError naming field, rule and value."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or type(self).__name__
            got = repr(err.get("input"))
            rule = err["msg"][0].lower() + err["msg"][1:]
            raise GraphInputError(f"{type(self).__name__}.{field}", f"is invalid: {rule}", got) from None
