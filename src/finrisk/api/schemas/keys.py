"""Shapes of the API-key endpoints."""

from __future__ import annotations

from pydantic import BaseModel, Field

from finrisk.api.keys import Role

__all__ = ["KeyCreateIn", "KeyCreatedOut", "KeyOut"]


class KeyCreateIn(BaseModel):
    name: str = Field(min_length=1, max_length=200, pattern=r"\S", description="Who or what uses the key")
    role: Role


class KeyOut(BaseModel):
    key_id: str
    name: str
    role: Role
    created_at: str | None
    revoked_at: str | None


class KeyCreatedOut(KeyOut):
    key: str = Field(description="The key itself: shown this once, stored only as a hash")
