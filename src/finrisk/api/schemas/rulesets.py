"""Shapes of the rule-set endpoints: drafts, versions, publish, rollback, shadow and diff."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = [
    "MAX_VERSION", "DiffOut", "DraftIn", "DraftOut", "PublishIn", "RollbackIn", "RuleChangeOut", "RuleSetSummaryOut",
    "ShadowIn", "VersionOut",
]

MAX_TEXT = 1_000_000
MAX_VERSION = 2**31  # far above any real history; keeps ids inside every database's integer type


class DraftIn(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_TEXT, description="the rule set's YAML text")


class DraftOut(BaseModel):
    name: str
    text: str
    author: str
    saved_at: str


class PublishIn(BaseModel):
    message: str = Field(min_length=1, max_length=2000, pattern=r"\S", description="why this version")
    text: str | None = Field(default=None, min_length=1, max_length=MAX_TEXT,
                             description="publish this text instead of the current draft")


class RollbackIn(BaseModel):
    to_version: int = Field(ge=1, le=MAX_VERSION,
                            description="the version whose content becomes live again (as a new version)")
    message: str = Field(min_length=1, max_length=2000, pattern=r"\S")


class ShadowIn(BaseModel):
    version: int | None = Field(ge=1, le=MAX_VERSION, description="the version to evaluate in shadow, or null to stop")


class VersionOut(BaseModel):
    name: str
    version: int
    content_hash: str
    author: str
    message: str
    created_at: str
    text: str | None = None


class RuleSetSummaryOut(BaseModel):
    name: str
    published: VersionOut | None
    shadow: int | None
    has_draft: bool


class RuleChangeOut(BaseModel):
    rule: str
    change: str = Field(description="added, removed or changed")
    keys: list[str]


class DiffOut(BaseModel):
    name: str
    a: int
    b: int
    unified: str
    summarised: bool
    changes: list[RuleChangeOut]
    settings: list[str]
