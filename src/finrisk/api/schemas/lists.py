"""Shapes of the list endpoints (black, white and grey lists on entity keys)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field, model_validator

from finrisk.rules.lists import ListKind

__all__ = ["AuditOut", "EntryIn", "EntryOut", "ListCreateIn", "ListOut"]


class ListCreateIn(BaseModel):
    name: str = Field(min_length=1, max_length=64, description="a lower-case identifier, e.g. device_blacklist")
    kind: ListKind
    field: str = Field(min_length=1, max_length=64, description="the entity field it holds, e.g. device_id")
    description: str = Field(default="", max_length=2000)


class ListOut(BaseModel):
    name: str
    kind: ListKind
    field: str
    description: str
    created_by: str
    created_at: datetime
    entries: int = Field(description="entries on the list, expired ones included")


class EntryIn(BaseModel):
    value: str = Field(min_length=1, max_length=500, description="the entity value (compared as text)")
    reason: str = Field(min_length=1, max_length=2000, pattern=r"\S", description="why it is on the list")
    expires_at: AwareDatetime | None = Field(default=None, description="when it stops matching (with offset)")
    ttl_seconds: float | None = Field(default=None, gt=0, le=100 * 365 * 86400,
                                      description="or: seconds from now until it stops matching")

    @model_validator(mode="after")
    def _one_expiry(self) -> EntryIn:
        if self.expires_at is not None and self.ttl_seconds is not None:
            raise ValueError("give expires_at or ttl_seconds, not both")
        return self


class EntryOut(BaseModel):
    list_name: str
    value: str
    reason: str
    added_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime
    expires_at: datetime | None


class AuditOut(BaseModel):
    id: int
    at: str
    actor: str
    object_type: str
    object_name: str
    action: str
    value: str | None
    old: dict[str, Any] | None
    new: dict[str, Any] | None
