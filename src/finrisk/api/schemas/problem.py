"""The error body every endpoint answers with (see :mod:`finrisk.api.errors`)."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["FieldProblem", "Problem"]


class FieldProblem(BaseModel):
    field: str = Field(description="the field, e.g. amount, entries[3].value or limit (query)")
    expected: str
    got: str = Field(description="what came, described without echoing personal data")


class Problem(BaseModel):
    status: int
    title: str
    error: str = Field(description="the error class, e.g. EventValidationError")
    detail: str
    problems: list[FieldProblem] | None = None
