"""``/v1/lists``: black, white and grey lists and their entries (every change audited with the key's name)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from starlette.responses import Response

from finrisk.api.auth import Permission, caller
from finrisk.api.deps import ServiceDep
from finrisk.api.keys import ApiKey
from finrisk.api.routes._common import PROBLEM_RESPONSES, actor, json_response
from finrisk.api.schemas.lists import AuditOut, EntryIn, EntryOut, ListCreateIn, ListOut
from finrisk.errors import ListNotFoundError

router = APIRouter(prefix="/v1/lists", tags=["lists"],
                   responses={**PROBLEM_RESPONSES, 404: {"description": "No such list or entry"}})

Reader = Annotated[ApiKey, caller(Permission.READ_LISTS)]
Writer = Annotated[ApiKey, caller(Permission.WRITE_LISTS)]
ListName = Annotated[str, Path(min_length=1, max_length=64)]
# Entry values are often personal data: they travel in the path here, so the access log records
# only the route template, never the path.
EntryValue = Annotated[str, Path(min_length=1, max_length=500)]


def _plain(record: Any) -> dict[str, Any]:
    out = asdict(record)
    for k, v in out.items():
        if isinstance(v, datetime):
            out[k] = v.isoformat().replace("+00:00", "Z")
    return out


@router.get("", response_model=list[ListOut], summary="All lists")
def list_lists(key: Reader, service: ServiceDep) -> Response:
    return json_response([_plain(info) for info in service.lists.lists()])


@router.post("", response_model=ListOut, status_code=201, summary="Make a list",
             responses={409: {"description": "A list by that name exists"}})
def create_list(key: Writer, body: ListCreateIn, service: ServiceDep) -> Response:
    info = service.lists.create_list(body.name, body.kind, body.field, description=body.description,
                                     created_by=actor(key))
    return json_response(_plain(info), status_code=201)


@router.get("/{name}", response_model=ListOut, summary="One list")
def get_list(key: Reader, name: ListName, service: ServiceDep) -> Response:
    return json_response(_plain(service.lists.get_list(name)))


@router.delete("/{name}", status_code=204, summary="Delete a list and its entries")
def delete_list(key: Writer, name: ListName, service: ServiceDep) -> Response:
    service.lists.delete_list(name, deleted_by=actor(key))
    return Response(status_code=204)


@router.get("/{name}/entries", response_model=list[EntryOut], summary="A page of a list's entries")
def list_entries(
    key: Reader, name: ListName, service: ServiceDep,
    include_expired: Annotated[bool, Query()] = False,
    limit: Annotated[int, Query(ge=0, le=10_000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1 << 40)] = 0,
) -> Response:
    entries = service.lists.entries(name, include_expired=include_expired, limit=limit, offset=offset)
    return json_response([_plain(e) for e in entries])


@router.post("/{name}/entries", response_model=EntryOut, status_code=201,
             summary="Put a value on a list (or update its reason and expiry)")
def add_entry(key: Writer, name: ListName, body: EntryIn, service: ServiceDep) -> Response:
    expires = body.expires_at if body.expires_at is not None else body.ttl_seconds
    entry = service.lists.add(name, body.value, body.reason, added_by=actor(key), expires_at=expires)
    return json_response(_plain(entry), status_code=201)


@router.get("/{name}/entries/{value}", response_model=EntryOut, summary="One entry")
def get_entry(key: Reader, name: ListName, value: EntryValue, service: ServiceDep) -> Response:
    entry = service.lists.get(name, value)
    if entry is None:
        raise ListNotFoundError(f"value: list {name!r} has no such entry")
    return json_response(_plain(entry))


@router.delete("/{name}/entries/{value}", status_code=204, summary="Take a value off a list")
def remove_entry(key: Writer, name: ListName, value: EntryValue, service: ServiceDep) -> Response:
    service.lists.remove(name, value, removed_by=actor(key))
    return Response(status_code=204)


@router.get("/{name}/audit", response_model=list[AuditOut], summary="Who changed the list, when and how")
def list_audit(key: Reader, name: ListName, service: ServiceDep,
               limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> Response:
    service.lists.get_list(name)  # 404 for an unknown list rather than an empty audit
    return json_response([r.to_dict() for r in service.lists.audit(name, limit=limit)])
