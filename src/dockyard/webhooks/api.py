"""`/api/v1/projects/{project}/webhooks`: a project's webhook policies (project
administrators), their delivery log, and the test event. Secrets go in and never
come out: the signing secret is returned once, at creation; the endpoint URL is
shown with its credentials masked; the auth header only as set or not."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import AfterValidator, BaseModel, Field, StringConstraints, WithJsonSchema

from dockyard.http.api.deps import Caller, Ctx, Paging, page_of, paged
from dockyard.http.api.docs import errors, listing
from dockyard.http.api.models import NAME, NO_CONTROL, TEXT, _example, _Input
from dockyard.http.api.routing import PREFIX
from dockyard.webhooks.service import (
    AUTH_HEADER_PATTERN,
    UNCHANGED,
    URL_PATTERN,
    InvalidWebhook,
    NewPolicy,
    PolicyChanges,
    WebhookService,
    check_auth_header,
    check_url,
)
from dockyard.webhooks.store import DeliveryRow, PolicyRow

router = APIRouter(prefix=PREFIX + "/projects/{project}/webhooks", tags=["webhooks"])

ProjectPath = Annotated[
    str,
    Path(min_length=1, max_length=255, pattern=NAME, examples=["team-a"], description="a project"),
]
PolicyPath = Annotated[int, Path(ge=1, le=2**31 - 1, description="the webhook's id")]
EventKind = Literal[
    "artifact.pushed",
    "artifact.pulled",
    "artifact.deleted",
    "tag.deleted",
    "repository.deleted",
    "quota.exceeded",
    "scan.completed",
]
Format = Literal["harbor", "cloudevents"]
DeliveryState = Literal["pending", "sending", "delivered", "failed"]


def _checked_url(value: str) -> str:
    """The service's URL check, as a validation error (422 naming the field)."""
    try:
        return check_url(value)
    except InvalidWebhook as exc:
        raise ValueError(exc.message) from None


def _checked_auth_header(value: str) -> str:
    try:
        return check_auth_header(value)
    except InvalidWebhook as exc:
        raise ValueError(exc.message) from None


Url = Annotated[
    str,
    StringConstraints(min_length=1, max_length=2048),
    AfterValidator(_checked_url),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 2048, "pattern": URL_PATTERN}),
]
PolicyName = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=NO_CONTROL)]
Description = Annotated[str, StringConstraints(max_length=1024, pattern=TEXT)]
AuthHeader = Annotated[
    str,
    StringConstraints(min_length=1, max_length=4096),
    AfterValidator(_checked_auth_header),
    WithJsonSchema(
        {"type": "string", "minLength": 1, "maxLength": 4096, "pattern": AUTH_HEADER_PATTERN}
    ),
]
Secret = Annotated[str, StringConstraints(min_length=16, max_length=512, pattern=NO_CONTROL)]
Kinds = Annotated[list[EventKind], Field(min_length=1, max_length=16)]


class WebhookCreate(_Input):
    model_config = _example(
        name="ci",
        url="https://ci.example.org/hooks/registry",
        event_kinds=["artifact.pushed", "artifact.deleted"],
        format="harbor",
    )
    name: PolicyName
    url: Url = Field(description="http:// or https:// endpoint the events are posted to")
    event_kinds: Kinds
    format: Format = "harbor"
    description: Description = ""
    enabled: bool = True
    skip_tls_verify: bool = Field(False, description="accept any certificate (https only)")
    auth_header: AuthHeader | None = Field(
        None, description="sent as the Authorization header; stored encrypted, never shown"
    )
    secret: Secret | None = Field(
        None, description="the HMAC-SHA256 signing key; generated when left out"
    )


class WebhookUpdate(_Input):
    """Fields left out stay as they are; `auth_header: null` removes it."""

    model_config = _example(enabled=False)
    name: PolicyName | None = None
    url: Url | None = None
    event_kinds: Kinds | None = None
    format: Format | None = None
    description: Description | None = None
    enabled: bool | None = None
    skip_tls_verify: bool | None = None
    auth_header: AuthHeader | None = None
    secret: Secret | None = Field(None, description="a new signing key")


class WebhookOut(BaseModel):
    id: int
    project: str = Field(examples=["team-a"])
    name: str = Field(examples=["ci"])
    description: str
    enabled: bool
    event_kinds: list[str] = Field(examples=[["artifact.pushed"]])
    format: str = Field(examples=["harbor"])
    url: str = Field(
        description="credentials (user:password, token= …) masked as ***",
        examples=["https://***@ci.example.org/hooks?token=***"],
    )
    skip_tls_verify: bool
    auth_header_set: bool
    created_by: str
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="the signing key: shown this once")


class DeliveryOut(BaseModel):
    id: int
    event_id: int | None = Field(description="the event's id; null for a test event")
    kind: str = Field(examples=["artifact.pushed"])
    repository: str | None
    digest: str | None
    tag: str | None
    state: DeliveryState
    attempts: int
    status_code: int | None = Field(description="the receiver's last answer")
    last_error: str | None = Field(description="why the last attempt failed, redacted")
    sent_with: int | None = Field(description="the delivery whose post carried this one")
    test: bool
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class TestOut(BaseModel):
    delivered: bool
    status_code: int | None
    error: str | None
    seconds: float
    delivery: DeliveryOut


def webhook_out(p: PolicyRow) -> WebhookOut:
    return WebhookOut(
        id=p.id,
        project=p.project,
        name=p.name,
        description=p.description,
        enabled=p.enabled,
        event_kinds=list(p.event_kinds),
        format=p.format,
        url=p.url_redacted,
        skip_tls_verify=p.skip_tls_verify,
        auth_header_set=p.auth_header_sealed is not None,
        created_by=p.created_by,
        created_at=p.created_at,
        updated_at=p.updated_at,
    )


def delivery_out(d: DeliveryRow) -> DeliveryOut:
    return DeliveryOut(
        id=d.id,
        event_id=d.event_id,
        kind=d.kind,
        repository=d.repository,
        digest=d.event.get("digest"),
        tag=d.event.get("tag"),
        state=d.state,
        attempts=d.attempts,
        status_code=d.status_code,
        last_error=d.last_error,
        sent_with=d.sent_with,
        test=d.test,
        next_attempt_at=d.next_attempt_at if d.state in ("pending", "sending") else None,
        created_at=d.created_at,
        updated_at=d.updated_at,
        finished_at=d.finished_at,
    )


def _service(c: Caller) -> WebhookService:
    return WebhookService(c.services)


@router.get("", responses=listing(), summary="A project's webhooks (project_admin)")
async def list_webhooks(
    c: Ctx, project: ProjectPath, request: Request, response: Response, page: Paging
) -> list[WebhookOut]:
    found = await _service(c).list_policies(c.actor, project)
    paged(request, response, page, len(found))
    return [webhook_out(p) for p in page_of(found, page)]


@router.post("", status_code=201, responses=errors(409), summary="Create a webhook")
async def create_webhook(c: Ctx, project: ProjectPath, body: WebhookCreate) -> WebhookCreated:
    new = NewPolicy(
        name=body.name,
        url=body.url,
        event_kinds=list(body.event_kinds),
        format=body.format,
        description=body.description,
        enabled=body.enabled,
        skip_tls_verify=body.skip_tls_verify,
        auth_header=body.auth_header,
        secret=body.secret,
    )
    policy, secret = await _service(c).create(c.actor, project, new)
    return WebhookCreated(**webhook_out(policy).model_dump(), secret=secret)


@router.get("/{id}", responses=errors(), summary="A webhook")
async def get_webhook(c: Ctx, project: ProjectPath, id: PolicyPath) -> WebhookOut:
    return webhook_out(await _service(c).get(c.actor, project, id))


@router.patch("/{id}", responses=errors(409), summary="Change, pause or resume a webhook")
async def update_webhook(
    c: Ctx, project: ProjectPath, id: PolicyPath, body: WebhookUpdate
) -> WebhookOut:
    given = body.model_fields_set
    changes = PolicyChanges(
        name=body.name,
        url=body.url,
        event_kinds=None if body.event_kinds is None else list(body.event_kinds),
        format=body.format,
        description=body.description,
        enabled=body.enabled,
        skip_tls_verify=body.skip_tls_verify,
        auth_header=body.auth_header if "auth_header" in given else UNCHANGED,
        secret=body.secret,
    )
    return webhook_out(await _service(c).update(c.actor, project, id, changes))


@router.delete("/{id}", status_code=204, responses=errors(), summary="Delete a webhook")
async def delete_webhook(c: Ctx, project: ProjectPath, id: PolicyPath) -> Response:
    await _service(c).delete(c.actor, project, id)
    return Response(status_code=204)


@router.get("/{id}/deliveries", responses=listing(), summary="The delivery log, newest first")
async def list_deliveries(
    c: Ctx,
    project: ProjectPath,
    id: PolicyPath,
    request: Request,
    response: Response,
    page: Paging,
    state: Annotated[DeliveryState | None, Query(description="only in this state")] = None,
    sort: Annotated[
        Literal["-created", "created"],
        Query(description="`-created` newest first (the default), `created` oldest first"),
    ] = "-created",
) -> list[DeliveryOut]:
    rows, total = await _service(c).deliveries(
        c.actor, project, id, page.offset, page.size, state=state, oldest_first=sort == "created"
    )
    paged(request, response, page, total)
    return [delivery_out(d) for d in rows]


@router.post(
    "/{id}/test", responses=errors(), summary="Post a test event now and say what happened"
)
async def test_webhook(c: Ctx, project: ProjectPath, id: PolicyPath) -> TestOut:
    result = await _service(c).test(c.actor, project, id)
    d = result.delivery
    return TestOut(
        delivered=d.state == "delivered",
        status_code=d.status_code,
        error=d.last_error,
        seconds=round(result.seconds, 3),
        delivery=delivery_out(d),
    )
