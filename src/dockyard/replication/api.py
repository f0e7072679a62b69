"""`/api/v1/replication`: policies, executions and their items (system
administrators). Starting a policy answers at once with the queued execution; its
progress is read back from `/executions/{id}` and `/executions/{id}/items`."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, BeforeValidator, Field, StrictBool, StringConstraints

from dockyard.http.api.deps import Caller, Ctx, Paging, next_after, page_of, paged
from dockyard.http.api.docs import errors, keyset, listing
from dockyard.http.api.models import TEXT, _example, _Input, _integral
from dockyard.http.api.routing import PREFIX
from dockyard.jobs.cron import CRON_PATTERN
from dockyard.oci.names import NAME_RE
from dockyard.replication.policy import Filters, Rewrite
from dockyard.replication.records import Execution, Item, Policy
from dockyard.replication.service import NAME_PATTERN, ReplicationService

router = APIRouter(prefix=PREFIX + "/replication", tags=["replication"])

Name = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=NAME_PATTERN)]
NamePath = Annotated[
    str,
    Path(min_length=1, max_length=64, pattern=NAME_PATTERN, description="the policy's name"),
]
ExecutionId = Annotated[int, Path(ge=1, le=2**31 - 1, description="the execution's id")]
Direction = Literal["push", "pull"]
Cron = Annotated[str, StringConstraints(min_length=9, max_length=128, pattern=CRON_PATTERN)]
Namespace = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=rf"^{NAME_RE.pattern}$")
]
Description = Annotated[str, StringConstraints(max_length=1024, pattern=TEXT)]
ExecutionState = Literal["queued", "running", "retrying", "succeeded", "failed", "stopped"]
ItemState = Literal["pending", "running", "succeeded", "skipped", "failed", "planned", "cancelled"]
MAX_BANDWIDTH = 2**40
Bandwidth = Annotated[int, Field(ge=0, le=MAX_BANDWIDTH), BeforeValidator(_integral)]


class NoRewrite(_Input):
    """The same name at the destination."""

    mode: Literal["none"]


class PrefixRewrite(_Input):
    """`<namespace>/<name>`."""

    mode: Literal["prefix"]
    namespace: Namespace


class StripRewrite(_Input):
    """`<name>` without a leading `<namespace>/` (names without it unchanged)."""

    mode: Literal["strip"]
    namespace: Namespace


class ReplaceRewrite(_Input):
    """The first `levels` path components replaced by `<namespace>`; -1 flattens every
    level but the last (`a/b/app` → `<namespace>/app`), 0 is a prefix."""

    mode: Literal["replace"]
    namespace: Namespace
    levels: Annotated[int, Field(ge=-1, le=32), BeforeValidator(_integral)] = 1


RewriteIn = Annotated[
    NoRewrite | PrefixRewrite | StripRewrite | ReplaceRewrite, Field(discriminator="mode")
]


class Manual(_Input):
    """Only when started (`POST …/run`)."""

    kind: Literal["manual"]


class OnEvent(_Input):
    """On this registry's pushes (and, with `delete_propagation`, its deletes): push
    policies only."""

    kind: Literal["event"]
    delete_propagation: StrictBool = Field(
        False, description="replay this registry's manifest and tag deletes at the destination"
    )


class OnCron(_Input):
    kind: Literal["cron"]
    cron: Cron = Field(description="five fields, UTC", examples=["0 3 * * *"])


PushTrigger = Annotated[Manual | OnEvent | OnCron, Field(discriminator="kind")]
PullTrigger = Annotated[Manual | OnCron, Field(discriminator="kind")]
AnyTrigger = Annotated[Manual | OnEvent | OnCron, Field(discriminator="kind")]


class _PolicyFields(_Input):
    name: Name
    endpoint: Name = Field(description="the stored registry endpoint (`/registries`)")
    description: Description = ""
    filters: Filters = Field(default_factory=Filters)
    rewrite: RewriteIn = Field(default_factory=lambda: NoRewrite(mode="none"))
    override: StrictBool = Field(
        True, description="move a destination tag that points at something else"
    )
    bandwidth_bytes: Bandwidth = Field(0, description="bytes/s; 0: no limit")
    enabled: StrictBool = True


class PushPolicy(_PolicyFields):
    """This registry → the endpoint."""

    model_config = _example(
        name="to-dr",
        direction="push",
        endpoint="dr-site",
        trigger={"kind": "event", "delete_propagation": True},
        filters={"repositories": ["team/*"], "tags": ["v*"]},
        rewrite={"mode": "prefix", "namespace": "mirror"},
    )
    direction: Literal["push"]
    trigger: PushTrigger = Field(default_factory=lambda: Manual(kind="manual"))


class PullPolicy(_PolicyFields):
    """The endpoint → this registry."""

    direction: Literal["pull"]
    trigger: PullTrigger = Field(default_factory=lambda: Manual(kind="manual"))


PolicyCreate = Annotated[PushPolicy | PullPolicy, Field(discriminator="direction")]


class PolicyUpdate(_Input):
    """Fields left out stay as they are. A change the policy's other fields rule out
    (an event trigger on a pull policy) is a conflict (409)."""

    model_config = _example(enabled=False)
    direction: Direction | None = None
    endpoint: Name | None = None
    description: Description | None = None
    filters: Filters | None = None
    rewrite: RewriteIn | None = None
    trigger: AnyTrigger | None = None
    override: StrictBool | None = None
    bandwidth_bytes: Bandwidth | None = None
    enabled: StrictBool | None = None


class TriggerOut(BaseModel):
    kind: str = Field(description="manual, event or cron")
    cron: str | None = None
    delete_propagation: bool = False


class PolicyOut(BaseModel):
    name: str
    direction: str
    endpoint: str
    description: str
    filters: Filters
    rewrite: Rewrite
    trigger: TriggerOut
    override: bool
    bandwidth_bytes: int
    enabled: bool
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime


class RunIn(_Input):
    model_config = _example(dry_run=True)
    dry_run: StrictBool = Field(
        False, description="list and compare only: items say what would be copied"
    )


class ExecutionOut(BaseModel):
    id: int
    policy: str
    trigger: str = Field(description="manual, event or cron")
    dry_run: bool
    state: str
    counts: dict[str, int] = Field(description="items by state")
    bytes: int = Field(description="blob bytes sent so far")
    retries: int
    next_attempt_at: dt.datetime | None
    error: str | None
    created_by: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class ItemOut(BaseModel):
    id: int
    action: str = Field(description="copy, referrer or delete")
    source_repository: str
    reference: str
    destination_repository: str
    digest: str | None
    state: str
    attempts: int
    error: str | None = Field(description="why it failed or was skipped")
    bytes: int
    blobs_copied: int
    blobs_skipped: int
    blobs_mounted: int
    referrers: int
    updated_at: dt.datetime


def policy_out(p: Policy) -> PolicyOut:
    assert p.created_at is not None and p.updated_at is not None
    return PolicyOut(
        name=p.name,
        direction=p.direction,
        endpoint=p.endpoint,
        description=p.description,
        filters=p.filters,
        rewrite=p.rewrite,
        trigger=TriggerOut(kind=p.trigger, cron=p.cron, delete_propagation=p.delete_propagation),
        override=p.override,
        bandwidth_bytes=p.bandwidth_bytes,
        enabled=p.enabled,
        created_by=p.created_by,
        created_at=p.created_at,
        updated_at=p.updated_at,
    )


def execution_out(e: Execution) -> ExecutionOut:
    return ExecutionOut(
        id=e.id,
        policy=e.policy,
        trigger=e.trigger,
        dry_run=e.dry_run,
        state=e.state,
        counts=e.counts,
        bytes=e.bytes,
        retries=e.retries,
        next_attempt_at=e.next_attempt_at,
        error=e.error,
        created_by=e.created_by,
        created_at=e.created_at,
        started_at=e.started_at,
        finished_at=e.finished_at,
    )


def item_out(i: Item) -> ItemOut:
    return ItemOut(
        id=i.id,
        action=i.action,
        source_repository=i.source_repository,
        reference=i.reference,
        destination_repository=i.destination_repository,
        digest=i.digest,
        state=i.state,
        attempts=i.attempts,
        error=i.error,
        bytes=i.bytes,
        blobs_copied=i.blobs_copied,
        blobs_skipped=i.blobs_skipped,
        blobs_mounted=i.blobs_mounted,
        referrers=i.referrers,
        updated_at=i.updated_at,
    )


def _rewrite(given: NoRewrite | PrefixRewrite | StripRewrite | ReplaceRewrite) -> Rewrite:
    return Rewrite.model_validate(given.model_dump())


def _trigger(given: Manual | OnEvent | OnCron) -> dict[str, Any]:
    return {
        "trigger": given.kind,
        "cron": given.cron if isinstance(given, OnCron) else None,
        "delete_propagation": isinstance(given, OnEvent) and given.delete_propagation,
    }


def _service(c: Caller) -> ReplicationService:
    return ReplicationService(c.services)


@router.get("/policies", responses=listing(), summary="Replication policies (administrators)")
async def list_policies(
    c: Ctx, request: Request, response: Response, page: Paging
) -> list[PolicyOut]:
    found = await _service(c).list(c.actor)
    paged(request, response, page, len(found))
    return [policy_out(p) for p in page_of(found, page)]


@router.post("/policies", status_code=201, responses=errors(409), summary="Add a policy")
async def create_policy(c: Ctx, body: PolicyCreate) -> PolicyOut:
    policy = Policy(
        name=body.name,
        direction=body.direction,
        endpoint=body.endpoint,
        description=body.description,
        filters=body.filters,
        rewrite=_rewrite(body.rewrite),
        **_trigger(body.trigger),
        override=body.override,
        bandwidth_bytes=body.bandwidth_bytes,
        enabled=body.enabled,
    )
    return policy_out(await _service(c).create(c.actor, policy))


@router.get("/policies/{name}", responses=errors(), summary="A policy")
async def get_policy(c: Ctx, name: NamePath) -> PolicyOut:
    return policy_out(await _service(c).get(c.actor, name))


@router.patch("/policies/{name}", responses=errors(409), summary="Change a policy")
async def update_policy(c: Ctx, name: NamePath, body: PolicyUpdate) -> PolicyOut:
    changes: dict[str, Any] = {}
    for field in body.model_fields_set:
        value = getattr(body, field)
        if value is None:
            continue
        if field == "rewrite":
            changes[field] = _rewrite(value)
        elif field == "trigger":
            changes |= _trigger(value)
        else:
            changes[field] = value
    return policy_out(await _service(c).update(c.actor, name, changes))


@router.delete("/policies/{name}", status_code=204, responses=errors(), summary="Remove a policy")
async def delete_policy(c: Ctx, name: NamePath) -> Response:
    await _service(c).delete(c.actor, name)
    return Response(status_code=204)


@router.post(
    "/policies/{name}/run",
    status_code=202,
    responses=errors(409),
    summary="Start an execution (or a dry run)",
)
async def run_policy(c: Ctx, name: NamePath, body: RunIn | None = None) -> ExecutionOut:
    dry_run = body.dry_run if body is not None else False
    return execution_out(await _service(c).start(c.actor, name, dry_run=dry_run))


@router.get("/executions", responses=keyset(422), summary="Executions, newest first")
async def list_executions(
    c: Ctx,
    request: Request,
    response: Response,
    policy: Annotated[
        str | None, Query(max_length=64, pattern=NAME_PATTERN, description="only this policy's")
    ] = None,
    state: Annotated[ExecutionState | None, Query(description="only in this state")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description="page: ids below this one")
    ] = None,
    after: Annotated[
        int | None, Query(ge=0, le=2**31 - 1, description="page: ids above this one")
    ] = None,
    sort: Annotated[
        Literal["-created", "created"],
        Query(description="`-created` newest first (the default), `created` oldest first"),
    ] = "-created",
) -> list[ExecutionOut]:
    """The next page is `before` (`after` when oldest first) the last id of this one,
    as the `Link` header's `rel="next"` says when there is one."""
    found, more = await _service(c).executions(
        c.actor,
        policy=policy,
        state=state,
        limit=limit,
        before=before,
        after=after,
        oldest_first=sort == "created",
    )
    if more:
        bound = "after" if sort == "created" else "before"
        next_after(request, response, **{bound: found[-1].id})
    return [execution_out(e) for e in found]


@router.get("/executions/{execution_id}", responses=errors(), summary="An execution")
async def get_execution(c: Ctx, execution_id: ExecutionId) -> ExecutionOut:
    return execution_out(await _service(c).execution(c.actor, execution_id))


@router.get(
    "/executions/{execution_id}/items",
    responses=errors(422),
    summary="An execution's items, in order",
)
async def list_items(
    c: Ctx,
    execution_id: ExecutionId,
    state: Annotated[ItemState | None, Query(description="only in this state")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[
        int | None, Query(ge=0, le=2**31 - 1, description="page: ids above this one")
    ] = None,
) -> list[ItemOut]:
    found = await _service(c).items(c.actor, execution_id, state=state, limit=limit, after=after)
    return [item_out(i) for i in found]


@router.post("/executions/{execution_id}/stop", responses=errors(409), summary="Stop an execution")
async def stop_execution(c: Ctx, execution_id: ExecutionId) -> ExecutionOut:
    return execution_out(await _service(c).stop(c.actor, execution_id))


@router.post(
    "/executions/{execution_id}/retry",
    status_code=202,
    responses=errors(409),
    summary="Run a failed or stopped execution's failed items again",
)
async def retry_execution(c: Ctx, execution_id: ExecutionId) -> ExecutionOut:
    return execution_out(await _service(c).retry(c.actor, execution_id))
