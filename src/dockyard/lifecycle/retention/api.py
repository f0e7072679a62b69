"""The capability's management API: a project's immutability rules and retention
policy, its dry run and an on-demand run (project administrators change and run;
members may read)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from dockyard.http.api.deps import Ctx
from dockyard.http.api.docs import errors
from dockyard.http.api.projects import ProjectPath
from dockyard.http.api.routing import PREFIX
from dockyard.lifecycle.retention.policy import (
    Decision,
    RepositoryGlob,
    RetentionPolicy,
    TagGlob,
)
from dockyard.lifecycle.retention.service import Report, RetentionService
from dockyard.lifecycle.retention.store import ImmutabilityRule, StoredPolicy


class ImmutabilityRuleCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"repository": "team-a/*", "tag": "v*"}]},
    )
    repository: RepositoryGlob = Field(
        description="a glob of full repository names (`team-a/api/*`; `*` matches across '/')"
    )
    tag: TagGlob = Field(description="a glob of tags (`v*`, `release-[0-9]*`)")


class ImmutabilityRuleOut(BaseModel):
    id: int
    repository: str = Field(examples=["team-a/*"])
    tag: str = Field(examples=["v*"])
    created_by: str
    created_at: datetime


class RetentionPolicyOut(RetentionPolicy):
    model_config = ConfigDict(extra="forbid")
    updated_by: str
    updated_at: datetime


class ArtifactDecision(BaseModel):
    repository: str = Field(examples=["team-a/api"])
    digest: str
    tags: list[str]
    media_type: str
    pushed_at: datetime
    last_pulled_at: datetime | None
    pull_count: int
    reason: str = Field(description="the rule that keeps it, or why no rule does")


class DryRunOut(BaseModel):
    project: str
    evaluated_at: datetime
    removed: list[ArtifactDecision] = Field(description="what a run would delete, in order")
    kept: list[ArtifactDecision]


class RunOut(BaseModel):
    job_id: int = Field(description="follow it with GET /api/v1/jobs/{job_id}")


def _rule(r: ImmutabilityRule) -> ImmutabilityRuleOut:
    return ImmutabilityRuleOut(
        id=r.id,
        repository=r.repository,
        tag=r.tag,
        created_by=r.created_by,
        created_at=r.created_at,
    )


def _policy(stored: StoredPolicy) -> RetentionPolicyOut:
    return RetentionPolicyOut(
        **stored.policy.model_dump(), updated_by=stored.updated_by, updated_at=stored.updated_at
    )


def _decision(d: Decision) -> ArtifactDecision:
    a = d.artifact
    return ArtifactDecision(
        repository=a.repository,
        digest=a.digest,
        tags=list(a.tags),
        media_type=a.media_type,
        pushed_at=a.pushed_at,
        last_pulled_at=a.last_pulled_at,
        pull_count=a.pull_count,
        reason=d.reason,
    )


def _report(r: Report) -> DryRunOut:
    return DryRunOut(
        project=r.project,
        evaluated_at=r.evaluated_at,
        removed=[_decision(d) for d in r.removed],
        kept=[_decision(d) for d in r.kept],
    )


RuleId = Annotated[int, Path(ge=1, le=2**31 - 1, description="the rule's id")]


def router() -> APIRouter:
    r = APIRouter(prefix=PREFIX + "/projects/{name}", tags=["retention"])

    @r.get(
        "/immutability",
        responses=errors(),
        summary="The project's tag immutability rules (members)",
    )
    async def list_rules(c: Ctx, name: ProjectPath) -> list[ImmutabilityRuleOut]:
        return [_rule(x) for x in await RetentionService(c.services).list_rules(c.actor, name)]

    @r.post(
        "/immutability",
        status_code=201,
        responses=errors(409),
        summary="Add an immutability rule (project administrators): tags it covers can "
        "be neither moved to another digest nor deleted",
    )
    async def add_rule(
        c: Ctx, name: ProjectPath, body: ImmutabilityRuleCreate
    ) -> ImmutabilityRuleOut:
        service = RetentionService(c.services)
        return _rule(await service.add_rule(c.actor, name, body.repository, body.tag))

    @r.delete(
        "/immutability/{rule_id}",
        status_code=204,
        responses=errors(),
        summary="Remove an immutability rule (project administrators)",
    )
    async def remove_rule(c: Ctx, name: ProjectPath, rule_id: RuleId) -> Response:
        await RetentionService(c.services).remove_rule(c.actor, name, rule_id)
        return Response(status_code=204)

    @r.get(
        "/retention",
        responses=errors(),
        summary="The project's retention policy (members); null when it has none",
    )
    async def get_policy(c: Ctx, name: ProjectPath) -> RetentionPolicyOut | None:
        stored = await RetentionService(c.services).get_policy(c.actor, name)
        return None if stored is None else _policy(stored)

    @r.put(
        "/retention",
        responses=errors(),
        summary="Set the project's retention policy (project administrators)",
    )
    async def put_policy(c: Ctx, name: ProjectPath, body: RetentionPolicy) -> RetentionPolicyOut:
        return _policy(await RetentionService(c.services).put_policy(c.actor, name, body))

    @r.delete(
        "/retention",
        status_code=204,
        responses=errors(),
        summary="Remove the project's retention policy (project administrators)",
    )
    async def delete_policy(c: Ctx, name: ProjectPath) -> Response:
        await RetentionService(c.services).delete_policy(c.actor, name)
        return Response(status_code=204)

    @r.post(
        "/retention/dry-run",
        responses=errors(),
        summary="What the retention policy would remove now, and what it keeps, with the "
        "reason for each (project administrators); with a body, that policy instead of "
        "the stored one (nothing is stored)",
    )
    async def dry_run(
        c: Ctx,
        name: ProjectPath,
        body: Annotated[RetentionPolicy | None, Body()] = None,
    ) -> DryRunOut:
        return _report(await RetentionService(c.services).dry_run(c.actor, name, body))

    @r.post(
        "/retention/run",
        status_code=202,
        responses=errors(),
        summary="Run the stored retention policy now, as a job (project administrators)",
    )
    async def run(c: Ctx, name: ProjectPath) -> RunOut:
        return RunOut(job_id=await RetentionService(c.services).enqueue(c.actor, name))

    return r
