"""Who may do what: the one permission table, and the FastAPI dependency that enforces it.

Every route but ``/health`` (and the OpenAPI documents) declares the :class:`Permission` it needs
through :func:`require`. A request without ``X-API-Key`` gets 401; a key whose role lacks the
permission gets 403 naming the roles that have it (generated from :data:`PERMISSIONS`, so the
message cannot drift from the table).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Request, Security
from fastapi.security import APIKeyHeader

from finrisk.api.keys import ENV_ADMIN_KEY_ID, ApiKey, ApiKeyStore, Role
from finrisk.errors import AuthenticationError, PermissionDeniedError

__all__ = [
    "API_KEY_HEADER",
    "API_KEY_SCHEME",
    "Authenticator",
    "PERMISSIONS",
    "Permission",
    "authorize",
    "caller",
    "require",
    "roles_with",
]

API_KEY_HEADER = "X-API-Key"
API_KEY_SCHEME = "ApiKey"


class Permission(StrEnum):
    """One thing a caller may do; routes name these, roles grant them."""

    DECIDE = "decide"
    INGEST = "ingest"
    READ_DECISIONS = "read decisions"
    READ_LISTS = "read lists"
    WRITE_LISTS = "change lists"
    READ_RULESETS = "read rule sets"
    WRITE_DRAFTS = "write rule-set drafts"
    PUBLISH_RULESETS = "publish, roll back and shadow rule sets"
    READ_METRICS = "read metrics"
    MANAGE_KEYS = "manage API keys"
    READ_GRAPH = "read the relationship network"


_ANALYST = frozenset(
    {
        Permission.READ_DECISIONS,
        Permission.READ_LISTS,
        Permission.WRITE_LISTS,
        Permission.READ_RULESETS,
        Permission.WRITE_DRAFTS,
        Permission.READ_GRAPH,
    }
)

PERMISSIONS: dict[Role, frozenset[Permission]] = {
    # A scraper of /metrics is a machine, so it gets a service key rather than an analyst's.
    Role.SERVICE: frozenset({Permission.DECIDE, Permission.INGEST, Permission.READ_DECISIONS, Permission.READ_METRICS}),
    Role.ANALYST: _ANALYST,
    Role.ADMIN: frozenset(Permission),
}


class Authenticator:
    """Checks keys against the store, plus the optional admin key from ``FINRISK_API_KEY`` (not stored)."""

    def __init__(self, keys: ApiKeyStore, *, admin_key: str | None = None) -> None:
        self.keys = keys
        self.admin_key = admin_key or None
        self._env_admin = ApiKey(key_id=ENV_ADMIN_KEY_ID, name="FINRISK_API_KEY", role=Role.ADMIN, created_at=None)

    def authenticate(self, key: str | None) -> ApiKey:
        if not key:
            raise AuthenticationError(f"missing API key: send it in the {API_KEY_HEADER} header")
        if self.admin_key is not None and hmac.compare_digest(key.encode(), self.admin_key.encode()):
            return self._env_admin
        record = self.keys.authenticate(key)
        if record is None:
            raise AuthenticationError(f"the {API_KEY_HEADER} header holds an unknown or revoked API key")
        return record


_api_key_header = APIKeyHeader(
    name=API_KEY_HEADER, scheme_name=API_KEY_SCHEME, auto_error=False,
    description="An API key made with `finrisk keys create`; its role decides which endpoints it may call.",
)


def require(permission: Permission) -> Callable[..., Awaitable[ApiKey]]:
    """A dependency that returns the caller's key if its role grants ``permission``."""

    # async: the check is a dict look-up (a cache miss reads one row), so it should not cost a thread hop.
    async def dependency(request: Request, key: Annotated[str | None, Security(_api_key_header)]) -> ApiKey:
        record = authorize(request.app.state.authenticator, key, permission)
        request.state.key_id = record.key_id
        return record

    dependency.__name__ = f"require_{permission.name.lower()}"
    return dependency


def authorize(authenticator: Authenticator, key: str | None, permission: Permission) -> ApiKey:
    """The caller's key if it is valid and its role grants ``permission`` (401 / 403 otherwise)."""
    record = authenticator.authenticate(key)
    if permission not in PERMISSIONS[record.role]:
        needed = " or ".join(roles_with(permission))
        raise PermissionDeniedError(
            f"role {record.role.value!r} may not {permission.value} (needs a key of role {needed})"
        )
    return record


def caller(permission: Permission) -> Any:
    """``Annotated[ApiKey, caller(P)]``: the caller's key, checked for ``P``.

    The roles that hold ``P`` go into the operation's OpenAPI security requirement (OpenAPI 3.1
    lets an API-key requirement list role names), so the spec documents who may call what.
    """
    return Security(require(permission), scopes=[role.value for role in roles_with(permission)])


def roles_with(permission: Permission) -> list[Role]:
    return [role for role in Role if permission in PERMISSIONS[role]]

