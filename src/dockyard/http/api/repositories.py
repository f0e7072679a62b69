"""Repositories and artifacts of a project.

A repository is named by its path inside the project, slashes and all:
`/api/v1/projects/team-a/repositories/api/server` is `team-a/api/server`. What
concerns one repository comes after a `/-/` separator
(`…/repositories/api/server/-/artifacts`): no repository name has a `-` component,
so the split is never ambiguous, whatever the repository is called.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from starlette.convertors import Convertor, register_url_convertor

from dockyard.http.api.artifact_view import artifact_out
from dockyard.http.api.deps import Ctx, Paging, paged
from dockyard.http.api.docs import OPTIONAL, errors, listing
from dockyard.http.api.models import (
    NO_CONTROL,
    ArtifactDetailOut,
    ArtifactOut,
    RepositoryOut,
    TagOut,
)
from dockyard.http.api.platforms import all_platforms
from dockyard.http.api.projects import ProjectPath
from dockyard.http.api.routing import PREFIX
from dockyard.metadata.identity import ArtifactSort, RepositorySort, TagSort
from dockyard.oci.names import MAX_NAME_LENGTH, NAME_RE, TAG_RE


class RepositoryConvertor(Convertor[str]):
    """`{repository:repository}`: a path of name components, so `/-/` never falls inside."""

    regex = NAME_RE.pattern

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("repository", RepositoryConvertor())

router = APIRouter(prefix=PREFIX + "/projects/{name}/repositories", tags=["repositories"])

RepositoryPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=MAX_NAME_LENGTH,
        pattern=f"^{NAME_RE.pattern}$",
        examples=["api/server"],
        description="the repository's path inside the project",
    ),
]
TagPath = Annotated[
    str, Path(pattern=f"^{TAG_RE.pattern}$", examples=["latest"], description="a tag")
]
REFERENCE = rf"^({TAG_RE.pattern}|sha256:[a-f0-9]{{64}}|sha512:[a-f0-9]{{128}})$"
"""a tag, or a digest of an algorithm the registry accepts"""
ReferencePath = Annotated[
    str, Path(pattern=REFERENCE, examples=["latest"], description="a tag or a digest")
]
Search = Annotated[
    str | None, Query(max_length=255, pattern=NO_CONTROL, description="part of the name")
]


@router.get(
    "",
    responses=listing(),
    openapi_extra=OPTIONAL,
    summary="Repositories of a project, with artifact and tag counts",
)
async def list_repositories(
    c: Ctx,
    name: ProjectPath,
    request: Request,
    response: Response,
    page: Paging,
    q: Search = None,
    sort: Annotated[
        RepositorySort,
        Query(
            description="`name`, `pushed` (the last push), ascending; `-name`, `-pushed` "
            "descending; never pushed last either way; ties by name, the same way; "
            "`updated` is `-pushed`"
        ),
    ] = "name",
) -> list[RepositoryOut]:
    found, total = await c.services.repositories.list_repositories(
        c.actor, name, q or None, page, sort
    )
    paged(request, response, page, total)
    return [
        RepositoryOut(
            name=r.name,
            project=r.project,
            artifact_count=r.artifact_count,
            tag_count=r.tag_count,
            created_at=r.created_at,
            updated_at=r.updated_at,
        )
        for r in found
    ]


@router.get(
    "/{repository:repository}/-/artifacts",
    responses=listing(),
    openapi_extra=OPTIONAL,
    summary="Artifacts of a repository: digest, type, size, tags, platforms",
)
async def list_artifacts(
    c: Ctx,
    name: ProjectPath,
    repository: RepositoryPath,
    request: Request,
    response: Response,
    page: Paging,
    q: Annotated[
        str | None,
        Query(
            max_length=128,
            pattern=NO_CONTROL,
            description="part of one of its tags (case ignored), or the start of its "
            "digest, with or without `sha256:`",
        ),
    ] = None,
    sort: Annotated[
        ArtifactSort,
        Query(
            description="`pushed`, `size`, `pulls` (the pull count), `pulled` (the last "
            "pull), ascending; `-pushed` (the default: the newest first), `-size`, "
            "`-pulls`, `-pulled` descending; never pulled last either way; ties by "
            "digest, the same way"
        ),
    ] = "-pushed",
) -> list[ArtifactOut]:
    _, found, total = await c.services.repositories.artifacts(
        c.actor, name, repository, page, q or None, sort
    )
    platforms = await all_platforms(c.services.storage, found)
    paged(request, response, page, total)
    return [
        ArtifactOut(
            digest=a.digest,
            media_type=a.media_type,
            artifact_type=a.artifact_type,
            size=a.size,
            tags=list(a.tags),
            created_at=a.created_at,
            platforms=p,
            pull_count=a.pull_count,
            last_pulled_at=a.last_pulled_at,
        )
        for a, p in zip(found, platforms, strict=True)
    ]


@router.get(
    "/{repository:repository}/-/artifacts/{reference}",
    responses=errors(),
    openapi_extra=OPTIONAL,
    summary="One artifact by digest or tag: descriptors, platforms, tags, pulls, and the "
    "tree of its referrers (signatures, SBOMs and what refers to those)",
)
async def get_artifact(
    c: Ctx, name: ProjectPath, repository: RepositoryPath, reference: ReferencePath
) -> ArtifactDetailOut:
    detail = await c.services.repositories.artifact(c.actor, name, repository, reference)
    return await artifact_out(c.services.storage, detail)


@router.get(
    "/{repository:repository}/-/tags",
    responses=listing(),
    openapi_extra=OPTIONAL,
    summary="Tags of a repository with their manifest's digest, type, size and pulls",
)
async def list_tags(
    c: Ctx,
    name: ProjectPath,
    repository: RepositoryPath,
    request: Request,
    response: Response,
    page: Paging,
    q: Annotated[
        str | None,
        Query(max_length=128, pattern=NO_CONTROL, description="part of the tag (case ignored)"),
    ] = None,
    sort: Annotated[
        TagSort,
        Query(
            description="`name`, `updated` (when the tag moved), ascending; `-name`, "
            "`-updated` descending"
        ),
    ] = "-updated",
) -> list[TagOut]:
    found, total = await c.services.repositories.tags(
        c.actor, name, repository, q or None, sort, page
    )
    paged(request, response, page, total)
    return [
        TagOut(
            name=t.name,
            digest=t.digest,
            media_type=t.media_type,
            size=t.size,
            updated_at=t.updated_at,
            pushed_at=t.pushed_at,
            pull_count=t.pull_count,
            last_pulled_at=t.last_pulled_at,
        )
        for t in found
    ]


@router.delete(
    "/{repository:repository}/-/tags/{tag}",
    status_code=204,
    responses=errors(),
    summary="Delete a tag (maintainer and up); the artifact stays",
)
async def delete_tag(
    c: Ctx, name: ProjectPath, repository: RepositoryPath, tag: TagPath
) -> Response:
    await c.services.repositories.delete_tag(c.actor, name, repository, tag)
    return Response(status_code=204)


DigestPath = Annotated[
    str,
    Path(
        pattern=r"^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$",
        examples=["sha256:" + "0" * 64],
        description="an artifact's digest (not a tag)",
    ),
]


@router.delete(
    "/{repository:repository}/-/artifacts/{reference}",
    status_code=204,
    responses=errors(),
    summary="Delete an artifact with its tags (maintainer and up); its referrers stay",
)
async def delete_artifact(
    c: Ctx, name: ProjectPath, repository: RepositoryPath, reference: DigestPath
) -> Response:
    """By digest only (the path the GET of one artifact shares): a tag names an
    artifact for now, so deleting by tag is `DELETE …/-/tags/{tag}`."""
    await c.services.repositories.delete_artifact(c.actor, name, repository, reference)
    return Response(status_code=204)


@router.delete(
    "/{repository:repository}",
    status_code=204,
    responses=errors(),
    summary="Delete a repository with its artifacts and tags (maintainer and up)",
)
async def delete_repository(c: Ctx, name: ProjectPath, repository: RepositoryPath) -> Response:
    await c.services.repositories.delete(c.actor, name, repository)
    return Response(status_code=204)
