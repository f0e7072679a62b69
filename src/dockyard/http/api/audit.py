"""The audit trail: everything for system administrators, one project's entries for
those who may read its logs (guest and up). Newest first."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BeforeValidator

from dockyard.auth import permissions as perm
from dockyard.http.api.deps import Ctx, Paging, paged
from dockyard.http.api.docs import listing
from dockyard.http.api.models import NAME, NO_CONTROL, AuditEntry
from dockyard.http.api.projects import ProjectPath
from dockyard.http.api.routing import PREFIX
from dockyard.metadata.identity import AuditEvent, AuditQuery, AuditSort, Page

router = APIRouter(prefix=PREFIX, tags=["audit"])


def _text(description: str) -> Any:
    return Query(max_length=255, pattern=NO_CONTROL, description=description)


def _iso8601(value: object) -> object:
    """Only ISO 8601 text is a time here (pydantic would also take `0.5` as a Unix time)."""
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.upper())
        except ValueError:
            raise ValueError("expected an ISO 8601 date-time") from None
    return value


Time = Annotated[dt.datetime | None, BeforeValidator(_iso8601)]


def _utc(value: dt.datetime | None, *, upper: bool) -> dt.datetime | None:
    """Naive times are UTC; a time whose UTC form falls off the calendar is the edge."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        return (dt.datetime.max if upper else dt.datetime.min).replace(tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class Filters:
    actor: str | None
    action: str | None
    resource: str | None
    outcome: str | None
    since: dt.datetime | None
    until: dt.datetime | None

    def query(self, project: str | None) -> AuditQuery:
        return AuditQuery(
            actor=self.actor or None,
            action=self.action or None,
            project=project,
            resource_prefix=self.resource or None,
            outcome=self.outcome or None,
            since=_utc(self.since, upper=False),
            until=_utc(self.until, upper=True),
        )


def filters(
    actor: Annotated[str | None, _text("who: a username or robot name")] = None,
    action: Annotated[str | None, _text("e.g. `push`, `login`, `project.create`")] = None,
    resource: Annotated[str | None, _text("resources starting with this")] = None,
    outcome: Annotated[str | None, _text("`ok` or `failed`")] = None,
    since: Annotated[Time, Query(description="ISO 8601, inclusive")] = None,
    until: Annotated[Time, Query(description="ISO 8601, exclusive")] = None,
) -> Filters:
    return Filters(actor, action, resource, outcome, since, until)


Filtered = Annotated[Filters, Depends(filters)]
Order = Annotated[
    AuditSort,
    Query(description="`-at` newest first (the default), `at` oldest first; ties by id"),
]


def entry_out(e: AuditEvent) -> AuditEntry:
    assert e.id is not None and e.at is not None
    return AuditEntry(
        id=e.id,
        at=e.at,
        actor=e.actor,
        actor_kind=e.actor_kind,
        address=e.address,
        action=e.action,
        resource=e.resource,
        project=e.project,
        outcome=e.outcome,
        detail=e.detail,
    )


async def _query(
    c: Ctx, query: AuditQuery, request: Request, response: Response, page: Page, sort: AuditSort
) -> list[AuditEntry]:
    found, total = await c.services.identity.audit.query_audit(query, page, sort)
    paged(request, response, page, total)
    return [entry_out(e) for e in found]


@router.get("/audit-logs", responses=listing(), summary="The whole audit trail (administrators)")
async def audit_logs(
    c: Ctx,
    request: Request,
    response: Response,
    page: Paging,
    where: Filtered,
    project: Annotated[
        str | None, Query(max_length=255, pattern=NAME, description="entries of this project")
    ] = None,
    sort: Order = "-at",
) -> list[AuditEntry]:
    c.require_admin("read the whole audit trail")
    return await _query(c, where.query(project), request, response, page, sort)


@router.get(
    "/projects/{name}/audit-logs",
    responses=listing(),
    summary="A project's audit trail (guest and up)",
)
async def project_audit_logs(
    c: Ctx,
    name: ProjectPath,
    request: Request,
    response: Response,
    page: Paging,
    where: Filtered,
    sort: Order = "-at",
) -> list[AuditEntry]:
    await c.project(name, perm.READ_LOGS)
    return await _query(c, where.query(name), request, response, page, sort)
