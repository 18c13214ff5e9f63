"""The HTTP decision API (FastAPI): ``create_app(service, keys)``; served by ``finrisk serve``."""

from __future__ import annotations

from finrisk.api.app import create_app
from finrisk.api.auth import PERMISSIONS, Permission
from finrisk.api.deps import ServiceHolder
from finrisk.api.keys import ApiKey, ApiKeyStore, Role

__all__ = ["ApiKey", "ApiKeyStore", "PERMISSIONS", "Permission", "Role", "ServiceHolder", "create_app"]
