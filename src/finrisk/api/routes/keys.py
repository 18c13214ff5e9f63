"""``/v1/keys``: admins make, list and revoke API keys (the same as ``finrisk keys``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from finrisk.api.auth import Authenticator, Permission, caller
from finrisk.api.keys import ApiKey
from finrisk.api.routes._common import PROBLEM_RESPONSES, json_response
from finrisk.api.schemas.keys import KeyCreatedOut, KeyCreateIn, KeyOut

router = APIRouter(prefix="/v1/keys", tags=["keys"], responses=PROBLEM_RESPONSES)

AdminKey = Annotated[ApiKey, caller(Permission.MANAGE_KEYS)]


def _authenticator(request: Request) -> Authenticator:
    auth: Authenticator = request.app.state.authenticator
    return auth


@router.get("", response_model=list[KeyOut], summary="List API keys")
def list_keys(request: Request, key: AdminKey,
              include_revoked: Annotated[bool, Query()] = False) -> Response:
    return json_response([k.to_dict() for k in _authenticator(request).keys.list(include_revoked=include_revoked)])


@router.post("", response_model=KeyCreatedOut, status_code=201, summary="Make an API key (shown once)")
def create_key(body: KeyCreateIn, request: Request, key: AdminKey) -> Response:
    record, secret = _authenticator(request).keys.create(name=body.name, role=body.role)
    return json_response({**record.to_dict(), "key": secret}, status_code=201)


@router.delete("/{key_id}", response_model=KeyOut, summary="Revoke an API key",
               responses={404: {"description": "No such key"}})
def revoke_key(key_id: Annotated[str, Path(min_length=1, max_length=32)], request: Request,
               key: AdminKey) -> Response:
    return json_response(_authenticator(request).keys.revoke(key_id).to_dict())
