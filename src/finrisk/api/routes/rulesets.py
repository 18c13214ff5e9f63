"""``/v1/rulesets``: drafts, published versions, diff, and (admins) publish, rollback and shadow.

Every change goes through :class:`~finrisk.rules.versions.RuleSetRepository` (validated, audited
with the key's name) and is followed by ``reload_rules`` so the live service serves it at once.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from starlette.responses import Response

from finrisk.api.auth import Permission, caller
from finrisk.api.deps import DecisionServiceLike, ServiceDep
from finrisk.api.keys import ApiKey
from finrisk.api.routes._common import PROBLEM_RESPONSES, actor, json_response
from finrisk.api.schemas.lists import AuditOut
from finrisk.api.schemas.rulesets import (
    MAX_VERSION,
    DiffOut,
    DraftIn,
    DraftOut,
    PublishIn,
    RollbackIn,
    RuleSetSummaryOut,
    ShadowIn,
    VersionOut,
)
from finrisk.errors import RuleSetNotFoundError

router = APIRouter(prefix="/v1/rulesets", tags=["rule sets"],
                   responses={**PROBLEM_RESPONSES, 404: {"description": "No such rule set, version or draft"}})

Reader = Annotated[ApiKey, caller(Permission.READ_RULESETS)]
Drafter = Annotated[ApiKey, caller(Permission.WRITE_DRAFTS)]
Publisher = Annotated[ApiKey, caller(Permission.PUBLISH_RULESETS)]
Name = Annotated[str, Path(min_length=1, max_length=64)]
Version = Annotated[int, Path(ge=1, le=MAX_VERSION)]
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "Identical to the live version, or a concurrent publish won"},
}


def _summary(service: DecisionServiceLike, name: str) -> dict[str, Any]:
    repo = service.rulesets
    try:
        published = repo.published(name).to_dict(with_text=False)
    except RuleSetNotFoundError:
        published = None
    shadow = repo.shadow(name)
    return {"name": name, "published": published, "shadow": shadow.version if shadow else None,
            "has_draft": repo.draft(name) is not None}


def _draft(draft: Any) -> dict[str, Any]:
    return {"name": draft.name, "text": draft.text, "author": draft.author,
            "saved_at": draft.saved_at.isoformat().replace("+00:00", "Z")}


@router.get("", response_model=list[RuleSetSummaryOut], summary="Rule sets with their live and shadow versions")
def list_rulesets(key: Reader, service: ServiceDep) -> Response:
    return json_response([_summary(service, name) for name in service.rulesets.names()])


@router.get("/{name}/versions", response_model=list[VersionOut],
            summary="Version history, newest first (without texts)")
def list_versions(key: Reader, name: Name, service: ServiceDep) -> Response:
    history = service.rulesets.history(name)
    if not history:
        raise RuleSetNotFoundError(f"name: no published rule set {name!r}")
    return json_response([v.to_dict(with_text=False) for v in history])


@router.get("/{name}/versions/{version}", response_model=VersionOut, summary="One version, with its text")
def get_version(key: Reader, name: Name, version: Version, service: ServiceDep) -> Response:
    return json_response(service.rulesets.get(name, version).to_dict())


@router.get("/{name}/diff", response_model=DiffOut, summary="What changed between two versions")
def diff_versions(
    key: Reader, name: Name, service: ServiceDep,
    a: Annotated[int, Query(ge=1, le=MAX_VERSION)], b: Annotated[int, Query(ge=1, le=MAX_VERSION)],
) -> Response:
    return json_response(service.rulesets.diff(name, a, b).to_dict())


@router.get("/{name}/audit", response_model=list[AuditOut], summary="Who changed the rule set, when and how")
def ruleset_audit(key: Reader, name: Name, service: ServiceDep,
                  limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> Response:
    return json_response([r.to_dict() for r in service.rulesets.audit(name, limit=limit)])


@router.get("/{name}/draft", response_model=DraftOut, summary="The current draft")
def get_draft(key: Reader, name: Name, service: ServiceDep) -> Response:
    draft = service.rulesets.draft(name)
    if draft is None:
        raise RuleSetNotFoundError(f"name: rule set {name!r} has no draft")
    return json_response(_draft(draft))


@router.post("/{name}/draft", response_model=DraftOut, summary="Save the draft (validated; overwrites)")
def save_draft(key: Drafter, name: Name, body: DraftIn, service: ServiceDep) -> Response:
    return json_response(_draft(service.rulesets.save_draft(name, body.text, author=actor(key))))


@router.delete("/{name}/draft", status_code=204, summary="Discard the draft")
def discard_draft(key: Drafter, name: Name, service: ServiceDep) -> Response:
    service.rulesets.discard_draft(name, author=actor(key))
    return Response(status_code=204)


@router.post("/{name}/publish", response_model=VersionOut, status_code=201, responses=_CONFLICT,
             summary="Publish the draft (or the given text) as the next version; it goes live at once")
def publish(key: Publisher, name: Name, body: PublishIn, service: ServiceDep) -> Response:
    version = service.rulesets.publish(name, author=actor(key), message=body.message, text=body.text)
    service.reload_rules()
    return json_response(version.to_dict(with_text=False), status_code=201)


@router.post("/{name}/rollback", response_model=VersionOut, status_code=201, responses=_CONFLICT,
             summary="Publish an old version's content as a new version (history is never rewritten)")
def rollback(key: Publisher, name: Name, body: RollbackIn, service: ServiceDep) -> Response:
    version = service.rulesets.rollback(name, body.to_version, author=actor(key), message=body.message)
    service.reload_rules()
    return json_response(version.to_dict(with_text=False), status_code=201)


@router.put("/{name}/shadow", response_model=VersionOut | None, summary="Evaluate a version in shadow (or stop)")
def set_shadow(key: Publisher, name: Name, body: ShadowIn, service: ServiceDep) -> Response:
    version = service.rulesets.set_shadow(name, body.version, author=actor(key))
    service.reload_rules()
    return json_response(version.to_dict(with_text=False) if version is not None else None)
